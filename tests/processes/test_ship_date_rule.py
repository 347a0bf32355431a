"""The ship-date rule of order entry (R7), pure: stock first, then known supply, then
replenishment, never before today + lead time nor before the requested date."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from koppel.connectors.tryton.stock import Supply
from koppel.processes.order_entry import OrderEntrySettings, propose_ship_date

TODAY = date(2026, 3, 2)
RULES = OrderEntrySettings(replenishment_days=14)


def propose(quantity: int, forecast: int, lead: int = 0, supplies: tuple[Supply, ...] = (),
            requested: date | None = None) -> tuple[date, str]:
    at = max(requested or TODAY, TODAY)
    p = propose_ship_date(Decimal(quantity), Decimal(forecast), lead, supplies, TODAY, requested, at, RULES)
    return p.ship_date, p.rule


def test_enough_forecast_stock_ships_after_the_lead_time() -> None:
    assert propose(5, 10) == (TODAY, "stock")
    assert propose(5, 5, lead=3) == (TODAY + timedelta(days=3), "stock")


def test_a_requested_date_later_than_the_lead_time_wins() -> None:
    assert propose(5, 10, lead=3, requested=TODAY + timedelta(days=20)) == (TODAY + timedelta(days=20), "stock")


def test_coming_supply_ships_when_it_covers_the_quantity() -> None:
    supplies = (Supply(TODAY + timedelta(days=9), Decimal(4), "move"),
                Supply(TODAY + timedelta(days=5), Decimal(3), "purchase_request"))
    assert propose(6, 2, lead=1, supplies=supplies) == (TODAY + timedelta(days=9), "supply")
    assert propose(4, 2, lead=1, supplies=supplies) == (TODAY + timedelta(days=5), "supply")


def test_supply_already_in_the_forecast_is_not_counted_twice() -> None:
    arrived = (Supply(TODAY, Decimal(50), "move"),)
    assert propose(5, 0, supplies=arrived) == (TODAY + timedelta(days=14), "replenishment")


def test_nothing_covers_it_then_lead_time_plus_replenishment() -> None:
    assert propose(5, 0, lead=2) == (TODAY + timedelta(days=16), "replenishment")
    late = TODAY + timedelta(days=40)
    assert propose(5, 0, lead=2, requested=late) == (late, "replenishment")


def test_negative_forecast_from_other_orders_counts_against_the_order() -> None:
    assert propose(1, -3, supplies=(Supply(TODAY + timedelta(days=3), Decimal(3), "move"),))[1] == "replenishment"
    assert propose(1, -3, supplies=(Supply(TODAY + timedelta(days=3), Decimal(4), "move"),)) == (
        TODAY + timedelta(days=3), "supply")
