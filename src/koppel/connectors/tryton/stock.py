"""Stock availability and lead times of products (R7), read in bulk from Tryton.

Per batch of products: two `product.product` reads (on hand today, forecast at the asked date,
in the warehouse), their sale lead time, and the supply still to come (incoming moves and
purchase requests from stock_supply) so a caller can tell when the forecast covers a quantity.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from koppel.connectors.base import StockFacts, Supply
from koppel.connectors.tryton.client import RpcError, TrytonClient
from koppel.connectors.tryton.mapping import Row
from koppel.errors import UsageError

ALL = {"active_test": False}
#: move states of supply that has not arrived yet
PENDING_MOVES = ["draft", "assigned", "staging"]


def warehouse_of(client: TrytonClient, setup: dict[str, Any] | None) -> int:
    """The warehouse to check: the peer setup's, else Tryton's first warehouse."""
    if setup and setup.get("warehouse"):
        return int(setup["warehouse"])
    found = client.model("stock.location", "search", [("type", "=", "warehouse")], 0, 1,
                         [["id", "ASC"]])
    if not found:
        raise UsageError("Tryton has no warehouse (a stock location of type warehouse)",
                         hint="create one in Tryton (Inventory > Locations)")
    return int(found[0])


def days(lead: timedelta | None) -> int | None:
    """A lead time in whole days, rounded up (Tryton keeps a timedelta)."""
    return None if lead is None else math.ceil(lead.total_seconds() / 86400)


def read_stock_facts(client: TrytonClient, warehouse: int, products: list[int], at: date,
                     today: date) -> dict[int, StockFacts]:
    if not products:
        return {}
    place = {"locations": [warehouse]}
    now = _quantities(client, products, {**place, "stock_date_end": today}, "quantity")
    later = _quantities(client, products, {**place, "stock_date_end": at}, "forecast_quantity")
    leads = {int(r["id"]): r.get("lead_time") for r in client.model(
        "product.product", "read", products, ["lead_time"], context=ALL)}
    default = _default_lead_time(client)
    supplies = _supplies(client, warehouse, products, today)
    return {p: StockFacts(str(p), now.get(p, Decimal(0)), later.get(p, Decimal(0)),
                          days(leads.get(p) if leads.get(p) is not None else default),
                          tuple(sorted(supplies.get(p, []), key=lambda s: s.on)))
            for p in products}


def _quantities(client: TrytonClient, products: list[int], context: dict[str, Any], name: str
                ) -> dict[int, Decimal]:
    rows = client.model("product.product", "read", products, [name], context={**ALL, **context})
    return {int(r["id"]): Decimal(str(r.get(name) or 0)) for r in rows}


def _default_lead_time(client: TrytonClient) -> timedelta | None:
    rows = client.model("product.configuration", "read", [1], ["default_lead_time"])
    value = rows[0].get("default_lead_time") if rows else None
    return value if isinstance(value, timedelta) else None


def _supplies(client: TrytonClient, warehouse: int, products: list[int], today: date
              ) -> dict[int, list[Supply]]:
    """Incoming moves into the warehouse not done yet, and open purchase requests."""
    found: dict[int, list[Supply]] = {}
    moves: list[Row] = client.model("stock.move", "search_read", [
        ("product", "in", products), ("to_location", "child_of", [warehouse], "parent"),
        ("from_location.type", "in", ["supplier", "production"]),
        ("state", "in", PENDING_MOVES)], 0, None, None,
        ["product", "quantity", "planned_date"], context=ALL)
    for m in moves:
        on = max(m.get("planned_date") or today, today)
        found.setdefault(int(m["product"]), []).append(
            Supply(on, Decimal(str(m.get("quantity") or 0)), "move"))
    for r in _purchase_requests(client, warehouse, products):
        if r.get("supply_date"):
            found.setdefault(int(r["product"]), []).append(
                Supply(max(r["supply_date"], today), Decimal(str(r.get("quantity") or 0)),
                       "purchase_request"))
    return found


def _purchase_requests(client: TrytonClient, warehouse: int, products: list[int]) -> list[Row]:
    """Requests not yet turned into a purchase (those are incoming moves once confirmed)."""
    try:
        rows: list[Row] = client.model("purchase.request", "search_read", [
            ("product", "in", products), ("warehouse", "=", warehouse),
            ("state", "=", "draft")], 0, None, None, ["product", "quantity", "supply_date"],
            context=ALL)
    except RpcError:  # stock_supply not activated: no requests to count on
        return []
    return rows
