"""Related reads against a real BottleCRM: an account's quotes, invoices, cases and tasks by the
lists' `?account=` filter, its contacts by one scan of the contacts' list (that list has no such
filter); for three accounts in one call, and what a full read of each entity finds for them."""

from __future__ import annotations

import pytest

from koppel.connectors.base import scan_related
from koppel.connectors.bottlecrm import BottleCrmConnector
from tests.bottlecrm.test_stories import create, customer, n

pytestmark = pytest.mark.bottlecrm

RELATED = ("contact", "quote", "invoice", "case", "activity")


def documents(crm: BottleCrmConnector) -> str:
    account, contact = customer(crm)
    line = {"description": "Service", "quantity": "2", "unit_price": {"amount": "100", "currency": "EUR"}}
    create(crm, "quote", {"title": f"Offer {n()}", "account": account, "contact": contact,
                          "currency": "EUR", "lines": [line]})
    create(crm, "invoice", {"number": f"INV-ERP-{n()}", "account": account, "currency": "EUR",
                            "invoice_date": "2030-01-01", "due_date": "2030-01-31", "lines": [line]})
    create(crm, "case", {"subject": f"Broken {n()}", "kind": "complaint", "account": account})
    create(crm, "activity", {"subject": f"Call back {n()}", "account": account})
    return account


def test_each_account_document_is_found_by_its_account_for_three_accounts_at_once(
        crm: BottleCrmConnector) -> None:
    accounts = [documents(crm) for _ in range(4)]
    for entity in RELATED:
        found = crm.read_related(entity, "account", accounts[:3])
        owners = sorted(str(getattr(r.record, "account", None)) for r in found)
        assert owners == sorted(accounts[:3]), entity
        assert sorted(r.id for r in found) == sorted(
            r.id for r in scan_related(crm, entity, "account", accounts[:3])), entity
        assert [r.record for r in found] == [r.record for r in crm.read(entity, [r.id for r in found])], entity


def test_ids_that_are_no_crm_ids_find_nothing(crm: BottleCrmConnector) -> None:
    assert crm.read_related("case", "account", ["42", "erp:7"]) == []
    assert crm.read_related("quote", "account", ["00000000-0000-4000-8000-000000000000"]) == []
