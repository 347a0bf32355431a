"""Change capture without a modified-since filter: scan a list, keep what the cursor knew.

Two ways, chosen per entity by its adapter. With `updated_at` in the list, the incremental
Cursor (lag + boundary de-dup) picks the changed rows. Without it, the cursor keeps a short
content hash per id and the next scan delivers the rows whose hash differs. Both keep every
known id, so a hard delete shows up as an id that went missing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from koppel.connectors.incremental import Cursor

Json = dict[str, Any]


def content_hash(values: Mapping[str, Any]) -> str:
    """Twelve hex digits of a stable hash: enough to tell versions of one record apart."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def stamp_of(row: Mapping[str, Any]) -> float | None:
    value = row.get("updated_at")
    return datetime.fromisoformat(str(value)).timestamp() if value else None


@dataclass
class ChangeCursor:
    """The opaque cursor: a stamp cursor (stamp entities) and the ids known, each with a hash."""

    stamp: Cursor = field(default_factory=Cursor)
    known: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> ChangeCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(Cursor.load(json.dumps(data.get("stamp") or {})), dict(data.get("known") or {}))

    def dump(self) -> str:
        return json.dumps({"stamp": json.loads(self.stamp.dump()), "known": self.known},
                          separators=(",", ":"))

    def deleted(self, present: Iterable[str]) -> list[str]:
        """Ids the cursor knew that the system no longer lists."""
        return sorted(set(self.known) - set(present))


@dataclass(frozen=True)
class Candidate:
    """A listed row that is new or changed since the cursor, with its version token."""

    id: str
    row: Json
    token: str
    stamp: float | None = None


def changed_by_stamp(rows: Iterable[Json], cursor: ChangeCursor, lag: float) -> list[Candidate]:
    """Rows modified after the cursor's stamp minus the lag, minus versions already delivered."""
    floor = cursor.stamp.since(lag)
    found = []
    for row in rows:
        record_id, stamp = str(row["id"]), stamp_of(row)
        if record_id in cursor.known and (
                stamp is None or (floor is not None and stamp < floor)
                or not cursor.stamp.is_new(record_id, stamp)):
            continue
        found.append(Candidate(record_id, row, "", stamp))
    return sorted(found, key=lambda c: (c.stamp or 0.0, c.id))


def changed_by_hash(hashed: Iterable[tuple[Json, str]], cursor: ChangeCursor) -> list[Candidate]:
    """Rows whose hash differs from the one the cursor kept (new ids have none), oldest first."""
    found = [Candidate(str(row["id"]), row, token) for row, token in hashed
             if cursor.known.get(str(row["id"])) != token]
    return sorted(found, key=lambda c: (str(c.row.get("created_at") or ""), c.id))


def advance(cursor: ChangeCursor, delivered: Iterable[Candidate], lag: float) -> None:
    """Remember delivered versions so the next read skips them."""
    delivered = list(delivered)
    cursor.stamp.advance(((c.id, c.stamp) for c in delivered if c.stamp is not None), lag)
    cursor.known.update({c.id: c.token for c in delivered})


def forget(cursor: ChangeCursor, deleted: Iterable[str]) -> None:
    for record_id in deleted:
        cursor.known.pop(record_id, None)
        cursor.stamp.seen.pop(record_id, None)
