"""Change capture without a modified-since filter: scan a list, keep what the cursor knew.

Two ways, chosen per entity by its adapter. With `updated_at` in the list, the incremental
Cursor (lag + boundary de-dup) picks the changed rows. Without it, the cursor keeps a short
content hash per id and the next scan delivers the rows whose hash differs. Both keep every
known id, so a hard delete shows up as an id that went missing.

Between scans, BottleCRM's activity feed (`activities/`: newest first, at most 50, one row per
create, update or delete made in a request) names the records that changed since the feed
position the cursor keeps; only those are read. The feed functions here are pure: which
records the rows name, and whether the 50 rows reach back to the position (else: scan).
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
    """The opaque cursor: a stamp cursor (stamp entities), the ids known, each with a hash, and
    the activity feed's position (None: no position yet, the next read scans)."""

    stamp: Cursor = field(default_factory=Cursor)
    known: dict[str, str] = field(default_factory=dict)
    feed: Cursor | None = None

    @classmethod
    def load(cls, text: str | None) -> ChangeCursor:
        if not text:
            return cls()
        data = json.loads(text)
        feed = data.get("feed")  # absent in cursors written before the feed was read
        return cls(Cursor.load(json.dumps(data.get("stamp") or {})), dict(data.get("known") or {}),
                   None if feed is None else Cursor.load(json.dumps(feed)))

    def dump(self) -> str:
        data: dict[str, Any] = {"stamp": json.loads(self.stamp.dump()), "known": self.known}
        if self.feed is not None:
            data["feed"] = json.loads(self.feed.dump())
        return json.dumps(data, separators=(",", ":"))

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


# --- the activity feed ---------------------------------------------------------------------

#: BottleCRM's maximum page of `activities/` (it has no offset and no "since")
FEED_LIMIT = 50


@dataclass(frozen=True)
class Activity:
    """One row of the feed: `action` was done to record `entity_id` of `entity_type` at `stamp`."""

    id: str
    action: str
    entity_type: str
    entity_id: str
    stamp: float


def activities(answer: Mapping[str, Any]) -> list[Activity] | None:
    """The rows of a `GET activities/` answer (`{"activities": [...]}`), malformed rows left out;
    None when the answer is not a feed at all (then it cannot vouch that nothing changed)."""
    rows = answer.get("activities")
    if not isinstance(rows, list):
        return None
    found = []
    for row in rows:
        try:
            stamp = datetime.fromisoformat(str(row["timestamp"])).timestamp()
            found.append(Activity(str(row["id"]), str(row.get("action") or ""), str(row.get("entity_type") or ""),
                                  str(row["entity_id"]), stamp))
        except (KeyError, TypeError, ValueError):
            continue
    return found


@dataclass(frozen=True)
class FeedNews:
    """What one read of the feed says since a position."""

    #: the records new activities name, oldest activity first, each once
    ids: list[str]
    #: the rows do not reach back to the position: more may have happened than 50 rows show
    overflowed: bool


def news(rows: Iterable[Activity], entity_type: str, position: Cursor, lag: float,
         limit: int = FEED_LIMIT) -> FeedNews:
    """The records of `entity_type` named by activities newer than the position minus `lag`,
    less the activities already taken (the position's boundary de-dup).

    A full page whose every row is newer than the position has overflowed: activities between
    the position and its last row may be missing. A page that reaches back to the position holds
    everything since, but for a late commit inside the lag window that fell off a full page (the
    nightly scan's to catch). Measuring from the position, not the window's start, matters: a
    burst of 50 writes within `lag` seconds would otherwise look like an overflow at every poll."""
    rows = list(rows)
    floor = position.since(lag)
    overflowed = len(rows) >= limit and (position.stamp is None or all(a.stamp > position.stamp for a in rows))
    new = sorted((a for a in rows if a.entity_type == entity_type and (floor is None or a.stamp >= floor)
                  and position.is_new(a.id, a.stamp)), key=lambda a: (a.stamp, a.id))
    return FeedNews(list(dict.fromkeys(a.entity_id for a in new)), overflowed)


def moved(position: Cursor | None, rows: Iterable[Activity], lag: float) -> Cursor:
    """The position after `rows` were read (a copy; from no position: the newest of `rows`)."""
    after = Cursor(position.stamp, dict(position.seen)) if position is not None else Cursor()
    after.advance(((a.id, a.stamp) for a in rows), lag)
    return after
