"""R9 against the real Tryton and BottleCRM: posted invoices and a credit note in Tryton give
each CRM account its revenue per period, net of the credit note; customer value weighs in the
CRM's activities, and the A/B tiers land on the CRM accounts and survive the next sync."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from koppel import clock
from koppel.analytics.customer_value import ValueSettings, customer_value, push_tiers
from koppel.analytics.evolution import customer_evolution
from koppel.analytics.revenue import period_of, revenue_report
from koppel.model import SalesTarget
from tests.scenarios.conftest import Coupled
from tests.scenarios.test_r2_r5_r6_quote_to_order import crm_id, make, stock

pytestmark = [pytest.mark.tryton, pytest.mark.bottlecrm]


def invoiced_sale(c: Coupled, party: str, product: str, quantity: int, number: str) -> str:
    """A confirmed Tryton sale whose invoice is posted; the invoice id."""
    sale = make(c.erp, "quote", {"number": number, "account": party, "currency": "EUR",
                                 "lines": [{"product": product, "quantity": str(quantity)}]})
    [invoice] = c.erp.sale_documents(sale)["invoices"]
    c.erp.post_invoices([invoice])
    return invoice


def test_revenue_value_and_tiers_from_real_invoices(coupled: Coupled) -> None:
    c = coupled
    product = make(c.erp, "product", {"name": "Valve", "code": "AN-1", "unit": "u",
                                      "list_price": {"amount": "100", "currency": "EUR"},
                                      "cost_price": {"amount": "40", "currency": "EUR"}})
    stock(c, product)
    big, small = (make(c.erp, "account", {"name": name, "billing_address": {
        "street": "Markt 1", "postcode": "10115", "city": "Berlin", "country": "DE"}})
        for name in ("Big Buyer AG", "Small Shop KG"))
    c.engine.sync(["product", "account"])
    invoiced_sale(c, big, product, 2, "AN-Q1")
    second = invoiced_sale(c, big, product, 1, "AN-Q2")
    invoiced_sale(c, small, product, 1, "AN-Q3")
    c.erp.post_invoices(c.erp.credit([second]))  # the second invoice is credited in full
    today = clock.now().date()
    start, end = date(today.year, 1, 1), date(today.year, 12, 31)
    crm_big, crm_small = crm_id(c, "account", big), crm_id(c, "account", small)

    report = revenue_report(c.engine, start, end, by="account", period="month")
    rows = {r.key: r for r in report.rows}
    assert report.currency == "EUR" and set(rows) == {crm_big, crm_small}
    assert rows[crm_big].period == period_of(today, "month")
    # 2 × 90 + 1 × 90 invoiced (the price list takes 10 %), 90 credited
    assert (rows[crm_big].invoiced, rows[crm_big].credited, rows[crm_big].net) == (
        Decimal(270), Decimal(90), Decimal(180))
    assert rows[crm_small].net == Decimal(90) and rows[crm_small].name == "Small Shop KG"
    target = SalesTarget(owner="unassigned", period_start=start, period_end=end,
                         amount={"amount": "540", "currency": "EUR"})
    [owner] = revenue_report(c.engine, start, end, by="owner", period="year", targets=[target]).rows
    assert (owner.key, owner.net, owner.target, owner.attainment) == ("unassigned", Decimal(270), Decimal(540), 0.5)
    last_year = (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))
    assert [m.key for m in customer_evolution(c.engine, last_year, (start, end)).risers] == [crm_big, crm_small]

    for subject in ("Call about delivery", "Send catalogue"):
        make(c.crm, "activity", {"subject": subject, "account": crm_small})
    values = {v.key: v for v in customer_value(c.engine, start, end, ValueSettings(task_rate=Decimal(10), a_share=0.5, b_share=0.5))}
    assert (values[crm_big].cost_of_goods, values[crm_big].value, values[crm_big].tier) == (
        Decimal(80), Decimal(100), "A")
    assert (values[crm_small].tasks, values[crm_small].value, values[crm_small].tier) == (2, Decimal(30), "B")
    pushed = push_tiers(c.engine, list(values.values()))
    assert pushed.written == 2 and not pushed.errors
    c.engine.sync()
    shown = {r.id: r.record.value_tier for r in c.crm.read("account", [crm_big, crm_small])}
    assert shown == {crm_big: "A", crm_small: "B"}
