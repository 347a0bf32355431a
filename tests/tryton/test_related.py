"""Related reads against a real Tryton: one account's documents found by a domain on the
account (`party in ids`), for several accounts in one call, and exactly what a full read of
each entity would have found for them."""

from __future__ import annotations

import pytest

from koppel.connectors.base import scan_related
from koppel.connectors.tryton import TrytonConnector
from tests.tryton.test_stories import _customer, _n, _one, _stock

pytestmark = pytest.mark.tryton

RELATED = ("contact", "order", "quote", "shipment", "invoice", "payment", "case")


def _documents(erp: TrytonConnector) -> str:
    """A customer with a contact, a confirmed sale handed over from a quote (so also a quote),
    its shipment, its posted and paid invoice, and a complaint about it."""
    account, _, product = _customer(erp)
    _stock(erp, product, 5)
    sale = _one(erp, "order", {"account": account, "reference": f"Q-{_n()}",
                               "lines": [{"product": product, "quantity": "1"}]})
    erp.quote([sale])
    erp.confirm([sale])
    [invoice] = erp.sale_documents(sale)["invoices"]
    erp.post_invoices([invoice])
    erp.pay(invoice)
    _one(erp, "case", {"subject": "Pump leaks", "account": account, "order": sale, "kind": "complaint"})
    return account


def test_each_account_document_is_found_by_its_account_for_three_accounts_at_once(
        erp: TrytonConnector) -> None:
    accounts = [_documents(erp) for _ in range(4)]
    for entity in RELATED:
        found = erp.read_related(entity, "account", accounts[:3])
        owners = [str(getattr(r.record, "account", None)) for r in found]
        assert sorted(set(owners)) == sorted(accounts[:3]), entity
        assert sorted(r.id for r in found) == sorted(
            r.id for r in scan_related(erp, entity, "account", accounts[:3])), entity
        assert accounts[3] not in owners
    assert len(erp.read_related("invoice", "account", accounts)) == 4
    assert erp.read_related("order", "account", ["999999"]) == []


def test_a_payment_is_found_by_its_invoice_and_an_unmapped_field_by_a_scan(erp: TrytonConnector) -> None:
    account = _documents(erp)
    [invoice] = erp.read_related("invoice", "account", [account])
    [payment] = erp.read_related("payment", "invoice", [invoice.id])
    assert getattr(payment.record, "account", None) == account
    [order] = erp.read_related("order", "account", [account])
    assert [r.id for r in erp.read_related("invoice", "order", [order.id])] == [invoice.id]
