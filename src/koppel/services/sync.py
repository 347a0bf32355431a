"""Sync on demand (R11): one record now, or a job for the worker."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from koppel.config.policy import Side
from koppel.engine.sync import RunReport
from koppel.services.workspace import Workspace
from koppel.store.locks import StoreBusy

#: how long a sync asked for in the workspace waits for another process's run on a SQLite store
#: (a live poll's lasts a second or two) before it is queued for that process instead
WAIT_FOR_RUN_S = 10.0


@dataclass(frozen=True)
class RecordSync:
    """A record synced now (its run's report), or queued for the worker (the job's id)."""

    report: RunReport | None = None
    job_id: int | None = None


def sync_record(ws: Workspace, actor: str, side: Side, entity: str, record_id: str, *, wait: bool = True
                ) -> RecordSync:
    """Sync one record now; queue it instead if a worker is busy syncing (or `wait` is false), so
    a record is never synced by two jobs at once; on SQLite also when another process's run
    (`koppel run` beside `koppel serve`) goes on longer than WAIT_FOR_RUN_S."""
    record = f"{side}:{record_id}"
    ws.runtime.engine.entities([entity])  # an unknown entity is refused before anything runs
    report = None
    if wait and not ws.queue.busy():
        with ws.peers() as rt, suppress(StoreBusy), rt.store.locks.exclusive(timeout=WAIT_FOR_RUN_S):
            report = rt.engine.sync_record(side, entity, record_id)
    if report is None:
        job = ws.queue.enqueue("record", {"side": side, "entity": entity, "id": record_id})
        ws.audit(actor, "enqueue-sync", record, entity=entity, after={"job": job})
        return RecordSync(job_id=job)
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
