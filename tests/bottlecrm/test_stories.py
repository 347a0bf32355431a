"""Stories against a real BottleCRM: ERP data lands in custom fields, cases, tasks and invoice
copies round-trip, the next incremental read sees exactly what changed or went away, and a
record the CRM rejects carries BottleCRM's own message."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from koppel.connectors.base import WriteOp
from koppel.connectors.bottlecrm import BottleCrmConnector
from koppel.errors import RecordError

pytestmark = pytest.mark.bottlecrm


def n() -> str:
    return uuid.uuid4().hex[:10]


def create(crm: BottleCrmConnector, entity: str, values: dict[str, Any]) -> str:
    [outcome] = crm.write(entity, [WriteOp("k", values)])
    assert outcome.ok and outcome.id, outcome.error
    return outcome.id


def read(crm: BottleCrmConnector, entity: str, record_id: str) -> dict[str, Any]:
    [record] = crm.read(entity, [record_id])
    return record.record.model_dump(mode="json")


def drain(crm: BottleCrmConnector, entity: str, cursor: str | None) -> tuple[list[str], list[str], str]:
    ids: list[str] = []
    deleted: list[str] = []
    last = cursor or ""
    for batch in crm.read_changes(entity, cursor, batch_size=20):
        ids += [r.id for r in batch.records]
        deleted += batch.deleted
        last = batch.cursor
    return ids, deleted, last


def customer(crm: BottleCrmConnector) -> tuple[str, str]:
    account = create(crm, "account", {"name": f"Kunde {n()} GmbH", "currency": "EUR"})
    contact = create(crm, "contact", {"first_name": "Eva", "last_name": "Muster", "account": account,
                                      "email": f"eva-{n()}@example.com"})
    return account, contact


def test_erp_finance_facts_round_trip_through_account_custom_fields(crm: BottleCrmConnector) -> None:
    values = {"name": f"Stahlwerk {n()} AG", "number": f"C-{n()}", "vat_id": f"DE{n()}",
              "currency": "EUR", "payment_term": "Net 30 days", "dunning_level": "2", "value_tier": "A",
              "credit_limit": {"amount": "25000", "currency": "EUR"},
              "open_amount": {"amount": "1234.56", "currency": "EUR"},
              "overdue_amount": {"amount": "0.1", "currency": "EUR"},
              "revenue_this_year": {"amount": "99999.99", "currency": "EUR"},
              "revenue_last_year": {"amount": "120000", "currency": "EUR"},
              "industry": "manufacturing",
              "billing_address": {"street": "Hauptstr. 1", "postcode": "10115", "city": "Berlin",
                                  "country": "DE", "state": None}}
    account = create(crm, "account", values)
    got = read(crm, "account", account)
    assert {k: got[k] for k in values} == values
    assert got["status"] == "customer" and got["postcode"] == "10115"
    assert crm.find("account", [{"number": values["number"]}, {"vat_id": values["vat_id"]},
                                {"name": values["name"], "postcode": "10115"}]) == [account] * 3
    crm.write("account", [WriteOp("u", {"open_amount": {"amount": "10.5", "currency": "EUR"},
                                        "vat_id": None}, account)])
    after = read(crm, "account", account)
    assert after["open_amount"] == {"amount": "10.5", "currency": "EUR"} and after["vat_id"] is None
    assert after["credit_limit"] == values["credit_limit"]  # PATCH merges custom fields


def test_account_without_erp_number_is_a_prospect(crm: BottleCrmConnector) -> None:
    account = create(crm, "account", {"name": f"Interessent {n()}"})
    assert read(crm, "account", account)["status"] == "prospect"


def test_quote_carries_order_facts_written_back_by_the_erp(crm: BottleCrmConnector) -> None:
    account, contact = customer(crm)
    product = create(crm, "product", {"name": "Widget", "code": f"W-{n()}",
                                      "list_price": {"amount": "50.5", "currency": "EUR"}})
    quote = create(crm, "quote", {"title": "500 widgets", "account": account, "contact": contact,
                                  "currency": "EUR", "lines": [{"product": product, "quantity": "500",
                                  "description": "Widget", "unit_price": {"amount": "50.5", "currency": "EUR"}}]})
    before = read(crm, "quote", quote)
    assert before["number"].startswith("EST-") and before["status"] == "draft"
    facts = {"order_number": "SO-1001", "order_status": "confirmed", "shipment_status": "partial",
             "invoice_status": "none", "planned_ship_date": "2030-01-15", "erp_link": "https://erp/so/1"}
    [outcome] = crm.write("quote", [WriteOp("u", facts, quote)])
    assert outcome.ok, outcome.error
    after = read(crm, "quote", quote)
    assert {k: after[k] for k in facts} == facts
    assert after["lines"] == before["lines"] and after["lines"][0]["product"] == product
    assert crm.find("quote", [{"number": before["number"]}]) == [quote]


def test_complaint_case_round_trip(crm: BottleCrmConnector) -> None:
    account, contact = customer(crm)
    values = {"subject": "Broken widget", "kind": "complaint", "account": account, "contact": contact,
              "status": "new", "priority": "high", "description": "arrived bent",
              "number": f"R-{n()}", "erp_state": "open"}
    case = create(crm, "case", values)
    assert {k: v for k, v in read(crm, "case", case).items() if k in values} == values
    crm.write("case", [WriteOp("u", {"kind": "warranty", "erp_state": "approved", "status": "closed"}, case)])
    after = read(crm, "case", case)
    assert (after["kind"], after["erp_state"], after["status"]) == ("warranty", "approved", "closed")


def test_task_activity_round_trip(crm: BottleCrmConnector) -> None:
    account, _ = customer(crm)
    values = {"subject": f"Call back {n()}", "account": account, "at": "2030-03-01T00:00:00Z", "done": False}
    task = create(crm, "activity", values)
    got = read(crm, "activity", task)
    assert got["subject"] == values["subject"] and got["account"] == account and got["kind"] == "task"
    assert got["at"].startswith("2030-03-01")
    crm.write("activity", [WriteOp("u", {"done": True}, task)])
    assert read(crm, "activity", task)["done"] is True


def test_erp_invoice_copy_is_shown_in_the_crm(crm: BottleCrmConnector) -> None:
    account, _ = customer(crm)
    values = {"number": f"INV-ERP-{n()}", "account": account, "currency": "EUR",
              "invoice_date": "2030-01-01", "due_date": "2030-01-31",
              "lines": [{"description": "Service", "quantity": "2",
                         "unit_price": {"amount": "100", "currency": "EUR"}}]}
    invoice = create(crm, "invoice", values)
    got = read(crm, "invoice", invoice)
    assert {k: got[k] for k in ("number", "account", "invoice_date", "due_date")} == {
        k: values[k] for k in ("number", "account", "invoice_date", "due_date")}
    assert got["total"] == {"amount": "200", "currency": "EUR"} and got["state"] == "draft"


@pytest.mark.parametrize("entity", ["account", "case", "activity", "quote"])
def test_change_and_delete_seen_by_next_incremental_read(crm: BottleCrmConnector, entity: str) -> None:
    account, contact = customer(crm)
    make = {"account": lambda: {"name": f"Firma {n()}"},
            "case": lambda: {"subject": f"Case {n()}", "account": account},
            "activity": lambda: {"subject": f"Task {n()}", "account": account},
            "quote": lambda: {"title": f"Q {n()}", "account": account, "contact": contact}}[entity]
    change = {"account": {"vat_id": f"NL{n()}"}, "case": {"erp_state": "received"},
              "activity": {"done": True}, "quote": {"title": f"Retitled {n()}"}}[entity]
    changed, gone, _quiet = (create(crm, entity, make()) for _ in range(3))
    _, _, cursor = drain(crm, entity, None)
    assert drain(crm, entity, cursor)[:2] == ([], [])
    crm.write(entity, [WriteOp("u", change, changed)])
    assert crm.delete(entity, [gone])[0].ok
    seen, deleted, cursor = drain(crm, entity, cursor)
    assert (seen, deleted) == ([changed], [gone])
    assert drain(crm, entity, cursor)[:2] == ([], [])


def test_record_the_crm_rejects_carries_its_own_message(crm: BottleCrmConnector) -> None:
    name = f"Doppelt {n()} GmbH"
    create(crm, "account", {"name": name})
    bad = crm.write("account", [WriteOp("dup", {"name": name}),
                                WriteOp("cf", {"name": f"X {n()}", "value_tier": "Z"})])
    assert all(isinstance(o.error, RecordError) for o in bad)
    assert bad[0].error is not None and "Account already exists with this name" in bad[0].error.message
    assert bad[1].error is not None and "must be one of" in bad[1].error.message


def test_duplicate_sku_is_a_record_error_not_a_retry(crm: BottleCrmConnector) -> None:
    code = f"DUP-{n()}"
    create(crm, "product", {"name": "One", "code": code})
    [outcome] = crm.write("product", [WriteOp("again", {"name": "Two", "code": code})])
    assert isinstance(outcome.error, RecordError) and "already exists" in outcome.error.message


def test_find_contact_by_email_ignores_case(crm: BottleCrmConnector) -> None:
    _, contact = customer(crm)
    email = read(crm, "contact", contact)["email"]
    assert crm.find("contact", [{"email": email.upper()}, {"email": "nobody@example.com"}]) == [contact, None]
