"""The error queue, conflicts and policy violations: inspect, edit, retry, skip, settle."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from koppel.api import schemas as s
from koppel.api.deps import Operator, RuntimeDep, Viewer, WorkspaceDep
from koppel.api.routes import API
from koppel.api.routes.sync import report_out
from koppel.services import queue

router = APIRouter(prefix=API, tags=["error queue"])
ErrorStatus = Literal["open", "held", "retried", "skipped", "resolved", "superseded", "all"]
ConflictStatus = Literal["open", "resolved", "all"]
ViolationStatus = Literal["open", "acknowledged", "all"]


@router.get("/errors", response_model=list[s.QueuedError])
def errors(rt: RuntimeDep, _user: Viewer, status: ErrorStatus = "open") -> list[s.QueuedError]:
    """Records that could not be written, with the target system's own message."""
    return [s.QueuedError.model_validate(r) for r in rt.store.errors.list(None if status == "all" else status)]


@router.get("/errors/{error_id}", response_model=s.QueuedError)
def error(error_id: s.RowId, ws: WorkspaceDep, _user: Viewer) -> s.QueuedError:
    return s.QueuedError.model_validate(queue.error(ws, error_id))


@router.patch("/errors/{error_id}", response_model=s.QueuedError)
def edit_error(error_id: s.RowId, body: s.PayloadIn, ws: WorkspaceDep, user: Operator) -> s.QueuedError:
    """Replace the payload kept with a queued record."""
    return s.QueuedError.model_validate(queue.edit_error(ws, user.name, error_id, body.payload))


@router.post("/errors/{error_id}/retry", response_model=s.RunReport)
def retry_error(error_id: s.RowId, ws: WorkspaceDep, user: Operator) -> s.RunReport:
    """Sync the record behind the error again, from its source's current state."""
    return report_out(queue.retry_error(ws, user.name, error_id))


@router.post("/errors/{error_id}/skip", response_model=s.QueuedError)
def skip_error(error_id: s.RowId, ws: WorkspaceDep, user: Operator) -> s.QueuedError:
    """Give up on the record; it stays in the queue's history."""
    return s.QueuedError.model_validate(queue.skip_error(ws, user.name, error_id))


@router.get("/conflicts", response_model=list[s.Conflict], tags=["conflicts"])
def conflicts(rt: RuntimeDep, _user: Viewer, status: ConflictStatus = "open") -> list[s.Conflict]:
    """Fields both systems changed to different values since the last sync."""
    return [s.Conflict.model_validate(c) for c in rt.store.findings.conflicts(None if status == "all" else status)]


@router.post("/conflicts/{conflict_id}/resolve", response_model=s.Conflict, tags=["conflicts"])
def resolve_conflict(conflict_id: s.RowId, body: s.ResolveIn, ws: WorkspaceDep, user: Operator) -> s.Conflict:
    """The winner's value is written to the other system and becomes the synced value."""
    return s.Conflict.model_validate(queue.resolve_conflict(ws, user.name, conflict_id, body.winner))


@router.get("/violations", response_model=list[s.Violation], tags=["violations"])
def violations(rt: RuntimeDep, _user: Viewer, status: ViolationStatus = "open") -> list[s.Violation]:
    """Edits a system made to data it does not own, and what koppel wrote back."""
    return [s.Violation.model_validate(v) for v in rt.store.findings.violations(None if status == "all" else status)]


@router.post("/violations/{violation_id}/acknowledge", response_model=s.Violation, tags=["violations"])
def acknowledge(violation_id: s.RowId, ws: WorkspaceDep, user: Operator) -> s.Violation:
    return s.Violation.model_validate(queue.acknowledge_violation(ws, user.name, violation_id))
