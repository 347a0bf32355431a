"""The account 360°: one customer as both systems hold it right now, read live through the
connectors, with each field's owner (from the policy), the system its value came from, when it
was last synced and whether it is stale; plus contacts, quotes, orders, invoices and cases,
each read by the account's id (`read_related`), never by a scan of the system.

Documents stay in their system (R13): the view carries references, `fetch_document` reads one live.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from koppel import clock
from koppel.config.policy import FieldRule, Side, other
from koppel.connectors.base import RemoteRecord, read_related, search_records
from koppel.engine.sync import SIDES, Engine
from koppel.errors import UsageError
from koppel.model import ENTITIES, Entity
from koppel.store import LinkRow

OPEN_QUOTES = frozenset({"draft", "sent", "accepted"})


@dataclass(frozen=True)
class DocumentRef:
    """Where a document lives: fetched live from its system, never copied."""

    system: Side
    entity: str
    id: str


@dataclass(frozen=True)
class FieldView:
    name: str
    value: Any
    owner: str  # erp | crm | shared
    source: Side | None  # the system the shown value came from
    erp_value: Any
    crm_value: Any
    synced_value: Any
    synced_at: datetime | None
    stale: bool


@dataclass(frozen=True)
class AccountSummary:
    key: str
    name: str | None
    number: str | None
    erp_id: str | None
    crm_id: str | None
    coupled: bool


@dataclass
class Account360:
    key: str
    name: str | None
    erp_id: str | None
    crm_id: str | None
    synced_at: datetime | None
    fields: list[FieldView]
    contacts: list[dict[str, Any]] = field(default_factory=list)
    quotes: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    complaints: list[dict[str, Any]] = field(default_factory=list)
    open_amounts: dict[str, Decimal] = field(default_factory=dict)
    overdue_amounts: dict[str, Decimal] = field(default_factory=dict)


def parse_key(key: str) -> tuple[Side, str]:
    """`erp:ID` or `crm:ID` into its side and id."""
    side, _, record_id = key.partition(":")
    if side not in SIDES or not record_id:
        raise UsageError(f"account key {key!r} is not erp:ID or crm:ID", hint="e.g. erp:42 or crm:7")
    return side, record_id


class AccountView:
    """Assembles the 360° view from both systems live and the link store."""

    def __init__(self, engine: Engine, *, stale_after: timedelta = timedelta(hours=24)) -> None:
        self.engine = engine
        self.store = engine.store
        self.stale_after = stale_after

    # --- the list -----------------------------------------------------------------------

    def accounts(self, search: str | None = None, *, include_uncoupled: bool = False,
                 uncoupled_from: Sequence[Side] = SIDES, limit: int = 100) -> list[AccountSummary]:
        """Coupled accounts whose last-synced name or number, or id, contains `search` (ignoring
        case), oldest link first; with `include_uncoupled`, then those of the systems in
        `uncoupled_from` that are not coupled, found by each system's own search, up to `limit`
        in all. The store is searched in SQL and each system reads about as many accounts as
        are still wanted (plus the coupled ones among them), never all of them."""
        text = (search or "").strip()
        found = [_summary_of_link(link) for link in self.store.links.search("account", text, limit=limit)]
        for side in uncoupled_from if include_uncoupled else ():
            if len(found) >= limit:
                break
            found += self._uncoupled(side, text, limit - len(found))
        return found

    def _uncoupled(self, side: Side, text: str, wanted: int) -> list[AccountSummary]:
        """Up to `wanted` accounts of `side` that match `text` and are not coupled, page by
        page of the system's search; a key (`erp:ID`) is read by its id."""
        connector = self.engine.connectors[side]
        if "account" not in connector.discover():
            return []
        out: list[AccountSummary] = []
        for page in self._pages(side, text, wanted):
            coupled = self.store.links.link_ids("account", side, [r.id for r in page])
            out += [_summary_of_record(side, r.id, r.record) for r in page if r.id not in coupled]
            if len(out) >= wanted:
                break
        return out[:wanted]

    def _pages(self, side: Side, text: str, wanted: int) -> Iterator[list[RemoteRecord]]:
        key_side, _, record_id = text.partition(":")
        if key_side in SIDES and record_id:
            if key_side == side:
                yield self.engine.connectors[side].read("account", [record_id])
            return
        yield from search_records(self.engine.connectors[side], "account", text, page_size=wanted,
                                  fields=("name", "number"))

    # --- the 360° -----------------------------------------------------------------------

    def account(self, key: str) -> Account360 | None:
        """The account behind `erp:ID` / `crm:ID`; None if that system does not hold it."""
        side, record_id = parse_key(key)
        link = self.store.links.by_ids("account", side, [record_id]).get(record_id)
        ids: dict[Side, str | None] = {side: record_id, other(side): link.id_on(other(side)) if link else None}
        values = {s: self._one(s, "account", i) for s, i in ids.items()}
        if values[side] is None:
            return None
        synced_at = self.store.links.synced_at(link.id) if link else None
        view = Account360(key, (values["erp"] or values["crm"] or {}).get("name"), ids["erp"], ids["crm"],
                          synced_at, self._fields(side, record_id, values, link, synced_at))
        self._documents(view)
        return view

    def _fields(self, side: Side, record_id: str, values: dict[Side, dict[str, Any] | None],
                link: LinkRow | None, synced_at: datetime | None) -> list[FieldView]:
        rules = self.engine.policy.field_rules("account", side, record_id)
        readable = {s: self._info(s, "account") for s in SIDES}
        normal = {s: self._normalise(s, v) for s, v in values.items()}
        old = synced_at is not None and clock.now() - _aware(synced_at) > self.stale_after
        return [self._field(name, rule, normal, readable, link, synced_at, old)
                for name, rule in rules.items()]

    def _field(self, name: str, rule: FieldRule, normal: dict[Side, dict[str, Any] | None],
               readable: dict[Side, frozenset[str]], link: LinkRow | None, synced_at: datetime | None,
               old: bool) -> FieldView:
        present = [s for s in SIDES if normal[s] is not None and name in readable[s]]
        value_of = {s: (normal[s] or {}).get(name) if s in present else None for s in SIDES}
        snap = link.snapshot.get(name) if link else None
        synced = link is not None and rule.direction != "none" and len(present) == 2
        if synced and link is not None and name not in link.snapshot:  # never copied: compare the sides
            snap = value_of[rule.owner] if rule.owner in SIDES else value_of["erp"]
        moved = [s for s in present if synced and value_of[s] != snap]
        source = _source(rule, present, moved)
        return FieldView(name, value_of[source] if source else None, rule.owner, source, value_of["erp"],
                         value_of["crm"], snap, synced_at if synced else None, bool(moved) or (synced and old))

    # --- documents around the account ---------------------------------------------------

    def _documents(self, view: Account360) -> None:
        if view.erp_id is not None:
            shipments = self._related("erp", "shipment", view.erp_id)
            orders = self._related("erp", "order", view.erp_id)
            seen = {i for i, _ in orders}  # a sale handed over from a CRM quote is also read as a quote
            view.orders = [_order(e, i, v, shipments) for e, rows in
                           (("order", orders), ("quote", self._related("erp", "quote", view.erp_id)))
                           for i, v in rows if e == "order" or i not in seen]
            view.invoices = [_invoice(i, v) for i, v in self._related("erp", "invoice", view.erp_id)]
            view.open_amounts, view.overdue_amounts = _totals(view.invoices)
        if view.crm_id is not None:
            view.quotes = [_quote(i, v) for i, v in self._related("crm", "quote", view.crm_id)]
            view.complaints = [_case(i, v) for i, v in self._related("crm", "case", view.crm_id)]
        view.contacts = self._contacts(view.erp_id, view.crm_id)

    def _contacts(self, erp_id: str | None, crm_id: str | None) -> list[dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for side, account_id in (("erp", erp_id), ("crm", crm_id)):
            if account_id is None:
                continue
            rows = self._related(cast(Side, side), "contact", account_id)
            links = self.store.links.by_ids("contact", side, [i for i, _ in rows])
            for record_id, values in rows:
                link = links.get(record_id)
                slot = merged.setdefault(f"link:{link.id}" if link else f"{side}:{record_id}", {
                    "erp_id": link.erp_id if link else None, "crm_id": link.crm_id if link else None})
                slot[f"{side}_id"] = record_id
                slot.update({k: values.get(k) for k in _CONTACT_FIELDS if slot.get(k) is None})
        return list(merged.values())

    # --- reading live -------------------------------------------------------------------

    def fetch_document(self, system: str, entity: str, record_id: str) -> dict[str, Any] | None:
        """One record read live from its system (R13); None if the system does not hold it."""
        if system not in SIDES:
            raise UsageError(f"system {system!r} is neither erp nor crm", hint="use erp or crm")
        if entity not in ENTITIES:
            raise UsageError(f"unknown entity {entity!r}", hint=f"choose from {', '.join(ENTITIES)}")
        return self._one(system, entity, record_id)

    def _one(self, side: Side, entity: str, record_id: str | None) -> dict[str, Any] | None:
        if record_id is None or entity not in self.engine.connectors[side].discover():
            return None
        found = self.engine.connectors[side].read(entity, [record_id])
        return _dump(found[0].record) if found else None

    def _related(self, side: Side, entity: str, account_id: str) -> list[tuple[str, dict[str, Any]]]:
        """Records of `entity` in `side` that belong to the account, read by the system's own
        filter (`read_related`): what belongs to this account, not every record of the system."""
        connector = self.engine.connectors[side]
        if entity not in connector.discover():
            return []
        return [(r.id, _dump(r.record)) for r in read_related(connector, entity, "account", [account_id])]

    def _info(self, side: Side, entity: str) -> frozenset[str]:
        infos = self.engine.connectors[side].discover()
        return infos[entity].readable if entity in infos else frozenset()

    def _normalise(self, side: Side, values: dict[str, Any] | None) -> dict[str, Any] | None:
        if values is None:
            return None
        return self.engine.translator.values("account", side, values)


_CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "title", "invoice_recipient")


def _summary_of_link(link: LinkRow) -> AccountSummary:
    return AccountSummary(f"erp:{link.erp_id}", link.snapshot.get("name"), link.snapshot.get("number"),
                          link.erp_id, link.crm_id, True)


def _summary_of_record(side: Side, record_id: str, record: Entity) -> AccountSummary:
    ids: dict[Side, str | None] = {side: record_id, other(side): None}
    return AccountSummary(f"{side}:{record_id}", getattr(record, "name", None), getattr(record, "number", None),
                          ids["erp"], ids["crm"], False)


def _source(rule: FieldRule, present: list[Side], moved: list[Side]) -> Side | None:
    """The owner's value; for a shared field, the side that changed it last."""
    if rule.owner in present:
        return rule.owner
    if rule.owner == "shared" and len(moved) == 1:
        return moved[0]
    return present[0] if present else None


def _dump(record: Entity) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=clock.now().tzinfo)


def _order(entity: str, record_id: str, v: dict[str, Any],
           shipments: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    own = [s for _, s in shipments if s.get("order") == record_id]
    return {"entity": entity, "id": record_id, "number": v.get("number") or v.get("order_number"),
            "reference": v.get("reference"), "status": v.get("state") or v.get("status"),
            "total": v.get("total"), "shipment_state": v.get("shipment_state") or v.get("shipment_status"),
            "invoice_state": v.get("invoice_state") or v.get("invoice_status"),
            "planned_ship_date": v.get("planned_ship_date") or _first(own, "planned_date"),
            "shipped_date": _first(own, "effective_date"),
            "document": DocumentRef("erp", entity, record_id)}


def _invoice(record_id: str, v: dict[str, Any]) -> dict[str, Any]:
    to_pay = v.get("amount_to_pay")
    unpaid = v.get("state") not in ("paid", "cancelled", "draft") and _amount(to_pay) > 0
    overdue = unpaid and v.get("due_date") is not None and date.fromisoformat(v["due_date"]) < clock.now().date()
    return {"id": record_id, "number": v.get("number"), "state": v.get("state"),
            "invoice_date": v.get("invoice_date"), "due_date": v.get("due_date"), "total": v.get("total"),
            "amount_to_pay": to_pay, "paid": v.get("state") == "paid" or (not unpaid and to_pay is not None),
            "overdue": overdue, "dunning_level": v.get("dunning_level"),
            "document": DocumentRef("erp", "invoice", record_id)}


def _quote(record_id: str, v: dict[str, Any]) -> dict[str, Any]:
    keys = ("number", "title", "status", "order_number", "order_status", "shipment_status",
            "invoice_status", "planned_ship_date", "erp_link")
    return {"id": record_id, **{k: v.get(k) for k in keys}, "open": v.get("status") in OPEN_QUOTES}


def _case(record_id: str, v: dict[str, Any]) -> dict[str, Any]:
    return {"id": record_id, **{k: v.get(k) for k in ("number", "subject", "kind", "status", "erp_state")}}


def _totals(invoices: list[dict[str, Any]]) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    open_, overdue = dict[str, Decimal](), dict[str, Decimal]()
    for inv in invoices:
        money = inv["amount_to_pay"]
        if money and not inv["paid"]:
            open_[money["currency"]] = open_.get(money["currency"], Decimal(0)) + Decimal(money["amount"])
            if inv["overdue"]:
                overdue[money["currency"]] = overdue.get(money["currency"], Decimal(0)) + Decimal(money["amount"])
    return open_, overdue


def _amount(money: dict[str, Any] | None) -> Decimal:
    return Decimal(money["amount"]) if money else Decimal(0)


def _first(rows: list[dict[str, Any]], key: str) -> Any:
    return next((r[key] for r in rows if r.get(key)), None)
