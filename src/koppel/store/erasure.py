"""Erasing a person from koppel's own state: snapshots, error payloads, conflict and violation
values, and the values in the audit trail, the one path that may rewrite audit rows (the
append-only trigger is lifted and restored inside the same transaction). The audit keeps that
the erasure happened, by whom and when, and nothing of the person."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, text, update

from koppel import clock
from koppel.store import tables as t
from koppel.store.base import Repository, dumps

_SQLITE_TRIGGER = ("CREATE TRIGGER audit_no_{verb} BEFORE {VERB} ON audit "
                   "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")


class Erasure(Repository):
    def scrub(self, entity: str, ids: Mapping[str, str], link_id: int | None,
              snapshot: Mapping[str, Any] | None, actor: str) -> dict[str, int]:
        """Scrub what koppel holds of one record (its id on each side in `ids`); count per kind."""
        records = [f"{side}:{record}" for side, record in ids.items()]
        mine = or_(*(and_(t.errors.c.source == side, t.errors.c.source_id == record) for side, record in ids.items()))
        with self.begin() as conn:
            counts = {"errors": conn.execute(update(t.errors).where(t.errors.c.entity == entity, mine).values(
                payload={}, message="(erased)")).rowcount}
            if link_id is not None and snapshot is not None:
                conn.execute(update(t.links).where(t.links.c.id == link_id).values(
                    snapshot=dumps(snapshot), synced_at=clock.now()))
                counts["conflicts"] = conn.execute(update(t.conflicts).where(t.conflicts.c.link_id == link_id).values(
                    base=None, erp_value=None, crm_value=None)).rowcount
            counts["violations"] = conn.execute(update(t.violations).where(
                t.violations.c.entity == entity, t.violations.c.record_id.in_(list(ids.values()))).values(
                attempted=None, restored=None)).rowcount
            counts["audit"] = self._scrub_audit(conn, entity, records)
            conn.execute(insert(t.audit).values(at=clock.now(), actor=actor, action="erase", entity=entity,
                                                record=", ".join(records), before=None, after=None,
                                                origin="erasure"))
        return counts

    def _scrub_audit(self, conn: Connection, entity: str, records: list[str]) -> int:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            for verb in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER audit_no_{verb}"))
        else:
            conn.execute(text("ALTER TABLE audit DISABLE TRIGGER audit_append_only"))
        count = conn.execute(update(t.audit).where(
            t.audit.c.entity == entity, or_(t.audit.c.record.in_(records), t.audit.c.origin.in_(records))).values(
            before=None, after=None)).rowcount
        if sqlite:
            for verb in ("update", "delete"):
                conn.execute(text(_SQLITE_TRIGGER.format(verb=verb, VERB=verb.upper())))
        else:
            conn.execute(text("ALTER TABLE audit ENABLE TRIGGER audit_append_only"))
        return int(count)

