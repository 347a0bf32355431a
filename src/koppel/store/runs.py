"""Runs (what each sync did), what the runs saw of each system, and the append-only audit trail."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from koppel import clock
from koppel.store import tables as t
from koppel.store.base import Repository, insert_many


class Runs(Repository):
    def start(self, kind: str, scope: str | None = None) -> int:
        with self.begin() as conn:
            result = conn.execute(insert(t.runs).values(
                kind=kind, scope=scope, status="running", started_at=clock.now()).returning(t.runs.c.id))
            return int(result.scalar_one())

    def finish(self, run_id: int, status: str, stats: Mapping[str, Any], message: str | None = None) -> None:
        with self.begin() as conn:
            conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(
                status=status, finished_at=clock.now(), stats=dict(stats), message=message))

    def last(self, limit: int = 10) -> list[dict[str, Any]]:
        query = select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        with self.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        """Runs by status, for the metrics."""
        query = select(t.runs.c.status, func.count()).group_by(t.runs.c.status)
        with self.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    def record_systems(self, reached: Iterable[str], failed: Mapping[str, str]) -> None:
        """After a run: the systems it reached are up; a system it could not reach is down (since
        the first such run), with the error."""
        for attempt in (1, 2):  # runs finishing side by side may both find a system's row missing
            try:
                return self._record_systems(reached, failed)
            except IntegrityError:
                if attempt == 2:
                    raise

    def _record_systems(self, reached: Iterable[str], failed: Mapping[str, str]) -> None:
        now = clock.now()
        with self.begin() as conn:
            known = {r.system: r for r in conn.execute(select(t.system_status))}
            for system in sorted({*reached, *failed}):  # one order: runs side by side never wait in a circle
                down = system in failed
                row = known.get(system)
                values = {"up": not down, "checked_at": now,
                          "last_success_at": (row.last_success_at if row else None) if down else now,
                          "down_since": ((row.down_since if row and not row.up else now) if down else None),
                          "last_error": failed.get(system) if down else (row.last_error if row else None)}
                if row is None:
                    conn.execute(insert(t.system_status).values(system=system, **values))
                else:
                    conn.execute(update(t.system_status).where(t.system_status.c.system == system).values(**values))

    def systems(self) -> dict[str, dict[str, Any]]:
        """What the last runs saw of each system (empty before the first run)."""
        with self.connect() as conn:
            return {r.system: {k: v for k, v in r._mapping.items() if k != "system"}
                    for r in conn.execute(select(t.system_status))}


@dataclass  # not frozen: one is made per record written, and a frozen one costs twice as much
class AuditEntry:
    """One line of the audit trail: who did what to which record, and where it came from."""

    actor: str
    action: str
    record: str
    entity: str | None = None
    before: Any = None
    after: Any = None
    origin: str | None = None
    run_id: int | None = None


#: an audit entry's columns, in the order Audit.add gives them
_ENTRY = ("actor", "action", "record", "entity", "before", "after", "origin", "run_id")


class Audit(Repository):
    """Who changed what, where and why; the database refuses to update or delete it."""

    def add(self, entries: Sequence[AuditEntry]) -> None:
        if entries:
            with self.begin() as conn:
                insert_many(conn, t.audit, _ENTRY, [(e.actor, e.action, e.record, e.entity, e.before, e.after,
                                                     e.origin, e.run_id) for e in entries], {"at": clock.now()})

    def entries(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.connect() as conn:
            query = select(t.audit).order_by(t.audit.c.id.desc()).limit(limit)
            return [dict(r._mapping) for r in conn.execute(query)]
