"""The two systems bench/engine.py couples, built so that what it measures is the engine.

- `GeneratedERP`: N customers with a contact each, made from their number when read (nothing is
  held but the records changed since: a million records cost no memory); a change or a write
  is kept and read from then on, as in any system.
- `DiskCRM`: a system that keeps what it is sent in a SQLite file, validating every write as
  the memory connector does, with the version stamp of each record, its natural-key index and
  a change feed by modification sequence. Its memory does not grow with its size.

Both speak the connector contract (`koppel.connectors.base.Connector`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import count
from pathlib import Path
from typing import Any

import orjson

from koppel.connectors.base import ChangeBatch, EntityInfo, JsonValues, RemoteRecord, WriteOp, WriteOutcome
from koppel.errors import RecordError
from koppel.model import ENTITIES, Entity, entity_class

BENCH_ENTITIES = ("account", "contact")


class _BenchSystem:
    """What both systems answer alike: always reachable, every canonical field of the two
    entities readable and writable."""

    def check(self) -> None:
        return None

    def discover(self) -> Mapping[str, EntityInfo]:
        return {e: EntityInfo(readable=frozenset(ENTITIES[e].model_fields),
                              writable=frozenset(ENTITIES[e].model_fields)) for e in BENCH_ENTITIES}


def account_values(i: int) -> dict[str, Any]:
    return {"name": f"Customer {i}", "number": f"C{i:07d}", "vat_id": f"DE{i:09d}", "postcode": "10115",
            "currency": "EUR", "payment_term": "Net 30 days",
            "billing_address": {"street": f"Street {i}", "postcode": "10115", "city": "Berlin", "country": "DE"}}


def contact_values(i: int) -> dict[str, Any]:
    return {"first_name": "Anna", "last_name": f"Person {i}", "account": f"A{i}",
            "email": f"anna{i}@example.com", "invoice_recipient": True}


_MAKE = {"account": ("A", account_values), "contact": ("P", contact_values)}


class GeneratedERP(_BenchSystem):
    """N accounts (ids A0…) with one contact each (P0…), generated when read. Modification
    sequence: record i of an entity was last changed at i + 1; changes made later (`put`, a
    write) take the next numbers after N and are held."""

    name = "erp"

    def __init__(self, n: int) -> None:
        self.n = n
        self._seq = count(n + 1)
        self.changed: dict[str, dict[str, tuple[int, Entity]]] = {e: {} for e in BENCH_ENTITIES}
        self._classes = {e: entity_class(e) for e in BENCH_ENTITIES}

    def _index(self, entity: str, record_id: str) -> int | None:
        prefix = _MAKE[entity][0]
        if record_id.startswith(prefix) and record_id[1:].isdigit() and int(record_id[1:]) < self.n:
            return int(record_id[1:])
        return None

    def _record(self, entity: str, record_id: str) -> tuple[int, Entity] | None:
        if record_id in self.changed[entity]:
            return self.changed[entity][record_id]
        i = self._index(entity, record_id)
        if i is None:
            return None
        return i + 1, self._classes[entity].load(_MAKE[entity][1](i))

    def ids(self, entity: str) -> list[str]:
        return [f"{_MAKE[entity][0]}{i}" for i in range(self.n)]

    def put(self, entity: str, values: Mapping[str, Any], record_id: str) -> str:
        """Change a record as a user would."""
        found = self._record(entity, record_id)
        if found is None:
            raise KeyError(record_id)
        record = entity_class(entity).model_validate({**found[1].model_dump(mode="json"), **values})
        self.changed[entity][record_id] = (next(self._seq), record)
        return record_id

    # --- the contract -------------------------------------------------------------------

    def read_changes(self, entity: str, cursor: str | None, *, batch_size: int = 500) -> Iterator[ChangeBatch]:
        floor = int(cursor or 0)
        prefix, make = _MAKE[entity]
        validate = self._classes[entity].load
        changed = self.changed[entity]
        batch: list[RemoteRecord] = []
        position = floor
        for i in range(min(floor, self.n), self.n):
            record_id = f"{prefix}{i}"
            if record_id in changed:
                continue  # read at the sequence of its change
            batch.append(RemoteRecord(record_id, validate(make(i)), version=str(i + 1)))
            position = i + 1
            if len(batch) == batch_size:
                yield ChangeBatch(batch, [], str(position))
                batch = []
        for record_id, (seq, record) in sorted(changed.items(), key=lambda item: item[1][0]):
            if seq > floor:
                batch.append(RemoteRecord(record_id, record, version=str(seq)))
                position = seq
                if len(batch) == batch_size:
                    yield ChangeBatch(batch, [], str(position))
                    batch = []
        yield ChangeBatch(batch, [], str(position))

    def read(self, entity: str, ids: Sequence[str]) -> list[RemoteRecord]:
        found = ((i, self._record(entity, i)) for i in ids)
        return [RemoteRecord(i, f[1], version=str(f[0])) for i, f in found if f is not None]

    def find(self, entity: str, keys: Sequence[JsonValues]) -> list[str | None]:
        """By natural key: the generated values name their record (C0000012 is A12)."""
        found: list[str | None] = []
        for key in keys:
            hits = [i for i in self._candidates(entity, key)
                    if (r := self._record(entity, i)) is not None
                    and all(r[1].model_dump(mode="json").get(f) == v for f, v in key.items())]
            found.append(hits[0] if len(hits) == 1 else None)
        return found

    def _candidates(self, entity: str, key: JsonValues) -> list[str]:
        text = str(next(iter(key.values()), ""))
        digits = "".join(ch for ch in text if ch.isdigit())
        generated = [f"{_MAKE[entity][0]}{int(digits)}"] if digits else []
        return list(dict.fromkeys(generated + list(self.changed[entity])))

    def write(self, entity: str, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        outcomes = []
        for op in ops:
            if op.id is None or self._record(entity, op.id) is None:
                outcomes.append(WriteOutcome(op.key, op.id, RecordError("this system takes no new records",
                                                                          system=self.name)))
                continue
            try:
                self.put(entity, op.values, op.id)
            except ValueError as exc:
                outcomes.append(WriteOutcome(op.key, op.id, RecordError(str(exc), system=self.name)))
                continue
            outcomes.append(WriteOutcome(op.key, op.id, version=str(self.changed[entity][op.id][0])))
        return outcomes

    def delete(self, entity: str, ids: Sequence[str]) -> list[WriteOutcome]:
        return [WriteOutcome(i, i, RecordError("this system deletes nothing", system=self.name)) for i in ids]

    def close(self) -> None:
        return None


class DiskCRM(_BenchSystem):
    """A system keeping its records in a SQLite file: one row per record (its canonical JSON,
    validated on write), its modification sequence (the version stamp and the change feed),
    and an index of natural keys."""

    name = "crm"

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.executescript("""
            PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -16000;
            CREATE TABLE IF NOT EXISTS records (entity TEXT, id TEXT, seq INTEGER, body TEXT,
                                                PRIMARY KEY (entity, id));
            CREATE INDEX IF NOT EXISTS records_seq ON records (entity, seq);
            CREATE TABLE IF NOT EXISTS keys (entity TEXT, key TEXT, id TEXT, PRIMARY KEY (entity, key));
        """)
        top = self.db.execute("SELECT max(seq), count(*) FROM records").fetchone()
        self._seq = count((top[0] or 0) + 1)
        self._ids = count((top[1] or 0) + 1)

    def read_changes(self, entity: str, cursor: str | None, *, batch_size: int = 500) -> Iterator[ChangeBatch]:
        floor = int(cursor or 0)
        cls = entity_class(entity)
        while True:
            rows = self.db.execute("SELECT id, seq, body FROM records WHERE entity = ? AND seq > ? ORDER BY seq "
                                   "LIMIT ?", (entity, floor, batch_size)).fetchall()
            if rows:
                floor = rows[-1][1]
            yield ChangeBatch([RemoteRecord(i, cls.model_validate_json(b), version=str(s)) for i, s, b in rows],
                              [], str(floor))
            if len(rows) < batch_size:
                return

    def read(self, entity: str, ids: Sequence[str]) -> list[RemoteRecord]:
        cls, found = entity_class(entity), {}
        for start in range(0, len(ids), 900):
            chunk = list(ids[start:start + 900])
            marks = ", ".join("?" * len(chunk))
            for i, s, b in self.db.execute(f"SELECT id, seq, body FROM records WHERE entity = ? AND id IN ({marks})",
                                           (entity, *chunk)):
                found[i] = RemoteRecord(i, cls.model_validate_json(b), version=str(s))
        return [found[i] for i in ids if i in found]

    def find(self, entity: str, keys: Sequence[JsonValues]) -> list[str | None]:
        indexed = {tuple(sorted(fields)) for fields in entity_class(entity).natural_keys}
        wanted = [_key(k) for k in keys if tuple(sorted(k)) in indexed]
        hits: dict[str, str] = {}
        for start in range(0, len(wanted), 900):
            chunk = wanted[start:start + 900]
            hits.update(self.db.execute(f"SELECT key, id FROM keys WHERE entity = ? AND key IN "
                                        f"({', '.join('?' * len(chunk))})", (entity, *chunk)).fetchall())
        found: list[str | None] = []
        for key in keys:
            if tuple(sorted(key)) in indexed:
                found.append(hits.get(_key(key)))
                continue
            # a key without an index: the whole table is searched, as a system would
            where = " AND ".join("json_extract(body, ?) = ?" for _ in key)
            params = [x for f, v in key.items() for x in (f"$.{f}", v)]
            rows = self.db.execute(f"SELECT id FROM records WHERE entity = ? AND {where}",
                                   (entity, *params)).fetchall()
            found.append(rows[0][0] if len(rows) == 1 else None)
        return found

    def write(self, entity: str, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        cls = entity_class(entity)
        current = {r.id: r.record for r in self.read(entity, [op.id for op in ops if op.id is not None])}
        outcomes, rows, keys = [], [], []
        for op in ops:
            if op.id is not None and op.id not in current:
                outcomes.append(WriteOutcome(op.key, op.id, RecordError(f"{entity} {op.id} does not exist",
                                                                          system=self.name)))
                continue
            merged = {**current[op.id].model_dump(mode="json"), **op.values} if op.id else dict(op.values)
            try:
                record = cls.model_validate(merged)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                outcomes.append(WriteOutcome(op.key, op.id, RecordError(str(exc), system=self.name)))
                continue
            record_id, seq = op.id or f"crm-{next(self._ids)}", next(self._seq)
            rows.append((entity, record_id, seq, orjson.dumps(merged).decode()))  # read back through the model
            for fields in cls.natural_keys:
                parts = {f: getattr(record, f) for f in fields}
                if all(v not in (None, "") for v in parts.values()):
                    keys.append((entity, _key(parts), record_id))
            outcomes.append(WriteOutcome(op.key, record_id, version=str(seq), stored=record.model_dump(mode="json")))
        self.db.execute("BEGIN")
        self.db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)", rows)
        self.db.executemany("INSERT OR IGNORE INTO keys VALUES (?, ?, ?)", keys)
        self.db.execute("COMMIT")
        return outcomes

    def delete(self, entity: str, ids: Sequence[str]) -> list[WriteOutcome]:
        self.db.executemany("DELETE FROM records WHERE entity = ? AND id = ?", [(entity, i) for i in ids])
        return [WriteOutcome(i, i) for i in ids]

    def count(self, entity: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM records WHERE entity = ?", (entity,)).fetchone()[0])

    def get(self, entity: str, record_id: str) -> dict[str, Any]:
        [found] = self.read(entity, [record_id])
        return found.record.model_dump(mode="json")

    def close(self) -> None:
        self.db.close()


def _key(values: Mapping[str, Any]) -> str:
    return "|".join(f"{k}={values[k]}" for k in sorted(values))


#: the calls of the connector contract (and its related read) a bench system's time is taken in
TIMED_CALLS = ("check", "discover", "read_changes", "read", "read_related", "find", "find_references", "write",
               "delete")


def clock_calls(system: Any, spent: list[float]) -> None:
    """Wrap `system`'s contract calls so that their time adds up in `spent[0]` (a change read's
    time batch by batch, as the engine takes them): the simulated systems' own share of a load,
    which in production is another process's."""

    def timed(call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started
        return run

    def batches(call: Callable[..., Iterator[ChangeBatch]]) -> Callable[..., Iterator[ChangeBatch]]:
        def run(*args: Any, **kwargs: Any) -> Iterator[ChangeBatch]:
            found = timed(call)(*args, **kwargs)
            step = timed(lambda: next(found, None))
            while (batch := step()) is not None:
                yield batch
        return run

    for name in TIMED_CALLS:
        if hasattr(system, name):
            call = getattr(system, name)
            setattr(system, name, batches(call) if name == "read_changes" else timed(call))
