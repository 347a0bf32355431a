"""The memory connector: records kept as canonical JSON, ordered by a modification counter.

Reading changes walks back from the newest record only as far as the cursor, so an
incremental read costs in proportion to the changes. It can reject records and fail
transiently on demand, which is how the engine's error handling is tested.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from itertools import count
from pathlib import Path
from typing import Any

from koppel.connectors.base import ChangeBatch, EntityInfo, JsonValues, RemoteRecord, WriteOp, WriteOutcome
from koppel.connectors.incremental import Cursor
from koppel.connectors.memory.config import MemorySettings
from koppel.errors import RecordError, TransientError, UniqueCollision
from koppel.model import ENTITIES, ORDER, Entity, entity_class

Rejecter = Callable[[str, JsonValues], str | None]


class _Table:
    """One entity's records in modification order, with natural-key indexes."""

    def __init__(self, keys: tuple[tuple[str, ...], ...]) -> None:
        self.rows: dict[str, tuple[int, dict[str, Any]]] = {}  # in modification order
        self.deleted: list[tuple[int, str]] = []
        self.indexes: dict[tuple[str, ...], dict[tuple[Any, ...], str]] = {k: {} for k in keys}
        #: field -> value -> ids, built on the first related read by that field, then kept
        self.related: dict[str, dict[str | None, set[str]]] = {}

    def put(self, record_id: str, seq: int, values: dict[str, Any]) -> None:
        old = self.rows.get(record_id)
        if old is not None:
            self._unindex(record_id, old[1])
            del self.rows[record_id]  # to the end: the newest
        self.rows[record_id] = (seq, values)
        for field, referring in self.related.items():
            referring.setdefault(_ref(values, field), set()).add(record_id)
        for fields, index in self.indexes.items():
            key = tuple(map(values.get, fields))
            if None not in key:
                index.setdefault(key, record_id)

    def remove(self, record_id: str, seq: int) -> None:
        _, values = self.rows.pop(record_id)
        self._unindex(record_id, values)
        self.deleted.append((seq, record_id))

    def referring(self, field: str, values: set[str]) -> list[str]:
        """Ids of the records whose `field` holds one of `values`, oldest change first."""
        index = self.related.get(field)
        if index is None:
            index = self.related[field] = {}
            for record_id, (_, row) in self.rows.items():
                index.setdefault(_ref(row, field), set()).add(record_id)
        found = set[str]().union(*(index.get(v, set()) for v in values))
        return sorted(found, key=lambda i: self.rows[i][0])

    def _unindex(self, record_id: str, values: dict[str, Any]) -> None:
        for field, related in self.related.items():
            related.get(_ref(values, field), set()).discard(record_id)
        for fields, index in self.indexes.items():
            key = tuple(values.get(f) for f in fields)
            if index.get(key) == record_id:
                del index[key]

    def remote(self, record_id: str, cls: type[Entity]) -> RemoteRecord:
        """A record as read: with its modification counter as version, and its kept JSON values
        (the model made from them when asked for: an echo of koppel's write needs none)."""
        seq, values = self.rows[record_id]
        return RemoteRecord.of(record_id, cls, values, version=str(seq))

    def newer_than(self, floor: float | None) -> list[tuple[str, int, dict[str, Any]]]:
        """Records modified after `floor`, oldest first, found by walking back from the newest."""
        found = []
        for record_id in reversed(self.rows):
            seq, values = self.rows[record_id]
            if floor is not None and seq <= floor:
                break
            found.append((record_id, seq, values))
        found.reverse()
        return found


def _contains(values: dict[str, Any], wanted: str) -> bool:
    """Whether a record's name or number contains `wanted` (casefolded; any record for none)."""
    if not wanted:
        return True
    return any(wanted in str(values[f]).casefold() for f in ("name", "number") if values.get(f) is not None)


def _ref(values: dict[str, Any], field: str) -> str | None:
    """A reference's value as an index key (ids are texts; other values are not references)."""
    value = values.get(field)
    return value if isinstance(value, str) else None


class MemoryConnector:
    """A peer system that lives in this process (optionally saved to a JSON file)."""


    def __init__(self, name: str, settings: MemorySettings | None = None) -> None:
        self.name = name
        self.settings = settings or MemorySettings()
        names = self.settings.entities or list(ORDER)
        self.tables = {e: _Table(entity_class(e).natural_keys) for e in names}
        self._seq = count(1)
        self._ids = count(1)
        self.rejecters: list[Rejecter] = []
        #: "entity.field"s this system silently ignores on write, as a CRM does with a custom
        #: field nobody defined (tests of write verification)
        self.dropped: set[str] = set()
        #: entity -> a field no two records may share, ignoring case (as a CRM's account names)
        self.unique: dict[str, str] = {}
        self.transient_failures = 0
        self.retry_after: float | None = None  # what a simulated 429 asks for
        #: writes whose answer is lost after they were applied (a connection cut mid-response)
        self.lost_answers = 0
        #: entity -> WriteOp.ref -> id of the record created with it (an external-reference field)
        self.refs: dict[str, dict[str, str]] = {e: {} for e in names}
        self.calls: dict[str, int] = {"write": 0, "delete": 0, "read": 0}
        self._load()

    # --- the contract -------------------------------------------------------------------

    def check(self) -> None:
        self.calls["check"] = self.calls.get("check", 0) + 1
        self._maybe_fail()

    def discover(self) -> Mapping[str, EntityInfo]:
        infos = {}
        for entity in self.tables:
            fields = frozenset(ENTITIES[entity].model_fields)
            infos[entity] = EntityInfo(readable=fields, writable=fields)
        return infos

    def read_changes(self, entity: str, cursor: str | None, *, batch_size: int = 500
                     ) -> Iterator[ChangeBatch]:
        self._maybe_fail()
        table, position = self.tables[entity], Cursor.load(cursor)
        floor = position.since(0)
        fresh = [r for r in table.newer_than(floor) if position.is_new(r[0], r[1])]
        cut = bisect_right(table.deleted, (floor or 0, "\uffff"))
        deleted = [rid for _, rid in table.deleted[cut:]]
        cls = entity_class(entity)
        for start in range(0, max(len(fresh), 1), batch_size):
            chunk = fresh[start:start + batch_size]
            position.advance(((rid, seq) for rid, seq, _ in chunk), lag=0)
            records = [table.remote(rid, cls) for rid, _, _ in chunk]
            last = start + batch_size >= len(fresh)
            if last and table.deleted:
                position.advance([], lag=0)
                position.stamp = max(position.stamp or 0, table.deleted[-1][0])
            yield ChangeBatch(records, deleted if last else [], position.dump())

    def read(self, entity: str, ids: Sequence[str]) -> list[RemoteRecord]:
        self.calls["read"] += 1
        table, cls = self.tables[entity], entity_class(entity)
        return [table.remote(i, cls) for i in ids if i in table.rows]

    def read_related(self, entity: str, field: str, ids: Sequence[str]) -> list[RemoteRecord]:
        self.calls["read_related"] = self.calls.get("read_related", 0) + 1
        self._maybe_fail()
        table, cls = self.tables[entity], entity_class(entity)
        return [table.remote(i, cls) for i in table.referring(field, {str(i) for i in ids})]

    def search(self, entity: str, text: str, *, page_size: int, fields: Collection[str] | None = None
               ) -> Iterator[list[RemoteRecord]]:
        """Records whose name or number contains `text` (ignoring case), oldest change first,
        a page at a time; each page read counts one `search` call, as a request would."""
        table, cls, wanted = self.tables[entity], entity_class(entity), text.casefold()

        def pages() -> Iterator[list[RemoteRecord]]:
            page: list[RemoteRecord] = []
            for record_id in list(table.rows):
                if record_id not in table.rows or not _contains(table.rows[record_id][1], wanted):
                    continue
                page.append(table.remote(record_id, cls))
                if len(page) == page_size:
                    self._searched()
                    yield page
                    page = []
            if page:
                self._searched()
                yield page

        return pages()

    def find(self, entity: str, keys: Sequence[JsonValues]) -> list[str | None]:
        table = self.tables[entity]
        found: list[str | None] = []
        for key in keys:
            fields = tuple(key)
            index = table.indexes.get(fields)
            if index is not None:
                found.append(index.get(tuple(key.values())))  # in the order of `fields`
                continue
            hits = [i for i, (_, v) in table.rows.items() if all(v.get(f) == key[f] for f in fields)]
            found.append(hits[0] if len(hits) == 1 else None)  # the one match, else none
        return found

    def find_references(self, entity: str, refs: Sequence[str]) -> list[str | None] | None:
        kept = self.refs[entity]
        return [kept[r] if kept.get(r) in self.tables[entity].rows else None for r in refs]

    def write(self, entity: str, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        self.calls["write"] += 1
        self._maybe_fail()
        outcomes = [self._write_one(entity, op) for op in ops]
        if self.lost_answers > 0:
            self.lost_answers -= 1
            raise TransientError(f"{self.name}: the connection broke before the answer (simulated)",
                                 system=self.name)
        return outcomes

    def delete(self, entity: str, ids: Sequence[str]) -> list[WriteOutcome]:
        self.calls["delete"] += 1
        self._maybe_fail()
        table, outcomes = self.tables[entity], []
        for record_id in ids:
            if record_id in table.rows:
                table.remove(record_id, next(self._seq))
            outcomes.append(WriteOutcome(record_id, record_id))
        return outcomes

    def close(self) -> None:
        if self.settings.path is not None:
            self._save(self.settings.path)

    # --- test and demo helpers ----------------------------------------------------------

    def put(self, entity: str, values: Mapping[str, Any], record_id: str | None = None) -> str:
        """Create or change a record as a user of this system would (validated, full values)."""
        table = self.tables[entity]
        old = table.rows.get(record_id) if record_id is not None else None
        record = entity_class(entity).load({**old[1], **values} if old is not None else values)
        record_id = record_id or f"{self.name}-{next(self._ids)}"
        table.put(record_id, next(self._seq), record.dump())
        return record_id

    def remove(self, entity: str, record_id: str) -> None:
        self.tables[entity].remove(record_id, next(self._seq))

    def get(self, entity: str, record_id: str) -> dict[str, Any]:
        return dict(self.tables[entity].rows[record_id][1])

    def ids(self, entity: str) -> list[str]:
        return list(self.tables[entity].rows)

    # --- internals ----------------------------------------------------------------------

    def _write_one(self, entity: str, op: WriteOp) -> WriteOutcome:
        for reject in self.rejecters:
            message = reject(entity, op.values)
            if message:
                return WriteOutcome(op.key, op.id, RecordError(message, system=self.name))
        if op.id is not None and op.id not in self.tables[entity].rows:
            return WriteOutcome(op.key, op.id, RecordError(
                f"{entity} {op.id} does not exist", system=self.name))
        values = {k: v for k, v in op.values.items() if f"{entity}.{k}" not in self.dropped} if self.dropped else op.values
        holder = self._holder(entity, values, op.id)
        if holder is not None:
            return WriteOutcome(op.key, op.id, UniqueCollision(
                f"{entity} {values[self.unique[entity]]!r} already exists", system=self.name,
                field=self.unique[entity], holder=holder))
        try:
            record_id = self.put(entity, values, op.id)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            return WriteOutcome(op.key, op.id, RecordError(str(exc), system=self.name))
        if op.id is None and op.ref:
            self.refs[entity][op.ref] = record_id
        table = self.tables[entity]
        return WriteOutcome(op.key, record_id, version=str(table.rows[record_id][0]),
                            stored=table.rows[record_id][1])

    def _holder(self, entity: str, values: Mapping[str, Any], record_id: str | None) -> str | None:
        field = self.unique.get(entity)
        if field is None or not values.get(field):
            return None
        wanted = str(values[field]).strip().casefold()
        return next((i for i, (_, v) in self.tables[entity].rows.items() if i != record_id
                     and str(v.get(field) or "").strip().casefold() == wanted), None)

    def _searched(self) -> None:
        self.calls["search"] = self.calls.get("search", 0) + 1
        self._maybe_fail()

    def _maybe_fail(self) -> None:
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TransientError(f"{self.name} is busy (simulated)", system=self.name,
                                 retry_after=self.retry_after)

    def _save(self, path: Path) -> None:
        tables = {e: {"rows": [[rid, seq, v] for rid, (seq, v) in t.rows.items()],
                      "deleted": t.deleted} for e, t in self.tables.items()}
        state = {"ids": next(self._ids), "seq": next(self._seq), "tables": tables}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, separators=(",", ":")))

    def _load(self) -> None:
        path = self.settings.path
        if path is not None and path.exists():
            state = json.loads(path.read_text())
            self._ids, self._seq = count(int(state["ids"])), count(int(state["seq"]))
            for entity, saved in state["tables"].items():
                table = self.tables[entity]
                for rid, seq, values in saved["rows"]:
                    table.put(rid, seq, values)
                table.deleted = [(seq, rid) for seq, rid in saved["deleted"]]
        elif self.settings.seed:
            from koppel.connectors.memory.demo import seed
            seed(self, self.settings.seed, self.settings.seed_accounts)


def create(system: str, settings: Mapping[str, Any]) -> MemoryConnector:
    """Entry-point factory: `connector = "memory"` in koppel.toml."""
    return MemoryConnector(system, MemorySettings.model_validate(dict(settings)))
