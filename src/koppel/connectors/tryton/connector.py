"""The Tryton connector: koppel's contract over Tryton's JSON-RPC, batch first.

Reads are `search_read` with explicit fields in keyset pages; writes are one `create` of a list
or one `write` with several (ids, values) groups per batch. Tryton rolls a whole call back when
one record fails, so a batch that fails with a RecordError is retried one record at a time:
each bad record gets its own outcome and the good ones go through.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from koppel import clock
from koppel.connectors.base import (
    ChangeBatch,
    EntityInfo,
    InvoiceFact,
    JsonValues,
    RemoteRecord,
    Requirement,
    StockFacts,
    WriteOp,
    WriteOutcome,
    scan_related,
    scan_search,
)
from koppel.connectors.incremental import Cursor
from koppel.connectors.tryton import changes, finance, invoicing, lookups, mapping_docs, provisioning, stock
from koppel.connectors.tryton import mapping as m
from koppel.connectors.tryton.client import TrytonClient
from koppel.connectors.tryton.config import TrytonSettings
from koppel.connectors.tryton.mapping import Lookups, MappingError, Row, UnknownCode, Vals
from koppel.connectors.tryton.specs import SPECS, Spec
from koppel.connectors.tryton.workflow import Workflow
from koppel.connectors.tryton.writers import Prepared, Writer, writer_for
from koppel.errors import RecordError, UsageError
from koppel.model import entity_class, ref_fields

ALL = changes.ALL_RECORDS
T = TypeVar("T")


def _values_at(row: Row, path: str) -> set[str]:
    """The values of a (possibly dotted x2many) field in a search_read row."""
    head, _, tail = path.partition(".")
    if not tail:
        return {str(row.get(head))}
    return {str(child.get(tail)) for child in row.get(f"{head}.") or []}


def _by_value(rows: list[Row], path: str) -> dict[str, set[int]]:
    """The ids of the rows holding each value of a (possibly dotted x2many) field."""
    found: dict[str, set[int]] = {}
    for row in rows:
        for value in _values_at(row, path):
            found.setdefault(value, set()).add(int(row["id"]))
    return found


def _domain_value(value: Any, reference: bool) -> int | str:
    """A key value as Tryton compares it: ids of related records are integers."""
    text = str(value)
    return int(text) if reference and text.isdigit() else text


def _escape_like(text: str) -> str:
    """`text` for a Tryton `like`/`ilike` pattern: its wildcards taken literally (escape `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class TrytonConnector(Workflow):
    """Tryton 8.2 as koppel's ERP side (or any side): parties, products, sales and their
    documents."""


    def __init__(self, name: str, settings: TrytonSettings) -> None:
        self.name = name
        self.settings = settings
        self.client = TrytonClient(settings.url, settings.database, settings.user,
                                   settings.password.get_secret_value(), system=name,
                                   timeout=settings.timeout)
        self._lookups: Lookups | None = None
        self._lookups_at = 0.0  # when (time.monotonic) the lookups were loaded
        self._warehouse: int | None = None
        self._pinned: dict[str, dict[int, int]] = {}  # per model: delete log -> the record it deleted

    @property
    def lookups(self) -> Lookups:
        if self._lookups is None or time.monotonic() - self._lookups_at > self.settings.lookups_ttl:
            self._lookups, self._lookups_at = lookups.load(self.client, self.settings), time.monotonic()
        return self._lookups

    # --- the contract -------------------------------------------------------------------

    def check(self) -> None:
        self.client.login()
        _ = self.lookups

    def discover(self) -> Mapping[str, EntityInfo]:
        return {name: EntityInfo(readable=spec.readable, writable=spec.writable)
                for name, spec in SPECS.items()}

    def read_changes(self, entity: str, cursor: str | None, *, batch_size: int = 500
                     ) -> Iterator[ChangeBatch]:
        spec, position, lag = self._spec(entity), Cursor.load(cursor), self.settings.lag
        floor = position.since(lag)
        since = changes.moment(floor) if floor is not None else None
        stamps = changes.changed_stamps(self.client, spec.model, spec.domain(self.lookups),
                                        spec.related, since, lag)
        fresh = sorted(((s, i) for i, s in stamps.items() if position.is_new(str(i), s)))
        pinned = self._pinned.setdefault(spec.model, {})
        gone = [(f"-{i}", s) for i, s in changes.deleted_since(self.client, spec.model, since, pinned)
                if position.is_new(f"-{i}", s)]
        pages = list(_chunks(fresh, min(batch_size, self.settings.batch_size))) or [[]]
        for number, page in enumerate(pages):
            records = self._records(entity, spec, [i for _, i in page])
            position.advance(((str(i), s) for s, i in page), lag)
            last = number == len(pages) - 1
            if last:
                position.advance(gone, lag)
            yield ChangeBatch(records, [g[1:] for g, _ in gone] if last else [], position.dump())

    def read(self, entity: str, ids: Sequence[str]) -> list[RemoteRecord]:
        spec = self._spec(entity)
        wanted = [int(i) for i in ids if str(i).isdigit()]
        found: list[RemoteRecord] = []
        for chunk in _chunks(wanted, self.settings.batch_size):
            found += self._records(entity, spec, list(chunk))
        return found

    def read_fields(self, entity: str, ids: Sequence[str], fields: Collection[str]) -> list[RemoteRecord]:
        """As `read`, with only the Tryton fields the canonical `fields` are made of, and the
        finance facts only when one is asked for: a write's read-back skips the
        company-dependent fields (a query each) and the facts (three more)."""
        spec = self._spec(entity)
        paths, facts = spec.fields_for(fields), not spec.facts or bool(spec.facts.intersection(fields))
        wanted = [int(i) for i in ids if str(i).isdigit()]
        found: list[RemoteRecord] = []
        for chunk in _chunks(wanted, self.settings.batch_size):
            found += self._records(entity, spec, list(chunk), paths=paths, facts=facts)
        return found

    def read_related(self, entity: str, field: str, ids: Sequence[str]) -> list[RemoteRecord]:
        """One `search` by the field's domain (`party in ids`, a contact's relation to the
        account …), then the records found; a field without a domain here is scanned for."""
        spec = self._spec(entity)
        where = spec.related_by.get(field)
        if where is None:
            return scan_related(self, entity, field, ids)
        wanted = sorted({int(i) for i in ids if str(i).isdigit()})
        if not wanted:
            return []
        found = self.client.model(spec.model, "search", [*spec.domain(self.lookups), *where(self.lookups, wanted)],
                                  0, None, [["id", "ASC"]], context=ALL)
        return self.read(entity, [str(i) for i in found])

    def search(self, entity: str, text: str, *, page_size: int, fields: Collection[str] | None = None
               ) -> Iterator[list[RemoteRecord]]:
        """Records whose name or code contains `text` (`ilike`, wildcards escaped), page by page:
        one `search` of at most `page_size` ids after the last page's (keyset by id), then those
        records read (only `fields` where given); an entity without text fields is scanned."""
        spec = self._spec(entity)
        if not spec.text:
            yield from scan_search(self, entity, text, page_size=page_size)
            return
        pattern = f"%{_escape_like(text)}%"
        domain = [*spec.domain(self.lookups), *([["OR", *([f, "ilike", pattern] for f in spec.text)]] if text else [])]
        last = 0
        while True:
            ids = self.client.model(spec.model, "search", [*domain, ("id", ">", last)], 0, page_size,
                                    [["id", "ASC"]], context=ALL)
            if not ids:
                return
            wanted = [str(i) for i in ids]
            yield self.read_fields(entity, wanted, fields) if fields else self.read(entity, wanted)
            if len(ids) < page_size:
                return
            last = int(ids[-1])

    def find(self, entity: str, keys: Sequence[JsonValues]) -> list[str | None]:
        """One search_read per key shape and batch: `field in [values]`, matched here."""
        spec = self._spec(entity)
        found: list[str | None] = [None] * len(keys)
        shapes: dict[tuple[str, ...], list[int]] = {}
        for index, key in enumerate(keys):
            shapes.setdefault(tuple(sorted(key)), []).append(index)
        for fields, indexes in shapes.items():
            for chunk in _chunks(indexes, self.settings.batch_size):
                rows = self._key_rows(entity, spec, fields, [keys[i] for i in chunk])
                holding = {f: _by_value(rows, spec.keys[f]) for f in fields}  # not rows × keys comparisons
                for i in chunk:
                    hits = set.intersection(*(holding[f].get(str(v), set()) for f, v in keys[i].items()))
                    found[i] = str(hits.pop()) if len(hits) == 1 else None
        return found

    def find_references(self, entity: str, refs: Sequence[str]) -> list[str | None] | None:
        writer = writer_for(entity, self.client, self.lookups)
        if writer is None or writer.reference is None:
            return None
        rows = self.client.model(writer.model, "search_read", [(writer.reference, "in", list(refs))],
                                 0, None, None, ["id", writer.reference], context=ALL) if refs else []
        found = {str(r[writer.reference]): str(r["id"]) for r in rows}
        return [found.get(ref) for ref in refs]

    def write(self, entity: str, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        writer = writer_for(entity, self.client, self.lookups)
        if writer is None:
            return [WriteOutcome(op.key, op.id, RecordError(
                f"koppel reads {entity} from Tryton but does not write it", system=self.name))
                for op in ops]
        outcomes: dict[str, WriteOutcome] = {}
        for chunk in _chunks(ops, self.settings.batch_size):
            for outcome in self._write_chunk(entity, chunk):
                outcomes[outcome.key] = outcome
        return [outcomes[op.key] for op in ops]

    def _prepared(self, entity: str, ops: Sequence[WriteOp]) -> tuple[Writer, Prepared]:
        """The entity's writer and the ops mapped to Tryton's values."""
        def prepare() -> tuple[Writer, Prepared]:
            writer = writer_for(entity, self.client, self.lookups)
            assert writer is not None  # `write` answered for an entity without one
            return writer, writer.prepare(ops)

        return self._reloading_lookups(prepare, lambda done: any(isinstance(v, UnknownCode) for _, v in done[1]))

    def _reloading_lookups(self, attempt: Callable[[], T], missed: Callable[[T], bool] = lambda _: False) -> T:
        """`attempt`, once more with the lookups loaded again where it met a code or an id they
        lack (`UnknownCode` raised, or `missed` by its result): a payment term, currency … made
        in Tryton after they were loaded."""
        try:
            done = attempt()
            if not missed(done):
                return done
        except UnknownCode:
            pass
        self._lookups = None
        return attempt()

    def delete(self, entity: str, ids: Sequence[str]) -> list[WriteOutcome]:
        spec = self._spec(entity)
        writer = writer_for(entity, self.client, self.lookups)
        if writer is None or not spec.can_delete:
            raise UsageError(f"koppel does not delete {entity} in Tryton")
        present = set(self.client.model(spec.model, "search", [("id", "in", [int(i) for i in ids])],
                                        0, None, None, context=ALL))
        targets = [i for i in ids if int(i) in present]
        failed = self._batched(targets, lambda batch: writer.delete([int(i) for i in batch]))
        return [WriteOutcome(i, i, failed.get(i)) for i in ids]

    def close(self) -> None:
        self.client.close()

    # --- provisioning: modules, the contact relation type, a complaint type ---------------

    def requirements(self) -> list[Requirement]:
        self.client.ensure_login()
        return provisioning.requirements(self.client, self.settings)

    def provision(self, missing: Sequence[Requirement]) -> list[Requirement]:
        made = provisioning.provision(self.client, self.settings, missing)
        self._lookups = None  # they hold the ids of what was just created
        return made

    # --- facts outside the contract: order entry (R7) and analytics (R9) ----------------

    def availability(self, product_ids: Sequence[str], at: date) -> dict[str, StockFacts]:
        """Stock on hand today, forecast at `at`, lead time and coming supply per product."""
        if self._warehouse is None:
            self._warehouse = stock.warehouse_of(self.client, self.settings.setup)
        facts = stock.read_stock_facts(self.client, self._warehouse, [int(i) for i in product_ids],
                                       at, clock.now().date())
        return {str(k): v for k, v in facts.items()}

    def invoice_facts(self, start: date, end: date) -> list[InvoiceFact]:
        """Posted customer invoices and credit notes dated from `start` to `end`."""
        return invoicing.read_invoice_facts(self.client, self.lookups, start, end)

    def company_currency(self) -> str:
        return self.lookups.currency or "EUR"

    # --- reading ------------------------------------------------------------------------

    def _spec(self, entity: str) -> Spec:
        if entity not in SPECS:
            raise UsageError(f"Tryton connector has no {entity}; it offers {', '.join(SPECS)}")
        return SPECS[entity]

    def _records(self, entity: str, spec: Spec, ids: list[int], *, paths: Sequence[str] | None = None,
                 facts: bool = True) -> list[RemoteRecord]:
        if not ids:
            return []
        domain, read = [*spec.domain(self.lookups), ("id", "in", ids)], spec.fields if paths is None else paths
        rows = self.client.model(spec.model, "search_read", domain, 0, None, [["id", "ASC"]], read, context=ALL)
        if m.ADDRESS_FIELDS[0] in read:  # a party's addresses: their streets as Tryton shows them
            rows = m.with_streets(rows, self._streets)
        by_id, cls = {int(r["id"]): r for r in rows}, entity_class(entity)

        def records() -> list[RemoteRecord]:
            convert = self._converter(entity, spec, rows, facts)
            return [RemoteRecord(str(i), cls.model_validate(convert(by_id[i]))) for i in ids if i in by_id]

        return self._reloading_lookups(records)

    def _streets(self, address_ids: list[int]) -> dict[int, str | None]:
        rows = self.client.model("party.address", "read", address_ids, ["street"], context=ALL)
        return {int(r["id"]): r.get("street") for r in rows}

    def _converter(self, entity: str, spec: Spec, rows: list[Row], facts: bool = True
                   ) -> Callable[[Row], dict[str, Any]]:
        """Row -> canonical values; some entities first read facts for all rows at once."""
        lk = self.lookups
        if entity == "account" and facts:
            found = finance.read_account_facts(self.client, lk, [int(r["id"]) for r in rows],
                                               clock.now().date())
            return lambda row: {**spec.convert(row, lk), **found[int(row["id"])]}
        if entity == "invoice":
            levels = finance.invoice_dunning_levels(self.client, {
                int(r["id"]): [int(li["id"]) for li in r.get("lines_to_pay.") or []] for r in rows})
            return lambda row: {**spec.convert(row, lk), "dunning_level": levels.get(int(row["id"]))}
        if entity == "case":
            lines = mapping_docs.complaint_lines(rows)
            sales = {int(r["id"]): int(r["sale"]) for r in self.client.model(
                "sale.line", "read", lines, ["sale"], context=ALL)} if lines else {}
            return lambda row: mapping_docs.case_values(row, lk, sales)
        if entity != "credit_note":
            return lambda row: spec.convert(row, lk)
        lines = sorted({i for row in rows for i in mapping_docs.credited_lines(row)})
        credited = {int(r["id"]): int(r["invoice"]) for r in self.client.model(
            "account.invoice.line", "read", lines, ["invoice"], context=ALL)} if lines else {}
        return lambda row: mapping_docs.credit_note_values(row, lk, credited)

    def _key_rows(self, entity: str, spec: Spec, fields: tuple[str, ...], keys: Sequence[JsonValues]) -> list[Row]:
        unknown = [f for f in fields if f not in spec.keys]
        if unknown or not fields:
            raise UsageError(f"koppel cannot find {entity} records in Tryton by {list(fields)}",
                             hint=f"match {entity} by {', '.join(spec.keys) or 'nothing'} in the policy's `match`")
        paths = [spec.keys[f] for f in fields]
        refs = {r.path[0] for r in ref_fields(entity_class(entity))}
        domain = [*spec.domain(self.lookups),
                  *((p, "in", sorted({_domain_value(k[f], f in refs) for k in keys}, key=str))
                    for f, p in zip(fields, paths, strict=True))]
        rows: list[Row] = self.client.model(spec.model, "search_read", domain, 0, None,
                                            [["id", "ASC"]], paths, context=ALL)
        return rows

    # --- writing ------------------------------------------------------------------------

    def _write_chunk(self, entity: str, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        ready: list[tuple[WriteOp, Vals]] = []
        writer, prepared = self._prepared(entity, ops)
        for op, vals in prepared:
            if isinstance(vals, MappingError):
                outcomes.append(WriteOutcome(op.key, op.id, RecordError(str(vals), system=self.name)))
            else:
                ready.append((op, vals))
        creates = [(op, v) for op, v in ready if op.id is None]
        updates = [(op, v) for op, v in ready if op.id is not None]
        outcomes += self._creates(writer, creates)
        failed = self._batched(updates, lambda b: writer.update([(int(op.id or 0), v) for op, v in b]))
        outcomes += [WriteOutcome(op.key, op.id, failed.get(op.key)) for op, _ in updates]
        return outcomes

    def _creates(self, writer: Writer, creates: list[tuple[WriteOp, Vals]]) -> list[WriteOutcome]:
        made: dict[str, str] = {}

        def create(batch: Sequence[tuple[WriteOp, Vals]]) -> None:
            ids = writer.create([v for _, v in batch])
            made.update((op.key, str(i)) for (op, _), i in zip(batch, ids, strict=True))

        failed = self._batched(creates, create)
        unfinished = writer.finish(sorted({int(i) for i in made.values()}))
        return [WriteOutcome(op.key, made.get(op.key),
                             failed.get(op.key) or unfinished.get(int(made.get(op.key) or 0)))
                for op, _ in creates]

    def _batched(self, items: Sequence[Any], send: Callable[[Sequence[Any]], None]
                 ) -> dict[str, RecordError]:
        """Send all items at once; if Tryton rejects the call, send them one by one.

        Returns the error of each rejected item, keyed by the op key (or the id itself).
        """
        if not items:
            return {}
        try:
            send(items)
            return {}
        except RecordError as exc:
            if len(items) == 1:
                return {self._key(items[0]): exc}
        failed: dict[str, RecordError] = {}
        for item in items:
            try:
                send([item])
            except RecordError as exc:
                failed[self._key(item)] = exc
        return failed

    @staticmethod
    def _key(item: Any) -> str:
        return item[0].key if isinstance(item, tuple) else str(item)


def create(system: str, settings: Mapping[str, Any]) -> TrytonConnector:
    """Entry-point factory: `connector = "tryton"` in koppel.toml."""
    return TrytonConnector(system, TrytonSettings.model_validate(dict(settings)))
