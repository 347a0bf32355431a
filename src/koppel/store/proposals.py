"""Match proposals in the store: pairs of existing records for a person to couple or keep apart."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, insert, or_, select, update

from koppel import clock
from koppel.store import tables as t
from koppel.store.base import Repository, select_in


@dataclass(frozen=True)
class ProposalRow:
    id: int
    entity: str
    erp_id: str
    crm_id: str
    copy_side: str | None
    copy_id: str | None
    field: str | None
    alias: str | None
    reason: str
    confidence: float
    status: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None

    def id_on(self, side: str) -> str:
        return self.erp_id if side == "erp" else self.crm_id


class Proposals(Repository):
    def add(self, entity: str, erp_id: str, crm_id: str, reason: str, confidence: float,
                     *, copy: tuple[str, str] | None = None, field: str | None = None,
                     alias: str | None = None, status: str = "open") -> int | None:
        """Record a proposal unless the same pair is already proposed (open or decided)."""
        with self.begin() as conn:
            same = conn.execute(select(t.match_proposals.c.id).where(
                t.match_proposals.c.entity == entity, t.match_proposals.c.erp_id == erp_id,
                t.match_proposals.c.crm_id == crm_id)).first()
            if same is not None:
                return None
            result = conn.execute(insert(t.match_proposals).values(
                entity=entity, erp_id=erp_id, crm_id=crm_id, copy_side=copy[0] if copy else None,
                copy_id=copy[1] if copy else None, field=field, alias=alias,
                reason=reason, confidence=confidence, status=status, created_at=clock.now(),
                decided_at=None if status == "open" else clock.now(),
                decided_by=None if status == "open" else "koppel").returning(t.match_proposals.c.id))
            return int(result.scalar_one())

    def list(self, entity: str | None = None, status: str | None = "open") -> list[ProposalRow]:
        query = select(t.match_proposals).order_by(t.match_proposals.c.confidence.desc(),
                                                   t.match_proposals.c.id)
        if entity:
            query = query.where(t.match_proposals.c.entity == entity)
        if status:
            query = query.where(t.match_proposals.c.status == status)
        with self.connect() as conn:
            return [ProposalRow(**dict(r._mapping)) for r in conn.execute(query)]

    def get(self, proposal_id: int) -> ProposalRow | None:
        with self.connect() as conn:
            row = conn.execute(select(t.match_proposals).where(t.match_proposals.c.id == proposal_id)).first()
        return ProposalRow(**dict(row._mapping)) if row is not None else None

    @staticmethod
    def _any(conn: Connection, entity: str, condition: ColumnElement[bool]) -> bool:
        """Does any proposal of `entity` meet `condition`? (Most batches: none, and no look-up.)"""
        return conn.execute(select(t.match_proposals.c.id).where(
            t.match_proposals.c.entity == entity, condition).limit(1)).first() is not None

    def proposed_ids(self, entity: str, side: str, ids: Iterable[str]) -> dict[str, int]:
        """Of these record ids, those in an open proposal that is not a collision: id -> proposal."""
        column, ids = "erp_id" if side == "erp" else "crm_id", list(ids)
        if not ids:
            return {}
        with self.connect() as conn:
            if not self._any(conn, entity, t.match_proposals.c.status == "open"):
                return {}  # the usual case: nothing of this entity waits for a person
            rows = select_in(conn, f"SELECT {column}, id FROM match_proposals WHERE entity = ? AND status = 'open' "
                                   f"AND copy_id IS NULL AND {column} IN", list(ids), entity)
        return {str(r[0]): int(r[1]) for r in rows}

    def aliases(self, entity: str, side: str, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Copies created under another name after a unique collision: copy id -> (field, alias)."""
        ids = list(ids)
        if not ids:
            return {}
        with self.connect() as conn:
            if not self._any(conn, entity, t.match_proposals.c.copy_id.is_not(None)):
                return {}  # no copy was ever made under another name
            rows = select_in(conn, "SELECT copy_id, field, alias FROM match_proposals WHERE entity = ? "
                                   "AND copy_side = ? AND status != 'coupled' AND copy_id IN", list(ids), entity, side)
        return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}

    def kept_apart(self, entity: str, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Of these (erp id, crm id) pairs, those a person decided are two different records."""
        wanted = set(pairs)
        if not wanted:
            return set()
        query = select(t.match_proposals.c.erp_id, t.match_proposals.c.crm_id).where(
            t.match_proposals.c.entity == entity, t.match_proposals.c.status == "apart",
            t.match_proposals.c.erp_id.in_([e for e, _ in wanted]))
        with self.connect() as conn:
            return {(str(r[0]), str(r[1])) for r in conn.execute(query)} & wanted

    def decide(self, proposal_id: int, status: str, actor: str) -> None:
        with self.begin() as conn:
            conn.execute(update(t.match_proposals).where(t.match_proposals.c.id == proposal_id).values(
                status=status, decided_at=clock.now(), decided_by=actor))

    def close_of(self, entity: str, erp_id: str, crm_id: str, actor: str) -> None:
        """Other open proposals of either record are moot once it is coupled."""
        with self.begin() as conn:
            conn.execute(update(t.match_proposals).where(
                t.match_proposals.c.entity == entity, t.match_proposals.c.status == "open",
                or_(t.match_proposals.c.erp_id == erp_id, t.match_proposals.c.crm_id == crm_id)).values(
                status="superseded", decided_at=clock.now(), decided_by=actor))

