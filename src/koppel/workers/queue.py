"""One way for the front ends (API, workspace, command line) to queue and list jobs, whoever
runs them: koppel's own queue in the store, or Procrastinate's workers (fleet.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, text

from koppel import clock
from koppel.config.settings import Settings
from koppel.engine.jobs import LOCK
from koppel.store import Store
from koppel.workers import fleet

#: Procrastinate's job states in koppel's words (those of its own queue)
STATUS = {"todo": "queued", "doing": "running", "succeeded": "done", "failed": "failed",
          "cancelled": "cancelled", "aborting": "running", "aborted": "failed"}


#: the window over which jobs per minute are counted
RATE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class FleetStatus:
    """The job runners at a glance: who works, what waits, how long, how fast."""

    runner: str  # embedded | procrastinate
    workers: list[dict[str, Any]] = field(default_factory=list)  # id, last_heartbeat, alive
    waiting: dict[str, int] = field(default_factory=dict)  # job kind -> jobs waiting
    running: int = 0
    oldest_waiting: datetime | None = None  # since when the longest-waiting job waits
    per_minute: float = 0.0  # jobs finished per minute over the last ten minutes

    def as_dict(self) -> dict[str, Any]:
        return {"runner": self.runner, "workers": self.workers, "waiting": self.waiting, "running": self.running,
                "oldest_waiting": self.oldest_waiting, "per_minute": self.per_minute}


class JobQueue(Protocol):
    def enqueue(self, kind: str, payload: dict[str, Any]) -> int | None:
        """Queue a job; None where the same sync waits already."""

    def busy(self) -> bool:
        """Is a job running now?"""

    def jobs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest jobs (in the shape of koppel's own queue rows), optionally of one status."""

    def fleet(self) -> FleetStatus:
        """Workers, jobs waiting per kind, the oldest waiting, jobs finished per minute."""


class EmbeddedQueue:
    """koppel's own queue in the store, run by `koppel run` in one process."""

    def __init__(self, store: Store, stale_after: float = 300) -> None:
        self.store = store
        self.stale_after = timedelta(seconds=stale_after)  # a running job quiet for longer: its process died

    def enqueue(self, kind: str, payload: dict[str, Any]) -> int | None:
        return self.store.jobs.enqueue(kind, payload, lock_key=LOCK)

    def busy(self) -> bool:
        return bool(self.store.jobs.list("running", 1))

    def jobs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return self.store.jobs.list(status, limit)

    def fleet(self) -> FleetStatus:
        since = clock.now() - RATE_WINDOW
        with self.store.connection() as conn:
            waiting: dict[Any, Any] = dict(conn.execute(text(
                "SELECT kind, count(*) FROM jobs WHERE status = 'queued' GROUP BY kind")).all())
            oldest = conn.execute(text("SELECT min(created_at) FROM jobs WHERE status = 'queued'")).scalar()
            running = conn.execute(text("SELECT count(*) FROM jobs WHERE status = 'running'")).scalar()
            finished = conn.execute(text("SELECT count(*) FROM jobs WHERE status IN ('done', 'failed') "
                                         "AND updated_at >= :since"), {"since": since}).scalar()
        beats: dict[str, datetime] = {}  # the process running a job -> its job's last heartbeat
        for job in self.store.jobs.list("running", 50):
            if holder := job["locked_by"]:
                beats[holder] = max(job["updated_at"], beats.get(holder, job["updated_at"]))
        alive = clock.now() - self.stale_after
        workers = [{"id": h, "last_heartbeat": beat, "alive": beat >= alive} for h, beat in sorted(beats.items())]
        return FleetStatus("embedded", workers,
                           {str(k): int(n) for k, n in waiting.items()}, int(running or 0), _moment(oldest),
                           round(int(finished or 0) / (RATE_WINDOW.total_seconds() / 60), 2))


class FleetQueue:
    """Procrastinate's queue in the store's PostgreSQL database, run by `koppel worker`s."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store

    def enqueue(self, kind: str, payload: dict[str, Any]) -> int | None:
        return fleet.defer(self.settings, kind, payload)

    def busy(self) -> bool:
        return bool(self.jobs("running", 1))

    def jobs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        wanted = [k for k, v in STATUS.items() if v == status] if status else list(STATUS)
        query = text("""
            SELECT j.id, j.task_name, j.status::text AS status, j.attempts, j.args, j.scheduled_at, j.worker_id,
                   min(e.at) AS created_at, max(e.at) AS updated_at
            FROM procrastinate_jobs j LEFT JOIN procrastinate_events e ON e.job_id = j.id
            WHERE j.queue_name = :queue AND j.status::text = ANY(:statuses)
            GROUP BY j.id ORDER BY j.id DESC LIMIT :limit""")
        with self.store.connection() as conn:
            if not _has_schema(conn):
                return []
            rows = conn.execute(query, {"queue": fleet.QUEUE, "statuses": wanted, "limit": limit}).all()
        return [{"id": r.id, "kind": fleet.KIND_OF.get(r.task_name, r.task_name), "status": STATUS[r.status],
                 "attempts": r.attempts, "payload": {k: v for k, v in dict(r.args).items() if k not in ("timestamp", "records")},
                 "run_after": r.scheduled_at or r.created_at, "locked_by": str(r.worker_id) if r.worker_id else None,
                 "created_at": r.created_at, "updated_at": r.updated_at} for r in rows]

    def fleet(self) -> FleetStatus:
        stalled_after = self.settings.jobs.stalled_after
        with self.store.connection() as conn:
            if not _has_schema(conn):
                return FleetStatus("procrastinate")
            workers = conn.execute(text(
                "SELECT id, last_heartbeat, last_heartbeat >= now() - make_interval(secs => :after) AS alive "
                "FROM procrastinate_workers ORDER BY id"), {"after": stalled_after}).all()
            waiting = conn.execute(text(
                "SELECT j.task_name, count(*), min(e.at) FROM procrastinate_jobs j LEFT JOIN procrastinate_events e "
                "ON e.job_id = j.id AND e.type = 'deferred' WHERE j.queue_name = :queue AND j.status = 'todo' "
                "GROUP BY j.task_name"), {"queue": fleet.QUEUE}).all()
            running = conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE queue_name = :queue "
                                        "AND status = 'doing'"), {"queue": fleet.QUEUE}).scalar()
            finished = conn.execute(text(
                "SELECT count(*) FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id "
                "WHERE j.queue_name = :queue AND e.type IN ('succeeded', 'failed') AND e.at >= :since"),
                {"queue": fleet.QUEUE, "since": clock.now() - RATE_WINDOW}).scalar()
        per_kind: dict[str, int] = {}
        for task, count, _ in waiting:
            kind = fleet.KIND_OF.get(task, task)
            per_kind[kind] = per_kind.get(kind, 0) + int(count)
        oldest = min((at for _, _, at in waiting if at is not None), default=None)
        return FleetStatus("procrastinate",
                           [{"id": w.id, "last_heartbeat": w.last_heartbeat, "alive": bool(w.alive)} for w in workers],
                           per_kind, int(running or 0), oldest,
                           round(int(finished or 0) / (RATE_WINDOW.total_seconds() / 60), 2))


def _has_schema(conn: Connection) -> bool:
    """Has Procrastinate's schema been applied to this database (by a worker, or `koppel setup`)?"""
    return bool(conn.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar())


def _moment(value: Any) -> datetime | None:
    """A time from a raw query (SQLite answers text, and keeps UTC without saying so)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def queue_for(settings: Settings, store: Store) -> JobQueue:
    """The queue of the runner `[jobs] runner` names for this store."""
    if settings.jobs.runner_for(settings.store.url) == "procrastinate":
        return FleetQueue(settings, store)
    return EmbeddedQueue(store, settings.sync.stale_after)
