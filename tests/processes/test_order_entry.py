"""R7 order entry against the real Tryton and BottleCRM: availability and lead times come from
the ERP and decide the proposed ship date; placing an order for a CRM prospect makes it an ERP
customer, and the Tryton order number and ship date appear on a CRM quote."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from koppel import clock
from koppel.processes.order_entry import OrderEntrySettings, availability, place_order
from tests.scenarios.conftest import Coupled
from tests.scenarios.test_r2_r5_r6_quote_to_order import crm_id, make, stock

pytestmark = [pytest.mark.tryton, pytest.mark.bottlecrm]
RULES = OrderEntrySettings(replenishment_days=10)


def catalogue(c: Coupled) -> tuple[str, str, str]:
    """A stocked product, one stocked with a 3-day lead time, one never stocked (ERP ids)."""
    ids = [make(c.erp, "product", {"name": name, "code": code, "unit": "u",
                                   "list_price": {"amount": "100", "currency": "EUR"}})
           for name, code in (("Gear motor", "OE-1"), ("Drive unit", "OE-2"), ("Controller", "OE-3"))]
    stock(c, ids[0])
    stock(c, ids[1])
    [template] = c.erp.client.model("product.product", "read", [int(ids[1])], ["template"])
    c.erp.client.model("product.template", "write", [template["template"]], {"lead_time": timedelta(days=3)})
    c.engine.sync(["product"])
    return ids[0], ids[1], ids[2]


def test_availability_and_lead_time_decide_the_ship_date(coupled: Coupled) -> None:
    c = coupled
    stocked, slow, bare = catalogue(c)
    today = clock.now().date()
    report = availability(c.engine, [crm_id(c, "product", p) for p in (stocked, slow, bare)], [5, 5, 5],
                          settings=RULES)
    first, second, third = report.products
    assert (first.on_hand, first.rule, first.ship_date) == (Decimal(500), "stock", today)
    assert (second.lead_time_days, second.rule, second.ship_date) == (3, "stock", today + timedelta(days=3))
    assert (third.on_hand, third.rule, third.ship_date) == (Decimal(0), "replenishment", today + timedelta(days=10))
    assert report.ship_date == today + timedelta(days=10)
    later = today + timedelta(days=30)  # the ERP's own ids work too, and a requested date moves it
    again = availability(c.engine, [stocked], ["600"], side="erp", requested_date=later, settings=RULES)
    assert again.products[0].rule == "replenishment" and again.products[0].ship_date == later


def test_an_order_for_a_prospect_couples_it_and_shows_in_the_crm(coupled: Coupled) -> None:
    c = coupled
    stocked, _, bare = catalogue(c)
    account = make(c.crm, "account", {"name": "Orderly GmbH", "postcode": "50667",
                                      "billing_address": {"street": "Ring 1", "postcode": "50667",
                                                          "city": "Köln", "country": "DE"}})
    make(c.crm, "contact", {"first_name": "Ada", "last_name": "Buyer", "account": account,
                            "email": "ada@orderly.example"})
    placed = place_order(c.engine, account, [(crm_id(c, "product", stocked), 2), (crm_id(c, "product", bare), 1)],
                         reference="PO-4711", settings=RULES)
    today = clock.now().date()
    # R2: the prospect became an ERP customer and its number is in the CRM
    assert placed.coupled and placed.customer_number
    crm_account = c.crm.read("account", [account])[0].record
    assert crm_account.number == placed.customer_number and crm_account.status == "customer"
    # the ERP priced and planned the order; the CRM quote shows it
    assert placed.ship_rule == "replenishment" and placed.proposed_ship_date == today + timedelta(days=10)
    assert placed.ship_date == placed.proposed_ship_date and placed.order_number
    assert placed.total is not None and placed.total.amount == Decimal("321.3")  # 3 × 90 + 19 % VAT
    quote = c.crm.read("quote", [placed.crm_quote_id])[0].record
    assert quote.order_number == placed.order_number and quote.planned_ship_date == placed.ship_date
    assert quote.title == "PO-4711" and quote.erp_link and quote.order_status == "processing"
    assert [str(li.unit_price.amount) for li in quote.lines if li.unit_price] == ["90", "90"]
    # the next sync leaves both alone and flags nothing
    report = c.engine.sync()
    assert report.status == "ok", [e.message for e in c.store.errors.list()]
    assert not [v for v in c.store.findings.violations() if v.entity == "quote"], [(v.field, v.attempted, v.restored) for v in c.store.findings.violations()]
    assert c.crm.read("quote", [placed.crm_quote_id])[0].record.order_number == placed.order_number
    # a second order for the now coupled customer does not couple again
    second = place_order(c.engine, account, [(crm_id(c, "product", stocked), 1)], settings=RULES)
    assert not second.coupled and second.erp_account == placed.erp_account
    assert second.ship_rule == "stock" and second.ship_date == today
    assert second.order_number != placed.order_number


def test_unknown_products_are_refused_with_a_hint(coupled: Coupled) -> None:
    from koppel.processes.order_entry import OrderEntryError
    with pytest.raises(OrderEntryError, match="not coupled"):
        availability(coupled.engine, ["no-such-product"], [1])
    assert date.today()  # the peers stay untouched


def test_an_order_submitted_again_after_a_failure_makes_no_second_quote_or_sale(
        coupled: Coupled, monkeypatch: pytest.MonkeyPatch) -> None:
    from koppel.processes import order_entry
    from koppel.processes.order_entry import OrderEntryError

    c = coupled
    stocked, _, _ = catalogue(c)
    account = make(c.crm, "account", {"name": "Twice Clicked KG", "postcode": "50667"})
    make(c.crm, "contact", {"first_name": "Tom", "last_name": "Twice", "account": account, "email": "tom@twice.example"})
    real = order_entry._erp_sale

    def down(*args: object, **kwargs: object) -> str:
        raise OrderEntryError("ERP sale not written: Tryton is down (simulated)")

    monkeypatch.setattr(order_entry, "_erp_sale", down)
    lines = [(crm_id(c, "product", stocked), 2)]
    with pytest.raises(OrderEntryError):
        place_order(c.engine, account, lines, settings=RULES, idempotency_key="form-0001")
    monkeypatch.setattr(order_entry, "_erp_sale", real)
    placed = place_order(c.engine, account, lines, settings=RULES, idempotency_key="form-0001")
    again = place_order(c.engine, account, lines, settings=RULES, idempotency_key="form-0001")
    assert (again.crm_quote_id, again.erp_order_id) == (placed.crm_quote_id, placed.erp_order_id)
    quotes = [r for b in c.crm.read_changes("quote", None) for r in b.records if r.record.account == account]
    assert [q.id for q in quotes] == [placed.crm_quote_id]
    party = placed.erp_account
    sales = c.erp.client.model("sale.sale", "search", [("party", "=", int(party))], 0, None, None)
    assert sales == [int(placed.erp_order_id)]
