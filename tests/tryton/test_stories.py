"""Stories against a real Tryton: a customer's records, the order-to-cash flow, change capture.

Scenario: koppel writes a customer with a contact person and a product to Tryton, creates a
sale, which Tryton quotes, confirms, ships and invoices; koppel then reads the order, the
shipment, the invoice and a credit note back as canonical records.
"""

from __future__ import annotations

import os
import time
from decimal import Decimal
from typing import Any

import pytest

from koppel.connectors.base import WriteOp
from koppel.connectors.tryton import TrytonConnector, create
from koppel.errors import RecordError, UsageError
from koppel.model import Account, Case, Contact, CreditNote, Invoice, Order, Product, Shipment
from tests.tryton.conftest import settings_of

pytestmark = pytest.mark.tryton

_counter = iter(range(1, 10**6))


def _n() -> int:
    return next(_counter) * 1000 + os.getpid() % 1000


def _one(connector: TrytonConnector, entity: str, values: dict[str, Any]) -> str:
    [outcome] = connector.write(entity, [WriteOp("k", values)])
    assert outcome.ok, outcome.error
    assert outcome.id
    return outcome.id


def _customer(erp: TrytonConnector) -> tuple[str, str, str]:
    n = _n()
    account = _one(erp, "account", {
        "name": f"Müller Maschinenbau {n}", "vat_id": "DE123456788", "email": f"info{n}@mm.test",
        "phone": "+49 89 1234", "website": "https://mm.test", "payment_term": "Net 14 days",
        "currency": "EUR", "credit_limit": {"amount": "5000.00", "currency": "EUR"},
        "billing_address": {"street": "Werkstr. 5", "postcode": "80331", "city": "München",
                            "country": "DE"}})
    contact = _one(erp, "contact", {"first_name": "Eva", "last_name": f"Berg {n}",
                                    "email": f"eva{n}@mm.test", "account": account,
                                    "invoice_recipient": True})
    product = _one(erp, "product", {"name": f"Pump {n}", "code": f"PUMP-{n}", "unit": "u",
                                    "list_price": {"amount": "90.00", "currency": "EUR"},
                                    "cost_price": {"amount": "40", "currency": "EUR"}})
    return account, contact, product


def _stock(erp: TrytonConnector, product: str, quantity: int) -> None:
    setup = erp.settings.setup or {}
    location = setup["storage_location"]
    [inventory] = erp.client.model("stock.inventory", "create", [{
        "location": location, "lines": [["create", [{"product": int(product),
                                                       "quantity": float(quantity)}]]]}])
    erp.client.model("stock.inventory", "confirm", [inventory])


def test_a_customer_round_trips_with_its_contact_and_product(erp: TrytonConnector) -> None:
    account, contact, product = _customer(erp)
    [acc] = erp.read("account", [account])
    assert isinstance(acc.record, Account)
    assert acc.record.number, "Tryton assigns the customer number"
    assert acc.record.vat_id == "DE123456788" and acc.record.payment_term == "Net 14 days"
    assert acc.record.billing_address and acc.record.billing_address.city == "München"
    assert acc.record.credit_limit and acc.record.credit_limit.amount == Decimal(5000)
    assert acc.record.website == "https://mm.test" and acc.record.status == "customer"
    [person] = erp.read("contact", [contact])
    assert isinstance(person.record, Contact)
    assert (person.record.first_name, person.record.account) == ("Eva", account)
    assert person.record.invoice_recipient is True
    [item] = erp.read("product", [product])
    assert isinstance(item.record, Product) and item.record.unit == "u" and item.record.active
    assert erp.find("account", [{"number": acc.record.number}, {"vat_id": "DE123456788"}])[0] == account
    assert erp.find("contact", [{"email": person.record.email}]) == [contact]
    assert erp.find("product", [{"code": item.record.code}]) == [product]
    assert erp.read("account", [contact]) == [], "a contact person is not an account"


def test_a_read_of_some_fields_holds_them_as_the_full_read_does(erp: TrytonConnector) -> None:
    """What verification reads back: only the fields written, and the same values as a full read
    of them; the company-dependent fields and the finance facts are not asked of Tryton."""
    account, contact, _ = _customer(erp)
    calls: list[tuple[str, str, tuple[Any, ...]]] = []
    send = erp.client.model

    def counted(model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((model, method, args))
        return send(model, method, *args, **kwargs)

    written = {"name", "email", "billing_address", "postcode"}
    erp.client.model = counted  # type: ignore[method-assign]
    try:
        [some] = erp.read_fields("account", [account], written)
    finally:
        del erp.client.model
    [full] = erp.read("account", [account])
    assert {f: getattr(some.record, f) for f in written} == {f: getattr(full.record, f) for f in written}
    assert full.record.payment_term == "Net 14 days" and some.record.payment_term is None
    assert [m for m, _, _ in calls] == ["party.party"], "no finance facts read"
    assert "customer_payment_term" not in calls[0][2][-1]
    person_fields = {"first_name", "last_name", "email", "account", "invoice_recipient"}
    [person] = erp.read_fields("contact", [contact], person_fields)
    [whole] = erp.read("contact", [contact])
    assert {f: getattr(person.record, f) for f in person_fields} == {f: getattr(whole.record, f) for f in person_fields}
    assert erp.read_fields("account", [contact], written) == [], "a contact person is not an account"
    [facts] = erp.read_fields("account", [account], {"name", "open_amount"})
    assert facts.record.open_amount == full.record.open_amount


def test_a_natural_key_finds_the_one_record_that_holds_all_its_values(erp: TrytonConnector) -> None:
    n = _n()
    berlin = _one(erp, "account", {"name": f"Twin {n}", "postcode": "10115"})
    munich = _one(erp, "account", {"name": f"Twin {n}", "postcode": "80331"})
    assert erp.find("account", [{"name": f"Twin {n}", "postcode": "80331"}, {"name": f"Twin {n}"},
                                {"name": f"Twin {n}", "postcode": "10115"}, {"name": f"Twin {n}", "postcode": "99999"},
                                {"name": f"Twin {n} Other", "postcode": "10115"}]) == [munich, None, berlin, None, None]


def test_a_street_entered_in_parts_reads_as_tryton_shows_it(erp: TrytonConnector) -> None:
    """koppel reads an address's unstructured street, which costs Tryton nothing to give; a
    street a user entered in parts (name, building number) reads as Tryton formats it."""
    account, _, _ = _customer(erp)
    [plain] = erp.read("account", [account])
    assert plain.record.billing_address and plain.record.billing_address.street == "Werkstr. 5"
    [address] = erp.client.model("party.address", "search", [("party", "=", int(account))], 0, None, None)
    erp.client.model("party.address", "write", [address], {"street_name": "Hafenweg", "building_number": "12"})
    [shown] = erp.client.model("party.address", "read", [address], ["street"])
    assert "Hafenweg" in shown["street"] and "12" in shown["street"]
    [parts] = erp.read("account", [account])
    [some] = erp.read_fields("account", [account], {"billing_address"})
    assert parts.record.billing_address and parts.record.billing_address.street == shown["street"]
    assert some.record.billing_address == parts.record.billing_address


def test_a_new_customer_without_terms_gets_trytons_defaults(erp: TrytonConnector) -> None:
    """A create leaves a company-dependent field with no value out, so Tryton applies its own
    default; an update to no value clears it."""
    [made] = erp.write("account", [WriteOp("a", {"name": f"No terms {_n()}", "payment_term": None,
                                                 "currency": None, "credit_limit": None})])
    [row] = erp.client.model("party.party", "read", [int(made.id or 0)],
                             ["customer_payment_term", "credit_limit_amount"])
    default = erp.lookups.goods.default_payment_term
    assert row["customer_payment_term"] == default and row["credit_limit_amount"] is None

    [changed] = erp.write("account", [WriteOp("a", {"payment_term": "Net 14 days"}, id=made.id)])
    assert changed.ok and erp.read("account", [made.id or ""])[0].record.payment_term == "Net 14 days"


def test_a_record_tryton_rejects_carries_trytons_own_message(erp: TrytonConnector) -> None:
    good = {"name": f"Good {_n()}"}
    outcomes = erp.write("account", [WriteOp("bad", {"name": "Bad", "vat_id": "DE000"}),
                                     WriteOp("good", good)])
    assert isinstance(outcomes[0].error, RecordError)
    assert 'The European VAT Number "DE000"' in outcomes[0].error.message
    assert outcomes[1].ok


def test_a_sale_goes_from_draft_to_shipped_and_invoiced(erp: TrytonConnector) -> None:
    account, _, product = _customer(erp)
    _stock(erp, product, 20)
    order = _one(erp, "order", {
        "account": account, "reference": f"Q-{_n()}", "payment_term": "Net 30 days",
        "lines": [{"product": product, "quantity": "3"},
                  {"product": product, "quantity": "1", "unit_price": {"amount": "80", "currency": "EUR"},
                   "description": "Spare pump"}]})
    [draft] = erp.read("order", [order])
    assert isinstance(draft.record, Order) and draft.record.state == "draft"
    assert [str(line.quantity) for line in draft.record.lines] == ["3", "1"]
    assert draft.record.total and draft.record.total.amount == Decimal("416.50")  # 350 + 19 %
    erp.quote([order])
    erp.confirm([order])
    docs = erp.sale_documents(order)
    assert len(docs["shipments"]) == 1 and len(docs["invoices"]) == 1
    erp.ship(docs["shipments"])
    erp.post_invoices(docs["invoices"])
    [shipment] = erp.read("shipment", docs["shipments"])
    assert isinstance(shipment.record, Shipment)
    assert (shipment.record.state, shipment.record.order, shipment.record.account) == (
        "done", order, account)
    [invoice] = erp.read("invoice", docs["invoices"])
    assert isinstance(invoice.record, Invoice) and invoice.record.state == "posted"
    assert invoice.record.number and invoice.record.order == order and invoice.record.due_date
    assert invoice.record.amount_to_pay and invoice.record.amount_to_pay.amount == Decimal("416.5")
    [sold] = erp.read("order", [order])
    assert (sold.record.state, sold.record.shipment_state) == ("processing", "sent")
    assert sold.record.number and erp.find("order", [{"number": sold.record.number}]) == [order]
    erp.pay(docs["invoices"][0])
    [paid] = erp.read("invoice", docs["invoices"])
    assert paid.record.state == "paid"
    assert erp.read("order", [order])[0].record.state == "done"


def test_crediting_an_invoice_gives_a_credit_note(erp: TrytonConnector) -> None:
    account, _, product = _customer(erp)
    _stock(erp, product, 5)
    order = _one(erp, "order", {"account": account, "lines": [{"product": product, "quantity": "2"}]})
    erp.quote([order])
    erp.confirm([order])
    invoices = erp.sale_documents(order)["invoices"]
    erp.post_invoices(invoices)
    [credit] = erp.credit(invoices)
    assert erp.read("invoice", [credit]) == [], "a credit note is not an invoice"
    [note] = erp.read("credit_note", [credit])
    assert isinstance(note.record, CreditNote)
    assert note.record.invoice == invoices[0] and note.record.account == account
    assert note.record.total and note.record.total.amount == Decimal("-214.2")


def test_a_complaint_about_an_order(erp: TrytonConnector) -> None:
    account, _, product = _customer(erp)
    order = _one(erp, "order", {"account": account, "lines": [{"product": product, "quantity": "1"}]})
    erp.quote([order])
    erp.confirm([order])  # Tryton accepts complaints about confirmed sales only
    case = _one(erp, "case", {"subject": "Pump leaks", "description": "Seal broken",
                              "account": account, "order": order, "kind": "complaint"})
    erp.complaint_step([case], "wait")
    [got] = erp.read("case", [case])
    assert isinstance(got.record, Case)
    assert (got.record.subject, got.record.description, got.record.order) == (
        "Pump leaks", "Seal broken", order)
    assert got.record.erp_state == "waiting" and got.record.number
    [outcome] = erp.write("case", [WriteOp("c", {"subject": "No order", "account": account})])
    assert isinstance(outcome.error, RecordError)


def _drain(erp: TrytonConnector, entity: str, cursor: str | None) -> tuple[list[str], str | None]:
    ids: list[str] = []
    for batch in erp.read_changes(entity, cursor, batch_size=50):
        ids += [r.id for r in batch.records]
        cursor = batch.cursor
    return ids, cursor


def _deleted(erp: TrytonConnector, entity: str, cursor: str | None) -> tuple[list[str], list[list[int]]]:
    """The ids a read of changes since `cursor` says are gone, and the logs each pinning call asked about."""
    gone: list[str] = []
    pins: list[list[int]] = []
    send = erp.client.model

    def counted(model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if (model, method) == ("ir.model.log", "search"):
            pins.append(next(c[2] for c in args[0] if c[0] == "id"))
        return send(model, method, *args, **kwargs)

    erp.client.model = counted  # type: ignore[method-assign]
    try:
        for batch in erp.read_changes(entity, cursor, batch_size=50):
            gone += batch.deleted
    finally:
        del erp.client.model
    return gone, pins


def test_a_delete_is_pinned_to_its_record_once(erp: TrytonConnector) -> None:
    """Tryton's delete log names the record only in a search, so each new log is pinned to its
    id by halving the candidates; a log pinned once is not pinned again: not by the contact
    persons' read of the same window (the same model), nor by the next read."""
    first, person, _ = _customer(erp)
    second, _, _ = _customer(erp)
    _, accounts = _drain(erp, "account", None)
    _, contacts = _drain(erp, "contact", None)
    assert erp.delete("contact", [person])[0].ok and erp.delete("account", [first])[0].ok
    gone, pins = _deleted(erp, "account", accounts)
    assert {first, person} <= set(gone) and pins and len(pins[0]) >= 2
    gone, pins = _deleted(erp, "contact", contacts)
    assert {first, person} <= set(gone) and pins == [], "the same logs, pinned already"
    assert erp.delete("account", [second])[0].ok
    gone, pins = _deleted(erp, "account", accounts)
    assert {first, person, second} <= set(gone) and len(pins[0]) == 1, "only the new log is pinned"


def test_incremental_reads_see_exactly_the_changed_records(erp: TrytonConnector) -> None:
    account, contact, product = _customer(erp)
    other, _, _ = _customer(erp)
    _, cursor = _drain(erp, "account", None)
    assert _drain(erp, "account", cursor)[0] == []
    [address] = erp.client.model("party.address", "search", [("party", "=", int(account))], 0, 1, None)
    erp.client.model("party.address", "write", [address], {"city": "Augsburg"})
    seen, cursor = _drain(erp, "account", cursor)
    assert seen == [account], "an address change bumps its party"
    assert erp.read("account", [account])[0].record.postcode == "80331"
    erp.write("account", [WriteOp("u", {"phone": "+49 89 9999"}, other)])
    seen, cursor = _drain(erp, "account", cursor)
    assert seen == [other]
    _, product_cursor = _drain(erp, "product", None)
    erp.write("product", [WriteOp("p", {"list_price": {"amount": "99", "currency": "EUR"}}, product)])
    assert _drain(erp, "product", product_cursor)[0] == [product], "a template change bumps the product"
    assert _drain(erp, "account", cursor)[0] == []
    _, contact_cursor = _drain(erp, "contact", None)
    assert contact not in _drain(erp, "contact", contact_cursor)[0]
    erp.write("contact", [WriteOp("c", {"phone": "+49 89 5555"}, contact)])
    rows: list[dict[str, Any]] = []
    send = erp.client.model

    def kept(model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        found = send(model, method, *args, **kwargs)
        if model == "party.contact_mechanism":
            rows.extend(found)
        return found

    erp.client.model = kept  # type: ignore[method-assign]
    try:
        assert _drain(erp, "account", cursor)[0] == [], "a contact person's phone is no change of its company"
    finally:
        del erp.client.model
    assert int(contact) not in {row["party"] for row in rows}, "an account's read asks for accounts' rows only"
    assert _drain(erp, "contact", contact_cursor)[0] == [contact]


def _payment_term(erp: TrytonConnector, name: str, days: int) -> int:
    """A payment term made in Tryton by its own users, as its client does."""
    [term] = erp.client.model("account.invoice.payment_term", "create", [{
        "name": name, "lines": [["create", [{"type": "remainder",
                                             "relativedeltas": [["create", [{"days": days}]]]}]]]}])
    return int(term)


def test_a_payment_term_made_in_tryton_while_koppel_runs_is_known_without_a_restart(erp: TrytonConnector) -> None:
    """The lookups (payment terms, currencies, countries …) are loaded once per connector; a
    term made in Tryton later is not in them. A write that names it, and a read of a customer
    who has it, load them again once: the value is written and read as it is, not refused,
    and not read as no term."""
    account, _, _ = _customer(erp)  # the lookups are loaded
    n = _n()
    written = _payment_term(erp, f"Net 45 days {n}", 45)
    [outcome] = erp.write("account", [WriteOp("u", {"payment_term": f"Net 45 days {n}"}, account)])
    assert outcome.ok, outcome.error
    [row] = erp.client.model("party.party", "read", [int(account)], ["customer_payment_term"])
    assert row["customer_payment_term"] == written  # as Tryton holds it
    read = _payment_term(erp, f"Net 60 days {n}", 60)
    erp.client.model("party.party", "write", [int(account)], {"customer_payment_term": read})
    [record] = erp.read("account", [account])
    assert record.record.payment_term == f"Net 60 days {n}"
    [refused] = erp.write("account", [WriteOp("v", {"payment_term": f"Net 99 days {n}"}, account)])
    assert isinstance(refused.error, RecordError) and "no payment term" in refused.error.message


def test_products_are_read_without_the_category_new_products_would_get(erp: TrytonConnector,
                                                                      tryton: dict[str, Any]) -> None:
    """The product category is what a product koppel creates gets; reading the catalogue needs
    none. Where the category named cannot be found, products are still read, and only a product
    write stops, with the hint of what to name."""
    _, _, product = _customer(erp)
    elsewhere = create("erp", settings_of(tryton, product_category="No Such Category"))
    try:
        [read] = elsewhere.read("product", [product])
        assert read.record.unit == "u" and read.record.code and read.record.code.startswith("PUMP-")
        with pytest.raises(UsageError, match="No Such Category"):
            elsewhere.write("product", [WriteOp("p", {"name": "Valve", "code": f"VALVE-{_n()}", "unit": "u",
                                                      "list_price": {"amount": "10", "currency": "EUR"}})])
    finally:
        elsewhere.close()


def test_a_payment_term_renamed_in_tryton_is_read_by_its_new_name_once_the_lookups_expire(
        tryton: dict[str, Any]) -> None:
    """A renamed term keeps its id, so nothing is missing from the lookups: they are loaded again
    after `lookups_ttl`, and the next read (the nightly full batch at the latest) carries the
    name Tryton shows."""
    erp = create("erp", settings_of(tryton, lookups_ttl=0.5))
    try:
        account, _, _ = _customer(erp)
        n = _n()
        term = _payment_term(erp, f"Net 21 days {n}", 21)
        erp.client.model("party.party", "write", [int(account)], {"customer_payment_term": term})
        assert erp.read("account", [account])[0].record.payment_term == f"Net 21 days {n}"
        erp.client.model("account.invoice.payment_term", "write", [term], {"name": f"21 days net {n}"})
        time.sleep(0.6)
        assert erp.read("account", [account])[0].record.payment_term == f"21 days net {n}"
    finally:
        erp.close()
