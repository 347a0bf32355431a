"""Order entry (R7), value tiers (R9) and erasure: what the workspace starts in the peers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from koppel.analytics import customer_value as cv
from koppel.config.policy import Side
from koppel.engine import erasure
from koppel.processes import order_entry as oe
from koppel.services.workspace import Workspace


def availability(ws: Workspace, products: Sequence[str], quantities: Sequence[Decimal], *, side: Side = "crm",
                 requested_date: date | None = None) -> oe.AvailabilityReport:
    with ws.peers() as rt:
        return oe.availability(rt.engine, products, list(quantities), side=side, requested_date=requested_date,
                               settings=rt.settings.order_entry)


def place_order(ws: Workspace, actor: str, account: str, lines: Sequence[oe.OrderLine], *,
                requested_date: date | None = None, reference: str | None = None, contact: str | None = None,
                idempotency_key: str | None = None) -> oe.PlacedOrder:
    """Send the order to the ERP and the ship date to the CRM (on a quote made for it)."""
    with ws.peers() as rt:
        placed = oe.place_order(rt.engine, account, lines, requested_date=requested_date, reference=reference,
                                contact_id=contact, settings=rt.settings.order_entry,
                                idempotency_key=idempotency_key, actor=actor)
    ws.audit(actor, "place-order", f"crm:{account}", entity="order",
             after={"erp_order": placed.erp_order_id, "number": placed.order_number, "crm_quote": placed.crm_quote_id})
    return placed


def push_tiers(ws: Workspace, actor: str, start: date, end: date) -> cv.PushReport:
    """Compute the value tiers of the period and write them to the CRM accounts."""
    with ws.peers() as rt:
        values = cv.customer_value(rt.engine, start, end, rt.settings.analytics.value)
        report = cv.push_tiers(rt.engine, values, actor)
    ws.audit(actor, "push-tiers", f"{start}..{end}", entity="account",
             after={"written": report.written, "errors": len(report.errors)})
    return report


def erase(ws: Workspace, actor: str, entity: str, side: Side, record_id: str) -> erasure.Erased:
    """A person erased in both systems and scrubbed from koppel; the audit keeps that it happened."""
    with ws.peers() as rt:
        return erasure.erase(rt.engine, entity, side, record_id, actor)
