"""Sync on demand (R11): one record now, or a job for the worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from koppel.config.policy import Side
from koppel.engine.sync import RunReport
from koppel.services.workspace import Workspace


@dataclass(frozen=True)
class RecordSync:
    """A record synced now (its run's report), or queued for the worker (the job's id)."""

    report: RunReport | None = None
    job_id: int | None = None


def sync_record(ws: Workspace, actor: str, side: Side, entity: str, record_id: str, *, wait: bool = True
                ) -> RecordSync:
    """Sync one record now; queue it instead if a worker is busy syncing (or `wait` is false), so
    a record is never synced by two jobs at once."""
    record = f"{side}:{record_id}"
    ws.runtime.engine.entities([entity])  # an unknown entity is refused before anything runs
    if not wait or ws.queue.busy():
        job = ws.queue.enqueue("record", {"side": side, "entity": entity, "id": record_id})
        ws.audit(actor, "enqueue-sync", record, entity=entity, after={"job": job})
        return RecordSync(job_id=job)
    with ws.peers() as rt:
        report = rt.engine.sync_record(side, entity, record_id)
    ws.audit(actor, "sync", record, entity=entity, after={"run": report.run_id, "status": report.status})
    return RecordSync(report=report)


def enqueue_sync(ws: Workspace, actor: str, entities: Sequence[str] | None = None, *, full: bool = False
                 ) -> int | None:
    """Queue an incremental (or full) sync for the worker; None: the same job already waits."""
    ws.runtime.engine.entities(entities)  # validates the names
    payload = {"entities": list(entities)} if entities else {}
    job = ws.queue.enqueue("full" if full else "sync", payload)
    ws.audit(actor, "enqueue-sync", "all", after={"job": job, "full": full, **payload})
    return job
