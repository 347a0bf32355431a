"""Stories against a real Tryton: accepted CRM quotes become ERP-priced sales (R5) whose order
facts flow back (R6), and a customer's finance facts follow its invoices and payments (R8).

Scenario: the engine hands an accepted quote to Tryton; the connector creates the sale at the
ERP's price-list prices, quotes and confirms it; shipping and invoicing show up as changes of
the quote. Then a customer is invoiced, pays part, gets a credit note and a dunning, and each
step shows up as a change of the account with its open, overdue and revenue figures.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from koppel import clock
from koppel.connectors.base import WriteOp
from koppel.connectors.tryton import TrytonConnector
from koppel.errors import RecordError
from koppel.model import Account, Quote
from tests.tryton.test_stories import _customer, _drain, _n, _one, _stock

pytestmark = pytest.mark.tryton


def _money(value: Any) -> Decimal:
    assert value is not None
    return Decimal(value.amount)


def _quote(erp: TrytonConnector, account: str, product: str, quantity: str = "3") -> dict[str, Any]:
    return {"number": f"Q-{_n()}", "title": "Pumps for the new plant", "account": account,
            "status": "accepted", "currency": "EUR",
            "lines": [{"product": product, "quantity": quantity, "description": "Pump",
                       "unit_price": {"amount": "999", "currency": "EUR"}}]}


def test_an_accepted_quote_becomes_a_confirmed_sale_priced_by_the_erp(erp: TrytonConnector) -> None:
    account, _, product = _customer(erp)  # list price 90, the "Sales" price list takes 10 % off
    _stock(erp, product, 10)
    _, cursor = _drain(erp, "quote", None)
    values = _quote(erp, account, product)
    sale = _one(erp, "quote", values)
    [got] = erp.read("quote", [sale])
    quote = got.record
    assert isinstance(quote, Quote)
    assert (quote.number, quote.title, quote.account, quote.status) == (
        values["number"], "Pumps for the new plant", account, "accepted")
    assert quote.order_number and quote.order_status in ("confirmed", "processing")
    assert [(line.product, str(line.quantity), _money(line.unit_price)) for line in quote.lines] == [
        (product, "3", Decimal(81))], "priced from the ERP price list, not the CRM's 999"
    assert quote.erp_link and quote.erp_link.endswith(f"/model/sale.sale/{sale}")
    assert erp.find("quote", [{"number": values["number"]}]) == [sale]
    [order] = erp.read("order", [sale])
    assert order.record.model_dump()["number"] == quote.order_number
    seen, cursor = _drain(erp, "quote", cursor)
    assert seen == [sale]

    docs = erp.sale_documents(sale)
    erp.ship(docs["shipments"])
    erp.post_invoices(docs["invoices"])
    seen, cursor = _drain(erp, "quote", cursor)
    assert seen == [sale], "shipping and invoicing change the quote"
    [after] = erp.read("quote", seen)
    assert isinstance(after.record, Quote)
    assert (after.record.shipment_status, after.record.invoice_status) == ("sent", "awaiting payment")
    assert after.record.planned_ship_date is not None
    erp.pay(docs["invoices"][0])
    seen, _ = _drain(erp, "quote", cursor)
    assert seen == [sale] and erp.read("quote", [sale])[0].record.model_dump()["invoice_status"] == "paid"

    [late] = erp.write("quote", [WriteOp("late", {"lines": values["lines"]}, sale)])
    assert isinstance(late.error, RecordError) and "only in draft or quotation" in late.error.message


def test_a_quote_in_quotation_takes_new_lines_repriced(erp: TrytonConnector) -> None:
    account, _, product = _customer(erp)
    number = f"Q-{_n()}"
    sale = _one(erp, "order", {"account": account, "reference": number,
                               "lines": [{"product": product, "quantity": "1"}]})
    erp.quote([sale])
    [outcome] = erp.write("quote", [WriteOp("u", {"lines": [
        {"product": product, "quantity": "5", "unit_price": {"amount": "1", "currency": "EUR"}},
        {"description": "Installation", "quantity": "1",
         "unit_price": {"amount": "120", "currency": "EUR"}}]}, sale)])
    assert outcome.ok, outcome.error
    [got] = erp.read("quote", [sale])
    assert got.record.model_dump()["order_status"] == "quotation"
    assert [(str(li.quantity), _money(li.unit_price)) for li in got.record.lines] == [
        ("5", Decimal(90)), ("1", Decimal(120))], "the sale's own prices (it has no price list)"
    assert erp.read("quote", [_one(erp, "order", {"account": account, "lines": []})]) == [], (
        "a sale without a reference was not handed over from a quote")


def _invoice(erp: TrytonConnector, account: str, product: str, quantity: str, on: date,
             terms_from: date | None = None) -> str:
    """A posted customer invoice dated `on`, due 14 days after `terms_from` (default: `on`).

    Invoice numbers follow invoice dates, so a past maturity comes from the payment-term date
    rather than from a back-dated invoice."""
    sale = _one(erp, "order", {"account": account, "payment_term": "Net 14 days",
                               "lines": [{"product": product, "quantity": quantity}]})
    erp.quote([sale])
    erp.confirm([sale])
    [invoice] = erp.sale_documents(sale)["invoices"]
    erp.client.model("account.invoice", "write", [int(invoice)],
                     {"invoice_date": on, "payment_term_date": terms_from or on})
    erp.post_invoices([invoice])
    return invoice


def _account(erp: TrytonConnector, cursor: str | None, account: str) -> tuple[Account, str | None]:
    seen, cursor = _drain(erp, "account", cursor)
    assert seen == [account]
    [got] = erp.read("account", seen)
    assert isinstance(got.record, Account)
    return got.record, cursor


def test_invoices_payments_and_credit_notes_move_the_finance_facts(erp: TrytonConnector) -> None:
    account, _, product = _customer(erp)
    today = clock.now().date()
    [fresh] = erp.read("account", [account])
    assert (_money(fresh.record.open_amount), fresh.record.dunning_level) == (Decimal(0), None)
    _, cursor = _drain(erp, "account", None)

    overdue = _invoice(erp, account, product, "2", today, today - timedelta(days=30))  # 180 + 19 %
    facts, cursor = _account(erp, cursor, account)
    assert (_money(facts.open_amount), _money(facts.overdue_amount)) == (Decimal("214.2"),) * 2
    assert _money(facts.revenue_this_year) == 180
    [party] = erp.client.model("party.party", "read", [int(account)], ["receivable"])
    assert Decimal(party["receivable"]) == Decimal("214.2"), "agrees with Tryton's receivable"

    erp.pay(overdue, Decimal(100))
    facts, cursor = _account(erp, cursor, account)
    assert (_money(facts.open_amount), _money(facts.overdue_amount)) == (Decimal("114.2"),) * 2

    _invoice(erp, account, product, "1", today)  # due in 14 days: open, not overdue
    _invoice(erp, account, product, "10", date(today.year - 1, 6, 30))
    facts, cursor = _account(erp, cursor, account)
    assert _money(facts.open_amount) == Decimal("114.2") + Decimal("107.1") + Decimal(1071)
    assert _money(facts.overdue_amount) == Decimal("114.2") + Decimal(1071)
    assert (_money(facts.revenue_this_year), _money(facts.revenue_last_year)) == (270, 900)

    [credit] = erp.credit([overdue])
    erp.post_invoices([credit])
    facts, cursor = _account(erp, cursor, account)
    assert _money(facts.revenue_this_year) == 90, "the credit note takes its invoice back"
    assert _money(facts.open_amount) == Decimal("114.2") + Decimal("107.1") + Decimal(1071) - Decimal(
        "214.2")

    [lines] = erp.client.model("account.invoice", "read", [int(overdue)], ["lines_to_pay"])
    procedure = (erp.settings.setup or {})["dunning_procedure"]
    erp.client.model("account.dunning", "create", [{
        "company": erp.lookups.company, "line": lines["lines_to_pay"][0],
        "procedure": procedure["id"], "level": procedure["levels"][1]["id"]}])
    facts, _ = _account(erp, cursor, account)
    assert facts.dunning_level == "1@Standard"
    assert erp.read("invoice", [overdue])[0].record.model_dump()["dunning_level"] == "1@Standard"
