"""The job queue in the store: every sync (live poll, nightly batch, one record) is a job.

A job may carry a lock key; no two jobs with the same key run at once. A claim is one
conditional UPDATE, so two workers never take the same job.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from koppel import clock
from koppel.store import tables as t
from koppel.store.base import Repository


class Jobs(Repository):
    def enqueue(self, kind: str, payload: Mapping[str, Any], *, lock_key: str | None = None,
                run_after: datetime | None = None, coalesce: bool = True) -> int | None:
        """Queue a job; with `coalesce`, an identical job already waiting makes this a no-op."""
        now = clock.now()
        with self.begin() as conn:
            if coalesce:
                waiting = conn.execute(select(t.jobs.c.id, t.jobs.c.payload).where(
                    t.jobs.c.kind == kind, t.jobs.c.status == "queued")).all()
                if any(row.payload == dict(payload) for row in waiting):
                    return None
            result = conn.execute(insert(t.jobs).values(
                kind=kind, lock_key=lock_key, payload=dict(payload), status="queued", attempts=0,
                run_after=run_after or now, created_at=now, updated_at=now).returning(t.jobs.c.id))
            return int(result.scalar_one())

    def claim(self, worker: str) -> dict[str, Any] | None:
        """Take the oldest due job whose lock key no running job holds; None if there is none."""
        now = clock.now()
        with self.begin() as conn:
            busy = set(conn.execute(select(t.jobs.c.lock_key).where(
                t.jobs.c.status == "running", t.jobs.c.lock_key.is_not(None))).scalars())
            due = conn.execute(select(t.jobs).where(t.jobs.c.status == "queued", t.jobs.c.run_after <= now)
                               .order_by(t.jobs.c.run_after, t.jobs.c.id).limit(50)).all()
            for job in due:
                if job.lock_key in busy:
                    continue
                taken = conn.execute(update(t.jobs).where(t.jobs.c.id == job.id, t.jobs.c.status == "queued")
                                     .values(status="running", locked_by=worker, attempts=job.attempts + 1,
                                             updated_at=now)).rowcount
                if taken:
                    return {**dict(job._mapping), "status": "running", "attempts": job.attempts + 1}
        return None

    def finish(self, job_id: int, status: str, *, retry_at: datetime | None = None) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": clock.now(), "locked_by": None}
        if retry_at is not None:
            values.update(status="queued", run_after=retry_at)
        with self.begin() as conn:
            conn.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(**values))

    def heartbeat(self, job_id: int, worker: str) -> None:
        """The job is still running in `worker`: not stale (a job requeued or finished meanwhile
        is left as it is)."""
        with self.begin() as conn:
            conn.execute(update(t.jobs).where(t.jobs.c.id == job_id, t.jobs.c.status == "running",
                                              t.jobs.c.locked_by == worker).values(updated_at=clock.now()))

    def requeue_stale(self, *, older_than: datetime | None = None, worker: str | None = None) -> int:
        """Jobs left running by a worker that died go back to the queue (they resume)."""
        query = update(t.jobs).where(t.jobs.c.status == "running")
        if older_than is not None:
            query = query.where(t.jobs.c.updated_at < older_than)
        if worker is not None:
            query = query.where(t.jobs.c.locked_by == worker)
        with self.begin() as conn:
            return int(conn.execute(query.values(status="queued", locked_by=None,
                                                 updated_at=clock.now())).rowcount)

    def list(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = select(t.jobs).order_by(t.jobs.c.id.desc()).limit(limit)
        if status:
            query = query.where(t.jobs.c.status == status)
        with self.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

