"""Runs, jobs and sync on demand (R11): one record now, or an incremental job for the worker."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from koppel.api import schemas as s
from koppel.api.deps import Operator, RuntimeDep, Viewer, WorkspaceDep
from koppel.api.routes import API
from koppel.engine.sync import RunReport
from koppel.services import sync

router = APIRouter(prefix=API, tags=["sync"])
Limit = Annotated[int, Query(ge=1, le=500)]
JobStatus = Literal["queued", "running", "done", "failed"]


def report_out(report: RunReport) -> s.RunReport:
    return s.RunReport(run_id=report.run_id, status=report.status, message=report.message,
                       stats={e: dict(+c) for e, c in report.stats.items() if +c}, plan=report.plan)


@router.get("/runs", response_model=list[s.Run])
def runs(rt: RuntimeDep, _user: Viewer, limit: Limit = 50) -> list[s.Run]:
    """The latest sync runs, newest first."""
    return [s.Run.model_validate(r) for r in rt.store.runs.last(limit)]


@router.get("/jobs", response_model=list[s.Job])
def jobs(ws: WorkspaceDep, _user: Viewer, status: JobStatus | None = None, limit: Limit = 50) -> list[s.Job]:
    """The job queue, newest first (koppel's own, or Procrastinate's with the store on PostgreSQL)."""
    return [s.Job.model_validate(j) for j in ws.queue.jobs(status, limit)]


@router.get("/fleet", response_model=s.Fleet)
def fleet(ws: WorkspaceDep, _user: Viewer) -> s.Fleet:
    """The job runners: the workers and their heartbeats, jobs waiting per kind and running, since
    when the oldest waits, and jobs finished per minute."""
    return s.Fleet.model_validate(ws.queue.fleet().as_dict())


@router.post("/sync/record", response_model=s.SyncRecordOut,
             responses={202: {"model": s.SyncRecordOut, "description": "queued for the worker"}})
def sync_record(body: s.SyncRecordIn, ws: WorkspaceDep, user: Operator, response: Response) -> s.SyncRecordOut:
    """Sync one record now and return the run's report; queue it instead if a worker is busy
    syncing (or `wait` is false), so a record is never synced by two jobs at once."""
    done = sync.sync_record(ws, user.name, body.system, body.entity, body.id, wait=body.wait)
    if done.report is None:
        response.status_code = 202
        return s.SyncRecordOut(queued=True, job_id=done.job_id)
    return s.SyncRecordOut(queued=False, report=report_out(done.report))


@router.post("/sync", response_model=s.Queued, status_code=202)
def enqueue_sync(ws: WorkspaceDep, user: Operator, body: s.SyncIn | None = None) -> s.Queued:
    """Queue an incremental (or full) sync for the worker (`koppel run`)."""
    body = body or s.SyncIn()
    job = sync.enqueue_sync(ws, user.name, body.entities, full=body.full)
    return s.Queued(job_id=job, coalesced=job is None)
