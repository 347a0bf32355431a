"""R1: ERP customers appear in the CRM; ERP-owned fields edited there are reverted and reported;
CRM-owned fields are never touched by the ERP."""

from __future__ import annotations

from koppel.connectors.base import WriteOp
from koppel.testing.builders import twin
from tests.scenarios.conftest import Coupled


def erp_customer(c: Coupled, n: int) -> str:
    values = {"name": f"Rheinwerk {n} GmbH", "vat_id": None, "email": f"info{n}@rheinwerk.example",
              "phone": "+49 221 100", "billing_address": {"street": f"Domstr. {n}", "postcode": "50667",
                                                          "city": "Köln", "country": "DE"},
              "postcode": "50667", "payment_term": "Net 30 days"}
    [outcome] = c.erp.write("account", [WriteOp("new", values)])
    assert outcome.ok, outcome.error
    return outcome.id or ""




def test_an_erp_customer_appears_in_the_crm_with_its_customer_number(coupled: Coupled) -> None:
    c = coupled
    erp_id = erp_customer(c, 1)
    number = c.erp.read("account", [erp_id])[0].record.number
    report = c.engine.sync(["account"])
    assert report.status == "ok", report.message
    crm = c.crm.read("account", [twin(c.store, erp_id)])[0].record
    assert (crm.name, crm.number, crm.postcode) == ("Rheinwerk 1 GmbH", number, "50667")
    assert crm.payment_term == "Net 30 days"
    assert c.engine.sync(["account"]).writes == 0


def test_an_erp_owned_field_edited_in_the_crm_is_reverted_and_reported(coupled: Coupled) -> None:
    c = coupled
    erp_id = erp_customer(c, 2)
    c.engine.sync(["account"])
    crm_id = twin(c.store, erp_id)
    [edit] = c.crm.write("account", [WriteOp("edit", {"name": "Renamed by sales", "industry": "grocery"}, crm_id)])
    assert edit.ok, edit.error
    report = c.engine.sync(["account"])
    assert report.total("reverted") == 1, dict(report.stats["account"])
    crm = c.crm.read("account", [crm_id])[0].record
    assert crm.name == "Rheinwerk 2 GmbH" and crm.industry == "grocery"
    [violation] = c.store.findings.violations()
    assert (violation.system, violation.field, violation.attempted) == ("crm", "name", "Renamed by sales")


def test_the_erp_never_overwrites_crm_owned_fields(coupled: Coupled) -> None:
    c = coupled
    erp_id = erp_customer(c, 3)
    c.engine.sync(["account"])
    crm_id = twin(c.store, erp_id)
    c.crm.write("account", [WriteOp("edit", {"industry": "manufacturing", "description": "Key account"}, crm_id)])
    c.engine.sync(["account"])
    c.erp.write("account", [WriteOp("rename", {"name": "Rheinwerk Drei GmbH"}, erp_id)])
    c.engine.sync(["account"])
    crm = c.crm.read("account", [crm_id])[0].record
    assert (crm.name, crm.industry, crm.description) == ("Rheinwerk Drei GmbH", "manufacturing", "Key account")
