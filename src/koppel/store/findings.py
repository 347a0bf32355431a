"""What a person decides on: conflicts (both systems changed a field differently) and
violations (a system changed data it does not own, and koppel wrote the owner's value back)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from koppel import clock
from koppel.errors import UsageError
from koppel.store import tables as t
from koppel.store.base import Repository, select_in


@dataclass(frozen=True)
class ConflictRow:
    """A field both systems changed to different values since the last sync."""

    id: int
    entity: str
    link_id: int
    field: str
    base: Any
    erp_value: Any
    crm_value: Any
    status: str  # open | resolved
    resolution: str | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None

    def value_of(self, side: str) -> Any:
        return self.erp_value if side == "erp" else self.crm_value


@dataclass(frozen=True)
class ViolationRow:
    """An edit a system made to data it does not own, and what koppel wrote back."""

    id: int
    at: datetime
    entity: str
    system: str
    record_id: str
    field: str | None
    attempted: Any
    restored: Any
    changed_by: str | None
    status: str  # open | acknowledged
    run_id: int | None


class Findings(Repository):
    def add_conflicts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            now = clock.now()
            with self.begin() as conn:
                conn.execute(insert(t.conflicts), [{"status": "open", "created_at": now, **r} for r in rows])

    def conflicts(self, status: str | None = "open") -> list[ConflictRow]:
        query = select(t.conflicts).order_by(t.conflicts.c.id)
        if status:
            query = query.where(t.conflicts.c.status == status)
        with self.connect() as conn:
            return [ConflictRow(**r._mapping) for r in conn.execute(query)]

    def conflict(self, conflict_id: int) -> ConflictRow | None:
        with self.connect() as conn:
            row = conn.execute(select(t.conflicts).where(t.conflicts.c.id == conflict_id)).first()
        return ConflictRow(**row._mapping) if row is not None else None

    def open_conflict_fields(self, link_ids: Iterable[int]) -> set[tuple[int, str]]:
        with self.connect() as conn:
            rows = select_in(conn, "SELECT link_id, field FROM conflicts WHERE status = 'open' AND link_id IN",
                             list(link_ids))
        return {(r[0], r[1]) for r in rows}

    def resolve_conflict(self, conflict_id: int, winner: str, actor: str) -> ConflictRow:
        with self.begin() as conn:
            row = conn.execute(select(t.conflicts).where(t.conflicts.c.id == conflict_id)).first()
            if row is None or row.status != "open":
                raise UsageError(f"no open conflict {conflict_id}",
                                 hint="list them with `koppel conflicts list`")
            conn.execute(update(t.conflicts).where(t.conflicts.c.id == conflict_id).values(
                status="resolved", resolution=winner, resolved_at=clock.now(), resolved_by=actor))
            return ConflictRow(**row._mapping)

    def add_violations(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            now = clock.now()
            with self.begin() as conn:
                conn.execute(insert(t.violations), [{"at": now, "status": "open", "changed_by": None,
                                                     "run_id": None, **r} for r in rows])

    def violations(self, status: str | None = "open") -> list[ViolationRow]:
        query = select(t.violations).order_by(t.violations.c.id)
        if status:
            query = query.where(t.violations.c.status == status)
        with self.connect() as conn:
            return [ViolationRow(**r._mapping) for r in conn.execute(query)]

    def acknowledge_violation(self, violation_id: int) -> ViolationRow | None:
        """Mark a violation seen; None if there is no such violation."""
        with self.begin() as conn:
            changed = conn.execute(update(t.violations).where(t.violations.c.id == violation_id)
                                   .values(status="acknowledged")).rowcount
            if not changed:
                return None
            row = conn.execute(select(t.violations).where(t.violations.c.id == violation_id)).one()
        return ViolationRow(**row._mapping)
