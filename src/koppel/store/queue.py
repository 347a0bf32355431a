"""The error queue: records that could not be written wait here with the target's own message,
and records held back until what they reference is coupled (or their coupling trigger fires)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update

from koppel import clock
from koppel.errors import UsageError
from koppel.store import tables as t
from koppel.store.base import Repository, select_in


@dataclass(frozen=True)
class Parked:
    """A record to queue: what koppel tried, from where to where, and why it did not happen."""

    entity: str
    source: str
    source_id: str
    target: str
    operation: str  # create | update | revert | delete
    payload: Mapping[str, Any]
    error_class: str  # permanent | transient | waiting | trigger
    message: str
    status: str = "open"  # open, or held for a dependency
    run_id: int | None = None


@dataclass
class ErrorRow:
    id: int
    entity: str
    source: str
    source_id: str
    target: str
    operation: str
    payload: dict[str, Any]
    error_class: str
    message: str
    status: str
    attempts: int
    created_at: datetime
    edited: bool = False


class ErrorQueue(Repository):
    def add(self, rows: Sequence[Parked]) -> None:
        """Queue records; an earlier open or held entry for the same record is superseded."""
        if not rows:
            return
        now = clock.now()
        with self.begin() as conn:
            for r in rows:
                key = and_(t.errors.c.entity == r.entity, t.errors.c.source == r.source,
                           t.errors.c.source_id == r.source_id, t.errors.c.status.in_(["open", "held"]))
                previous = conn.execute(select(t.errors.c.attempts).where(key)).scalars().all()
                conn.execute(update(t.errors).where(key).values(status="superseded", updated_at=now))
                conn.execute(insert(t.errors).values({
                    **vars(r), "payload": dict(r.payload), "created_at": now, "updated_at": now,
                    "attempts": (max(previous) + 1) if previous else 1}))

    def held(self, entity: str, error_class: str = "waiting", status: str = "held") -> list[ErrorRow]:
        """Records held back for `entity`, waiting for a dependency (or a trigger); with status
        "open" and class "transient", those a system failed to take for a passing reason."""
        query = select(t.errors).where(t.errors.c.entity == entity, t.errors.c.status == status,
                                       t.errors.c.error_class == error_class).order_by(t.errors.c.id)
        with self.connect() as conn:
            return [_error(r) for r in conn.execute(query)]

    def list(self, status: str | None = "open", *, limit: int | None = None) -> list[ErrorRow]:
        query = select(t.errors).order_by(t.errors.c.id)
        if status:
            query = query.where(t.errors.c.status == status)
        if limit:
            query = query.limit(limit)
        with self.connect() as conn:
            return [_error(r) for r in conn.execute(query)]

    def get(self, error_id: int) -> ErrorRow:
        with self.connect() as conn:
            row = conn.execute(select(t.errors).where(t.errors.c.id == error_id)).first()
        if row is None:
            raise UsageError(f"no error {error_id} in the queue", hint="list them with `koppel errors list`")
        return _error(row)

    def set_status(self, error_ids: Iterable[int], status: str) -> None:
        with self.begin() as conn:
            conn.execute(update(t.errors).where(t.errors.c.id.in_(list(error_ids))).values(
                status=status, updated_at=clock.now()))

    def set_payload(self, error_id: int, payload: Mapping[str, Any]) -> None:
        with self.begin() as conn:
            conn.execute(update(t.errors).where(t.errors.c.id == error_id).values(
                payload=dict(payload), edited=True, updated_at=clock.now()))

    def close(self, error_ids: Iterable[int]) -> None:
        """Entries whose records went through: those still open or held are resolved (one that
        failed again was superseded by its new entry)."""
        ids = list(error_ids)
        if not ids:
            return
        with self.begin() as conn:
            conn.execute(update(t.errors).where(t.errors.c.id.in_(ids), t.errors.c.status.in_(["open", "held"]))
                         .values(status="resolved", updated_at=clock.now()))

    def resolve_for(self, entity: str, source: str, source_ids: Iterable[str]) -> None:
        """A record that went through closes its open error entries."""
        with self.begin() as conn:
            waiting = conn.execute(select(t.errors.c.id).where(
                t.errors.c.status.in_(["open", "held"]), t.errors.c.entity == entity,
                t.errors.c.source == source).limit(1)).first()
            if waiting is None:  # the usual case: nothing of this entity waits at all
                return
            found = [r[0] for r in select_in(conn, "SELECT id FROM errors WHERE entity = ? AND source = ? "
                                                   "AND status IN ('open', 'held') AND source_id IN",
                                             list(source_ids), entity, source)]
            if found:  # most records that go through had no entry: one look-up, no update
                conn.execute(update(t.errors).where(t.errors.c.id.in_(found)).values(
                    status="resolved", updated_at=clock.now()))

    def counts(self) -> dict[str, int]:
        query = select(t.errors.c.status, func.count()).group_by(t.errors.c.status)
        with self.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}


def _error(row: Any) -> ErrorRow:
    return ErrorRow(row.id, row.entity, row.source, row.source_id, row.target, row.operation,
                    row.payload, row.error_class, row.message, row.status, row.attempts, row.created_at,
                    bool(row.edited))
