"""Order entry and analytics routes: thin over their services; an ERP without the capability is a 400."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from koppel.connectors.base import InvoiceFact, StockFacts
from koppel.testing.builders import customer, twin
from tests.api.conftest import Api


def stocked(api: Api) -> str:
    """An ERP product coupled to the CRM, and an ERP that reports stock for it."""
    product = api.pair.erp.put("product", {"code": "P-1", "name": "Widget"})
    api.pair.engine.sync(["product"])

    def availability(ids: list[str], at: date) -> dict[str, StockFacts]:
        return {i: StockFacts(i, Decimal(10), Decimal(10), 3) for i in ids}

    api.pair.erp.availability = availability  # type: ignore[attr-defined]
    return api.pair.store.links.by_ids("product", "erp", [product])[product].crm_id


def test_availability_proposes_a_ship_date(api: Api) -> None:
    crm_product = stocked(api)
    response = api.get("/api/v1/order-entry/availability", params={"product": [crm_product], "quantity": ["4"]})
    assert response.status_code == 200, response.text
    [line] = response.json()["products"]
    assert (line["product"], line["lead_time_days"], line["rule"]) == (crm_product, 3, "stock")


def test_order_entry_needs_an_erp_that_reports_stock(api: Api) -> None:
    response = api.get("/api/v1/order-entry/availability", params={"product": ["x"], "quantity": ["1"], "side": "erp"})
    assert response.status_code == 400 and "availability" in response.json()["error"]
    assert api.get("/api/v1/order-entry/availability", params={"product": ["x"], "quantity": ["-1"]}
                   ).status_code == 422
    assert api.get("/api/v1/order-entry/availability").status_code == 422


def test_placing_an_order_needs_an_operator_and_valid_lines(api: Api) -> None:
    body: dict[str, Any] = {"account": "crm-1", "lines": [{"product": "p", "quantity": "1"}]}
    assert api.post("/api/v1/order-entry/orders", role="viewer", json=body).status_code == 403
    assert api.post("/api/v1/order-entry/orders", json={**body, "lines": []}).status_code == 422
    refused = api.post("/api/v1/order-entry/orders", json=body)
    assert refused.status_code in (400, 422) and set(refused.json()) == {"error", "hint"}


def invoicing(api: Api) -> str:
    account = customer(api.pair)
    api.pair.engine.sync(["account"])

    def invoice_facts(start: date, end: date) -> list[InvoiceFact]:
        return [InvoiceFact("1", "INV-1", account, "Acme 1 GmbH", date(2026, 1, 10), Decimal(100), Decimal(40)),
                InvoiceFact("2", "CN-1", account, "Acme 1 GmbH", date(2026, 1, 20), Decimal(-10), Decimal(-4))]

    api.pair.erp.invoice_facts = invoice_facts  # type: ignore[attr-defined]
    return twin(api.pair.store, account)


def test_revenue_evolution_and_customer_value(api: Api) -> None:
    crm_id = invoicing(api)
    period = {"start": "2026-01-01", "end": "2026-01-31"}
    [row] = api.get("/api/v1/analytics/revenue", params=period).json()["rows"]
    assert (row["key"], Decimal(row["net"])) == (crm_id, Decimal(90))
    moved = api.get("/api/v1/analytics/evolution", params={
        "before_start": "2025-01-01", "before_end": "2025-12-31", "after_start": "2026-01-01",
        "after_end": "2026-12-31"}).json()
    assert moved["risers"][0]["key"] == crm_id
    [value] = api.get("/api/v1/analytics/customer-value", params=period).json()
    assert value["account"] == crm_id and value["tier"] in ("A", "B", "C")
    assert api.post("/api/v1/analytics/customer-value/push", role="viewer", params=period).status_code == 403
    pushed = api.post("/api/v1/analytics/customer-value/push", params=period)
    assert pushed.status_code == 200 and pushed.json()["written"] == 1
    assert api.pair.crm.get("account", crm_id)["value_tier"] == value["tier"]
    assert any(a["action"] == "push-tiers" for a in api.audit())


def test_analytics_refuse_bad_periods_and_erps_without_invoices(api: Api) -> None:
    backwards = api.get("/api/v1/analytics/revenue", params={"start": "2026-02-01", "end": "2026-01-01"})
    assert backwards.status_code == 400
    assert api.get("/api/v1/analytics/revenue", params={"start": "soon", "end": "later"}).status_code == 422
    plain = api.get("/api/v1/analytics/revenue", params={"start": "2026-01-01", "end": "2026-01-31"})
    assert plain.status_code == 409 and "invoice" in plain.json()["error"]  # the systems cannot do it
