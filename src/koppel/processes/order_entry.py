"""Order entry (R7): ERP availability and lead times, a proposed ship date, and one call that
places the order — the CRM prospect coupled first (R2), the ERP sale priced by the ERP, the
order number and ship date written back to a CRM quote made for the order.

`propose_ship_date` is the pure rule; `availability` and `place_order` do the I/O through the
engine's connectors and links.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from koppel import clock
from koppel.config.policy import Side
from koppel.config.settings import OrderEntrySettings
from koppel.connectors.base import Connector, StockSource, Supply, WriteOp, read_related
from koppel.engine import Engine, writes
from koppel.errors import KoppelError, RecordError
from koppel.model import Money

ShipRule = Literal["stock", "supply", "replenishment"]


class OrderEntryError(KoppelError):
    """An order cannot be checked or placed as asked; the message says why and what to do."""




class ShipProposal(BaseModel):
    model_config = ConfigDict(frozen=True)
    ship_date: date
    rule: ShipRule
    reason: str


class ProductAvailability(BaseModel):
    """One product of an availability check (ids as asked and in the ERP)."""

    product: str
    erp_product: str
    quantity: Decimal
    on_hand: Decimal
    forecast: Decimal  # at the requested date (today without one)
    lead_time_days: int | None  # None: the ERP has no lead time for it
    ship_date: date
    rule: ShipRule
    reason: str


class AvailabilityReport(BaseModel):
    today: date
    requested_date: date | None
    products: list[ProductAvailability]

    @property
    def ship_date(self) -> date:
        """The whole order ships when its last product can."""
        return max((p.ship_date for p in self.products), default=self.requested_date or self.today)


class OrderLine(BaseModel):
    product: str  # the CRM product id
    quantity: Decimal = Field(gt=0)


class PlacedOrder(BaseModel):
    """What the ERP made of an order and where the CRM shows it."""

    order_number: str | None
    erp_order_id: str
    crm_quote_id: str
    crm_quote_number: str | None
    account: str
    erp_account: str
    customer_number: str | None
    coupled: bool  # the account became an ERP customer with this order
    proposed_ship_date: date
    ship_rule: ShipRule
    ship_date: date | None  # as the ERP planned it
    total: Money | None
    availability: AvailabilityReport


# --- the rule (pure) --------------------------------------------------------------------------


def propose_ship_date(quantity: Decimal, forecast: Decimal, lead_days: int, supplies: Iterable[Supply],
                      today: date, requested: date | None, at: date, settings: OrderEntrySettings
                      ) -> ShipProposal:
    """When an order line can ship, and which rule says so.

    stock: the forecast at `at` covers the quantity — today + lead time (not before the
    requested date). supply: supply still to come covers it — the day it arrives (moves planned
    after `at`, purchase requests any time, since the forecast does not count them).
    replenishment: nothing known covers it — today + lead time + the replenishment time.
    """
    earliest = max(today + timedelta(days=lead_days), requested or today)
    if forecast >= quantity:
        return ShipProposal(ship_date=earliest, rule="stock", reason=f"forecast {forecast} covers {quantity}")
    have = forecast
    for supply in sorted(supplies, key=lambda s: s.on):
        if supply.source == "move" and supply.on <= at:
            continue  # already in the forecast
        have += supply.quantity
        if have >= quantity:
            return ShipProposal(ship_date=max(earliest, supply.on), rule="supply",
                                reason=f"{supply.source.replace('_', ' ')} of {supply.quantity} due {supply.on}")
    late = today + timedelta(days=lead_days + settings.replenishment_days)
    return ShipProposal(ship_date=max(late, requested or late), rule="replenishment",
                        reason=f"only {have} of {quantity} covered; lead time {lead_days} d + "
                        f"replenishment {settings.replenishment_days} d")


# --- availability ---------------------------------------------------------------------------


def availability(engine: Engine, products: Sequence[str], quantities: Sequence[Decimal | int | str],
                 *, side: Side = "crm", requested_date: date | None = None,
                 settings: OrderEntrySettings | None = None) -> AvailabilityReport:
    """Stock, forecast, lead time and proposed ship date of each product (CRM or ERP ids)."""
    if len(products) != len(quantities):
        raise OrderEntryError("give one quantity per product")
    settings = settings or OrderEntrySettings()
    today = clock.now().date()
    at = max(requested_date or today, today)
    erp_ids = _erp_products(engine, products) if side == "crm" else list(products)
    facts = _stock_source(engine).availability(erp_ids, at)
    lines = []
    for asked, erp_id, qty in zip(products, erp_ids, quantities, strict=True):
        f = facts[erp_id]
        lead = f.lead_time_days if f.lead_time_days is not None else settings.default_lead_days
        quantity = Decimal(str(qty))
        proposal = propose_ship_date(quantity, f.forecast, lead, f.supplies, today, requested_date,
                                     at, settings)
        lines.append(ProductAvailability(
            product=asked, erp_product=erp_id, quantity=quantity, on_hand=f.on_hand,
            forecast=f.forecast, lead_time_days=f.lead_time_days, ship_date=proposal.ship_date,
            rule=proposal.rule, reason=proposal.reason))
    return AvailabilityReport(today=today, requested_date=requested_date, products=lines)


def _stock_source(engine: Engine) -> StockSource:
    erp = engine.connectors["erp"]
    if not isinstance(erp, StockSource):
        raise OrderEntryError(f"the ERP connector {erp.name!r} does not report availability",
                              hint="order entry needs an ERP connector with `availability` (Tryton)")
    return erp


def _erp_products(engine: Engine, crm_ids: Sequence[str]) -> list[str]:
    links = engine.store.links.by_ids("product", "crm", list(crm_ids))
    missing = [i for i in crm_ids if i not in links]
    if missing:
        raise OrderEntryError(f"CRM products {', '.join(missing)} are not coupled to ERP products",
                              hint="products come from the ERP: run `koppel sync product` first")
    return [links[i].erp_id for i in crm_ids]


# --- placing an order -----------------------------------------------------------------------


def place_order(engine: Engine, crm_account_id: str, lines: Sequence[OrderLine | tuple[str, Any]],
                *, requested_date: date | None = None, reference: str | None = None,
                contact_id: str | None = None, settings: OrderEntrySettings | None = None,
                idempotency_key: str | None = None, actor: str = "workspace") -> PlacedOrder:
    """Place an order for a CRM account in the ERP and show it on a new CRM quote.

    The account is coupled first when it is a prospect (its ERP customer number comes back);
    the ERP prices the sale and plans its shipment for the proposed ship date; the CRM quote
    gets the ERP's prices, order number, status and planned ship date, and is linked to the
    sale so later syncs keep it up to date (R6).
    """
    order = [line if isinstance(line, OrderLine) else OrderLine(product=line[0], quantity=line[1])
             for line in lines]
    if not order:
        raise OrderEntryError("an order needs at least one line")
    erp_account, coupled = ensure_customer(engine, crm_account_id)
    report = availability(engine, [li.product for li in order], [li.quantity for li in order],
                          requested_date=requested_date, settings=settings)
    crm, erp = engine.connectors["crm"], engine.connectors["erp"]
    made = engine.store.submissions.get(idempotency_key) if idempotency_key else {}
    if made.get("crm_quote"):  # a second submission: the first one made the CRM quote
        quote_id = str(made["crm_quote"])
        values = crm.read("quote", [quote_id])[0].record.model_dump(mode="json")
    else:
        quote_id, values = _crm_quote(engine, crm_account_id, order, report, reference, contact_id, actor)
        if idempotency_key:
            engine.store.submissions.record(idempotency_key, "order", {"crm_quote": quote_id})
    sale_id = _erp_sale(engine, values, erp_account, report, actor)
    if idempotency_key:
        engine.store.submissions.record(idempotency_key, "order", {"erp_sale": sale_id})
    if not engine.store.links.by_ids("quote", "crm", [quote_id]):
        _show_erp_lines(engine, quote_id, sale_id, actor)
        _link_quote(engine, quote_id, sale_id)
    sale = erp.read("order", [sale_id])[0].record
    account = crm.read("account", [crm_account_id])[0].record
    proposal = max(report.products, key=lambda p: p.ship_date)
    return PlacedOrder(
        order_number=getattr(sale, "number", None), erp_order_id=sale_id, crm_quote_id=quote_id,
        crm_quote_number=values.get("number"), account=crm_account_id, erp_account=erp_account,
        customer_number=getattr(account, "number", None), coupled=coupled,
        proposed_ship_date=report.ship_date, ship_rule=proposal.rule,
        ship_date=getattr(sale, "planned_ship_date", None), total=getattr(sale, "total", None),
        availability=report)


def ensure_customer(engine: Engine, crm_account_id: str) -> tuple[str, bool]:
    """The account's ERP id; a prospect is coupled now (its first order is the trigger, R2) and
    the number the ERP gave it is written back to the CRM at once."""
    linked = engine.store.links.by_ids("account", "crm", [crm_account_id])
    if crm_account_id in linked:
        return linked[crm_account_id].erp_id, False
    engine.sync_record("crm", "account", crm_account_id, couple=True)
    linked = engine.store.links.by_ids("account", "crm", [crm_account_id])
    if crm_account_id not in linked:
        problems = [e.message for e in engine.store.errors.list() if e.entity == "account"
                    and e.source == "crm" and e.source_id == crm_account_id]
        raise OrderEntryError(f"CRM account {crm_account_id} could not become an ERP customer: "
                              f"{'; '.join(problems) or 'not found in the CRM'}",
                              hint="fix the account (see `koppel errors`) and place the order again")
    erp_id = linked[crm_account_id].erp_id
    engine.sync_record("erp", "account", erp_id)  # the customer number goes back to the CRM
    return erp_id, True


def _crm_quote(engine: Engine, account_id: str, order: list[OrderLine], report: AvailabilityReport,
               reference: str | None, contact_id: str | None, actor: str) -> tuple[str, dict[str, Any]]:
    """A CRM quote for the order (BottleCRM has no orders): account, contact, lines at the
    CRM's list prices for now, the proposed ship date. Returns its id and values."""
    crm = engine.connectors["crm"]
    account = crm.read("account", [account_id])[0].record
    products = {r.id: r.record for r in crm.read("product", [li.product for li in order])}
    currency = getattr(account, "currency", None) or _price_currency(products.values())
    contact = contact_id or _first_contact(crm, account_id)
    if not engine.store.links.by_ids("contact", "crm", [contact]):
        engine.sync_record("crm", "contact", contact)  # it waited for its account (R3)
    values: dict[str, Any] = {
        "title": reference or f"Order {report.today.isoformat()}", "account": account_id,
        "contact": contact, "currency": currency,
        "planned_ship_date": report.ship_date.isoformat(),
        "lines": [_crm_line(li, products.get(li.product)) for li in order]}
    quote_id = _written(engine, "crm", "quote", WriteOp("order-entry", values), "CRM quote", actor)
    created = crm.read("quote", [quote_id])[0].record.model_dump(mode="json")
    return quote_id, created


def _erp_sale(engine: Engine, quote: Mapping[str, Any], erp_account: str, report: AvailabilityReport,
              actor: str) -> str:
    """The ERP sale for the quote: priced, quoted and confirmed by the ERP (its quote writer)."""
    values = {"number": quote.get("number"), "title": quote.get("title"), "account": erp_account,
              "currency": quote.get("currency"), "planned_ship_date": report.ship_date.isoformat(),
              "lines": [{"product": p.erp_product, "quantity": str(p.quantity)}
                        for p in report.products]}
    existing = engine.connectors["erp"].find("quote", [{"number": values["number"]}])[0] if values["number"] else None
    if existing:
        return existing  # a retry: the sale was made
    return _written(engine, "erp", "quote", WriteOp("order-entry", values), "ERP sale", actor)


def _show_erp_lines(engine: Engine, quote_id: str, sale_id: str, actor: str) -> None:
    """The CRM quote shows the ERP's prices (the ERP priced the order, not the CRM)."""
    sale = engine.connectors["erp"].read("quote", [sale_id])[0].record.model_dump(mode="json")
    lines = engine.translator.values("quote", "erp", {"lines": sale["lines"]})
    crm_lines = engine.translator.outgoing("quote", "crm", lines)["lines"]
    _written(engine, "crm", "quote", WriteOp("lines", {"lines": crm_lines}, quote_id), "CRM quote lines", actor)


def _link_quote(engine: Engine, quote_id: str, sale_id: str) -> None:
    """Couple the CRM quote and the ERP sale with the CRM's values as the last-synced state,
    then sync the sale: its number, status and planned ship date reach the CRM quote."""
    crm_values = engine.connectors["crm"].read("quote", [quote_id])[0].record.model_dump(mode="json")
    snapshot = engine.translator.values("quote", "crm", crm_values)
    engine.store.links.add("quote", [(sale_id, quote_id, snapshot)])
    engine.sync_record("erp", "quote", sale_id)


def _written(engine: Engine, side: Side, entity: str, op: WriteOp, what: str, actor: str) -> str:
    [outcome] = writes.write(engine, side, entity, [op], actor=actor, origin="order-entry")
    if outcome.error is not None or not outcome.id:
        error = outcome.error or RecordError("no id returned", system=side)
        raise OrderEntryError(f"{what} not written: {error.message}",
                              hint=error.hint or f"check the {what} in {side} and try again")
    return outcome.id


def _first_contact(crm: Connector, account_id: str) -> str:
    """The account's first contact, read by the account's id (not every contact of the CRM)."""
    found = read_related(crm, "contact", "account", [account_id])
    if found:
        return found[0].id
    raise OrderEntryError(f"CRM account {account_id} has no contact; a CRM quote needs one",
                          hint="add a contact to the account or pass contact_id")


def _crm_line(line: OrderLine, product: Any) -> dict[str, Any]:
    price = getattr(product, "list_price", None)
    return {"product": line.product, "quantity": str(line.quantity),
            "description": getattr(product, "name", None),
            "unit_price": price.model_dump(mode="json") if price is not None else None}


def _price_currency(products: Iterable[Any]) -> str | None:
    return next((p.list_price.currency for p in products if getattr(p, "list_price", None)), None)
