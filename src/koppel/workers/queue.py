"""One way for the front ends (API, workspace, command line) to queue and list jobs, whoever
runs them: koppel's own queue in the store, or Procrastinate's workers (fleet.py)."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import text

from koppel.config.settings import Settings
from koppel.engine.jobs import LOCK
from koppel.store import Store
from koppel.workers import fleet

#: Procrastinate's job states in koppel's words (those of its own queue)
STATUS = {"todo": "queued", "doing": "running", "succeeded": "done", "failed": "failed",
          "cancelled": "cancelled", "aborting": "running", "aborted": "failed"}


class JobQueue(Protocol):
    def enqueue(self, kind: str, payload: dict[str, Any]) -> int | None:
        """Queue a job; None where the same sync waits already."""

    def busy(self) -> bool:
        """Is a job running now?"""

    def jobs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest jobs (in the shape of koppel's own queue rows), optionally of one status."""


class EmbeddedQueue:
    """koppel's own queue in the store, run by `koppel run` in one process."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def enqueue(self, kind: str, payload: dict[str, Any]) -> int | None:
        return self.store.jobs.enqueue(kind, payload, lock_key=LOCK)

    def busy(self) -> bool:
        return bool(self.store.jobs.list("running", 1))

    def jobs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return self.store.jobs.list(status, limit)


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
            if not conn.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar():
                return []
            rows = conn.execute(query, {"queue": fleet.QUEUE, "statuses": wanted, "limit": limit}).all()
        return [{"id": r.id, "kind": fleet.KIND_OF.get(r.task_name, r.task_name), "status": STATUS[r.status],
                 "attempts": r.attempts, "payload": {k: v for k, v in dict(r.args).items() if k != "timestamp"},
                 "run_after": r.scheduled_at or r.created_at, "locked_by": str(r.worker_id) if r.worker_id else None,
                 "created_at": r.created_at, "updated_at": r.updated_at} for r in rows]


def queue_for(settings: Settings, store: Store) -> JobQueue:
    """The queue of the runner `[jobs] runner` names for this store."""
    if settings.jobs.runner_for(settings.store.url) == "procrastinate":
        return FleetQueue(settings, store)
    return EmbeddedQueue(store)
