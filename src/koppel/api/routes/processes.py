"""Order entry (R7) and revenue analytics (R9): thin routes over `koppel.processes.order_entry`
and `koppel.analytics`. Both need ERP capabilities (stock, bulk invoices) that the Tryton
connector has; with another ERP connector they answer 400 with a hint.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from koppel.analytics import customer_value as cv
from koppel.analytics import evolution as ev
from koppel.analytics import revenue as rv
from koppel.api import schemas as s
from koppel.api.deps import Operator, Viewer, WorkspaceDep
from koppel.api.routes import API
from koppel.errors import UsageError
from koppel.processes import order_entry as oe
from koppel.services import processes

router = APIRouter(prefix=API)
Ids = Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Query(min_length=1, max_length=100)]
Quantities = Annotated[list[Annotated[Decimal, Field(gt=0, le=10**9)]], Query(min_length=1, max_length=100)]


class OrderIn(s.In):
    account: s.RecordId = Field(description="the CRM account id (a prospect is coupled by this order)")
    lines: list[oe.OrderLine] = Field(min_length=1, max_length=500)
    requested_date: date | None = None
    reference: Annotated[str, Field(max_length=100)] | None = None
    contact: s.RecordId | None = None
    idempotency_key: Annotated[str, Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = Field(
        default=None, description="one per submission: sent again after a failure, nothing is made twice")


@router.get("/order-entry/availability", response_model=oe.AvailabilityReport, tags=["order entry"])
def availability(ws: WorkspaceDep, _user: Viewer, product: Ids, quantity: Quantities,
                 side: s.Side = "crm", requested_date: date | None = None) -> oe.AvailabilityReport:
    """Stock, forecast, lead time and the proposed ship date per product (CRM ids by default)."""
    return processes.availability(ws, product, list(quantity), side=side, requested_date=requested_date)


@router.post("/order-entry/orders", response_model=oe.PlacedOrder, status_code=201, tags=["order entry"])
def place_order(body: OrderIn, ws: WorkspaceDep, user: Operator) -> oe.PlacedOrder:
    """Send the order to the ERP and the ship date to the CRM (on a quote made for it)."""
    return processes.place_order(ws, user.name, body.account, body.lines, requested_date=body.requested_date,
                                 reference=body.reference, contact=body.contact,
                                 idempotency_key=body.idempotency_key)


def _span(start: date, end: date) -> tuple[date, date]:
    if end < start:
        raise UsageError(f"the period ends ({end}) before it starts ({start})", hint="swap start and end")
    return start, end


@router.get("/analytics/revenue", response_model=rv.RevenueReport, tags=["analytics"])
def revenue(ws: WorkspaceDep, _user: Viewer, start: date, end: date, by: rv.By = "account",
            period: rv.Period = "month") -> rv.RevenueReport:
    """Net revenue (invoices minus credit notes) per account, owner or total and period."""
    _span(start, end)
    with ws.peers() as rt:
        path = rt.settings.analytics.targets_path
        targets = rv.load_targets(path) if path else ()
        return rv.revenue_report(rt.engine, start, end, by=by, period=period, targets=targets)


@router.get("/analytics/evolution", response_model=ev.Evolution, tags=["analytics"])
def evolution(ws: WorkspaceDep, _user: Viewer, before_start: date, before_end: date, after_start: date,
              after_end: date, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> ev.Evolution:
    """Risers and fallers between two periods."""
    before, after = _span(before_start, before_end), _span(after_start, after_end)
    with ws.peers() as rt:
        return ev.customer_evolution(rt.engine, before, after, limit=limit)


@router.get("/analytics/customer-value", response_model=list[cv.CustomerValue], tags=["analytics"])
def customer_value(ws: WorkspaceDep, _user: Viewer, start: date, end: date) -> list[cv.CustomerValue]:
    """Revenue minus cost to serve per account, with its A/B/C tier."""
    _span(start, end)
    with ws.peers() as rt:
        return cv.customer_value(rt.engine, start, end, rt.settings.analytics.value)


@router.post("/analytics/customer-value/push", response_model=cv.PushReport, tags=["analytics"])
def push_tiers(ws: WorkspaceDep, user: Operator, start: date, end: date) -> cv.PushReport:
    """Compute the tiers and write them to the CRM accounts."""
    _span(start, end)
    return processes.push_tiers(ws, user.name, start, end)
