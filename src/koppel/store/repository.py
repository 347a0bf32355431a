"""The store's repository: every SQL statement koppel runs lives here.

SQLite file by default, PostgreSQL by URL. Opening a store brings its schema to the newest
migration. Writes that the executor makes per batch are batched here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, and_, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Connection

from koppel import clock
from koppel.errors import UsageError
from koppel.store import tables as t
from koppel.store.erasure import Erasure
from koppel.store.jobs import JobQueue
from koppel.store.proposals import Proposals
from koppel.store.submissions import Submissions
from koppel.store.workspace import WorkspaceStore


@dataclass
class LinkRow:
    """One coupled record: its id on each side and the last-synced value of every field."""

    id: int
    entity: str
    erp_id: str
    crm_id: str
    snapshot: dict[str, Any]

    def id_on(self, side: str) -> str:
        return self.erp_id if side == "erp" else self.crm_id


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


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


_LINK_COLUMNS = (t.links.c.id, t.links.c.entity, t.links.c.erp_id, t.links.c.crm_id, t.links.c.snapshot)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Store(WorkspaceStore, JobQueue, Proposals, Submissions, Erasure):
    """koppel's state behind one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and migrate to the newest schema."""
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        store.migrate()
        return store

    def migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(files("koppel.store").joinpath("migrations")))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    # --- links --------------------------------------------------------------------------

    def links_by_ids(self, entity: str, side: str, ids: Iterable[str]) -> dict[str, LinkRow]:
        """Links of records known by their id on `side`, keyed by that id."""
        column = t.links.c.erp_id if side == "erp" else t.links.c.crm_id
        wanted = list(set(ids))
        found: dict[str, LinkRow] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 900):
                chunk = wanted[start:start + 900]
                query = select(*_LINK_COLUMNS).where(t.links.c.entity == entity, column.in_(chunk))
                for row in conn.execute(query):
                    link = _link(row)
                    found[link.id_on(side)] = link
        return found

    def links_by_link_ids(self, link_ids: Iterable[int]) -> dict[int, LinkRow]:
        wanted = list(set(link_ids))
        found: dict[int, LinkRow] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 900):
                query = select(*_LINK_COLUMNS).where(t.links.c.id.in_(wanted[start:start + 900]))
                found.update((row.id, _link(row)) for row in conn.execute(query))
        return found

    def ids_on(self, side: str, link_ids: Iterable[int]) -> dict[int, str]:
        """The id on `side` of each link, without loading snapshots."""
        wanted = list(set(link_ids))
        column = t.links.c.erp_id if side == "erp" else t.links.c.crm_id
        found: dict[int, str] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 900):
                query = select(t.links.c.id, column).where(t.links.c.id.in_(wanted[start:start + 900]))
                found.update((row[0], row[1]) for row in conn.execute(query))
        return found

    def add_links(self, entity: str, rows: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Record new couplings (erp_id, crm_id, snapshot) in one transaction."""
        if not rows:
            return
        now = clock.now()
        values = [{"entity": entity, "erp_id": e, "crm_id": c, "snapshot": _dumps(s),
                   "synced_at": now} for e, c, s in rows]
        with self.engine.begin() as conn:
            conn.execute(insert(t.links), values)

    def update_snapshots(self, snapshots: Mapping[int, Mapping[str, Any]]) -> None:
        if not snapshots:
            return
        now = clock.now()
        statement = update(t.links).where(t.links.c.id == _bind("link_id")).values(
            snapshot=_bind("snap"), synced_at=now)
        with self.engine.begin() as conn:
            conn.execute(statement, [{"link_id": k, "snap": _dumps(v)} for k, v in snapshots.items()])

    def delete_links(self, link_ids: Iterable[int]) -> None:
        ids = list(link_ids)
        if ids:
            with self.engine.begin() as conn:
                conn.execute(delete(t.links).where(t.links.c.id.in_(ids)))

    def all_links(self, entity: str) -> list[LinkRow]:
        with self.engine.connect() as conn:
            return [_link(r) for r in conn.execute(
                select(t.links).where(t.links.c.entity == entity).order_by(t.links.c.id))]

    def link_counts(self) -> dict[str, int]:
        query = select(t.links.c.entity, func.count()).group_by(t.links.c.entity)
        with self.engine.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    # --- cursors ------------------------------------------------------------------------

    def cursor(self, system: str, entity: str) -> str | None:
        query = select(t.cursors.c.value).where(t.cursors.c.system == system,
                                                t.cursors.c.entity == entity)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def set_cursor(self, system: str, entity: str, value: str) -> None:
        key = and_(t.cursors.c.system == system, t.cursors.c.entity == entity)
        with self.engine.begin() as conn:
            changed = conn.execute(update(t.cursors).where(key).values(
                value=value, updated_at=clock.now())).rowcount
            if not changed:
                conn.execute(insert(t.cursors).values(system=system, entity=entity, value=value,
                                                      updated_at=clock.now()))

    def reset_cursors(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.cursors))

    # --- runs ---------------------------------------------------------------------------

    def start_run(self, kind: str, scope: str | None = None) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(insert(t.runs).values(
                kind=kind, scope=scope, status="running", started_at=clock.now()).returning(t.runs.c.id))
            return int(result.scalar_one())

    def finish_run(self, run_id: int, status: str, stats: Mapping[str, Any], message: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(
                status=status, finished_at=clock.now(), stats=dict(stats), message=message))

    def record_systems(self, reached: Iterable[str], failed: Mapping[str, str]) -> None:
        """After a run: the systems it reached are up; a system it could not reach is down (since
        the first such run), with the error."""
        now = clock.now()
        with self.engine.begin() as conn:
            known = {r.system: r for r in conn.execute(select(t.system_status))}
            for system in {*reached, *failed}:
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
        with self.engine.connect() as conn:
            return {r.system: {k: v for k, v in r._mapping.items() if k != "system"}
                    for r in conn.execute(select(t.system_status))}

    def last_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        query = select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # --- audit, violations, conflicts ---------------------------------------------------

    def audit(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Append to the audit trail (it is never updated or deleted)."""
        if entries:
            now = clock.now()
            with self.engine.begin() as conn:
                conn.execute(insert(t.audit), [{"at": now, "origin": None, "before": None,
                                                "after": None, "run_id": None, **e} for e in entries])

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = select(t.audit).order_by(t.audit.c.id.desc()).limit(limit)
            return [dict(r._mapping) for r in conn.execute(query)]

    def add_violations(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            now = clock.now()
            with self.engine.begin() as conn:
                conn.execute(insert(t.violations), [{"at": now, "status": "open", "changed_by": None,
                                                     "run_id": None, **r} for r in rows])

    def violations(self, status: str | None = "open") -> list[dict[str, Any]]:
        query = select(t.violations).order_by(t.violations.c.id)
        if status:
            query = query.where(t.violations.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def add_conflicts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            now = clock.now()
            with self.engine.begin() as conn:
                conn.execute(insert(t.conflicts), [{"status": "open", "created_at": now, **r} for r in rows])

    def conflicts(self, status: str | None = "open") -> list[dict[str, Any]]:
        query = select(t.conflicts).order_by(t.conflicts.c.id)
        if status:
            query = query.where(t.conflicts.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def open_conflict_fields(self, link_ids: Iterable[int]) -> set[tuple[int, str]]:
        ids = list(link_ids)
        if not ids:
            return set()
        query = select(t.conflicts.c.link_id, t.conflicts.c.field).where(
            t.conflicts.c.status == "open", t.conflicts.c.link_id.in_(ids))
        with self.engine.connect() as conn:
            return {(r[0], r[1]) for r in conn.execute(query)}

    def resolve_conflict(self, conflict_id: int, winner: str, actor: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            row = conn.execute(select(t.conflicts).where(t.conflicts.c.id == conflict_id)).first()
            if row is None or row.status != "open":
                raise UsageError(f"no open conflict {conflict_id}",
                                 hint="list them with `koppel conflicts list`")
            conn.execute(update(t.conflicts).where(t.conflicts.c.id == conflict_id).values(
                status="resolved", resolution=winner, resolved_at=clock.now(), resolved_by=actor))
            return dict(row._mapping)

    # --- the error queue ----------------------------------------------------------------

    def add_errors(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Park records; an earlier open or held entry for the same record is superseded."""
        if not rows:
            return
        now = clock.now()
        with self.engine.begin() as conn:
            for r in rows:
                key = and_(t.errors.c.entity == r["entity"], t.errors.c.source == r["source"],
                           t.errors.c.source_id == r["source_id"],
                           t.errors.c.status.in_(["open", "held"]))
                previous = conn.execute(select(t.errors.c.attempts).where(key)).scalars().all()
                conn.execute(update(t.errors).where(key).values(status="superseded", updated_at=now))
                conn.execute(insert(t.errors).values({
                    "status": "open", "created_at": now, "updated_at": now,
                    "attempts": (max(previous) + 1) if previous else 1, **r}))

    def held(self, entity: str, error_class: str = "waiting", status: str = "held") -> list[ErrorRow]:
        """Records held back for `entity`, waiting for a dependency (or a trigger); with status
        "open" and class "transient", those a system failed to take for a passing reason."""
        query = select(t.errors).where(t.errors.c.entity == entity, t.errors.c.status == status,
                                       t.errors.c.error_class == error_class).order_by(t.errors.c.id)
        with self.engine.connect() as conn:
            return [_error(r) for r in conn.execute(query)]

    def errors(self, status: str | None = "open", *, limit: int | None = None) -> list[ErrorRow]:
        query = select(t.errors).order_by(t.errors.c.id)
        if status:
            query = query.where(t.errors.c.status == status)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_error(r) for r in conn.execute(query)]

    def error(self, error_id: int) -> ErrorRow:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.errors).where(t.errors.c.id == error_id)).first()
        if row is None:
            raise UsageError(f"no error {error_id} in the queue", hint="list them with `koppel errors list`")
        return _error(row)

    def set_error_status(self, error_ids: Iterable[int], status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.errors).where(t.errors.c.id.in_(list(error_ids))).values(
                status=status, updated_at=clock.now()))

    def set_error_payload(self, error_id: int, payload: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.errors).where(t.errors.c.id == error_id).values(
                payload=dict(payload), edited=True, updated_at=clock.now()))

    def resolve_errors_for(self, entity: str, source: str, source_ids: Iterable[str]) -> None:
        """A record that went through closes its open error entries."""
        ids = list(source_ids)
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(update(t.errors).where(
                t.errors.c.entity == entity, t.errors.c.source == source,
                t.errors.c.source_id.in_(ids),
                t.errors.c.status.in_(["open", "held"]),
            ).values(status="resolved", updated_at=clock.now()))

    def error_counts(self) -> dict[str, int]:
        query = select(t.errors.c.status, func.count()).group_by(t.errors.c.status)
        with self.engine.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    def connection(self) -> Connection:
        return self.engine.connect()


def _bind(name: str) -> Any:
    from sqlalchemy import bindparam
    return bindparam(name)


def _link(row: Any) -> LinkRow:
    return LinkRow(row.id, row.entity, row.erp_id, row.crm_id, json.loads(row.snapshot))


def _error(row: Any) -> ErrorRow:
    return ErrorRow(row.id, row.entity, row.source, row.source_id, row.target, row.operation,
                    row.payload, row.error_class, row.message, row.status, row.attempts, row.created_at,
                    bool(row.edited))
