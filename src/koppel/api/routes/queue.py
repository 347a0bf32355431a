"""The error queue, conflicts and policy violations: inspect, edit, retry, skip, settle."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from koppel.api import schemas as s
from koppel.api.deps import Operator, RuntimeDep, Viewer, WorkspaceDep
from koppel.api.errors import NotFound, StateConflict
from koppel.api.routes import API
from koppel.api.routes.sync import report_out
from koppel.errors import UsageError
from koppel.store import ErrorRow, Store

router = APIRouter(prefix=API, tags=["error queue"])
ErrorStatus = Literal["open", "held", "retried", "skipped", "resolved", "superseded", "all"]
ConflictStatus = Literal["open", "resolved", "all"]
ViolationStatus = Literal["open", "acknowledged", "all"]


def _error(store: Store, error_id: int) -> ErrorRow:
    try:
        return store.errors.get(error_id)
    except UsageError as exc:
        raise NotFound(exc.message, hint=exc.hint) from None


def _actionable(store: Store, error_id: int) -> ErrorRow:
    row = _error(store, error_id)
    if row.status not in ("open", "held"):
        raise StateConflict(f"error {error_id} is {row.status}", hint="only open or held errors can change")
    return row


@router.get("/errors", response_model=list[s.QueuedError])
def errors(rt: RuntimeDep, _user: Viewer, status: ErrorStatus = "open") -> list[s.QueuedError]:
    """Records that could not be written, with the target system's own message."""
    return [s.QueuedError.model_validate(r) for r in rt.store.errors.list(None if status == "all" else status)]


@router.get("/errors/{error_id}", response_model=s.QueuedError)
def error(error_id: s.RowId, rt: RuntimeDep, _user: Viewer) -> s.QueuedError:
    return s.QueuedError.model_validate(_error(rt.store, error_id))


@router.patch("/errors/{error_id}", response_model=s.QueuedError)
def edit_error(error_id: s.RowId, body: s.PayloadIn, ws: WorkspaceDep, user: Operator) -> s.QueuedError:
    """Replace the payload kept with a queued record."""
    before = _actionable(ws.runtime.store, error_id)
    ws.runtime.store.errors.set_payload(error_id, body.payload)
    ws.audit(user, "edit-error", f"error:{error_id}", entity=before.entity, before=before.payload,
             after=body.payload)
    return s.QueuedError.model_validate(_error(ws.runtime.store, error_id))


@router.post("/errors/{error_id}/retry", response_model=s.RunReport)
def retry_error(error_id: s.RowId, ws: WorkspaceDep, user: Operator) -> s.RunReport:
    """Sync the record behind the error again, from its source's current state."""
    row = _actionable(ws.runtime.store, error_id)
    with ws.peers() as rt:
        report = rt.engine.retry_errors([error_id])
    ws.audit(user, "retry", f"error:{error_id}", entity=row.entity, after={"run": report.run_id})
    return report_out(report)


@router.post("/errors/{error_id}/skip", response_model=s.QueuedError)
def skip_error(error_id: s.RowId, ws: WorkspaceDep, user: Operator) -> s.QueuedError:
    """Give up on the record; it stays in the queue's history."""
    row = _actionable(ws.runtime.store, error_id)
    ws.runtime.store.errors.set_status([error_id], "skipped")
    ws.audit(user, "skip", f"error:{error_id}", entity=row.entity)
    return s.QueuedError.model_validate(_error(ws.runtime.store, error_id))


def _conflict(store: Store, conflict_id: int) -> dict[str, Any]:
    found = [c for c in store.findings.conflicts(None) if c["id"] == conflict_id]
    if not found:
        raise NotFound(f"no conflict {conflict_id}", hint="list them with GET /api/v1/conflicts")
    return found[0]


@router.get("/conflicts", response_model=list[s.Conflict], tags=["conflicts"])
def conflicts(rt: RuntimeDep, _user: Viewer, status: ConflictStatus = "open") -> list[s.Conflict]:
    """Fields both systems changed to different values since the last sync."""
    return [s.Conflict.model_validate(c) for c in rt.store.findings.conflicts(None if status == "all" else status)]


@router.post("/conflicts/{conflict_id}/resolve", response_model=s.Conflict, tags=["conflicts"])
def resolve_conflict(conflict_id: s.RowId, body: s.ResolveIn, ws: WorkspaceDep, user: Operator) -> s.Conflict:
    """The winner's value is written to the other system and becomes the synced value."""
    if _conflict(ws.runtime.store, conflict_id)["status"] != "open":
        raise StateConflict(f"conflict {conflict_id} is settled already", hint="only open conflicts can be resolved")
    with ws.peers() as rt:
        rt.engine.resolve_conflict(conflict_id, body.winner, user.name)  # audits as the user
    return s.Conflict.model_validate(_conflict(ws.runtime.store, conflict_id))


@router.get("/violations", response_model=list[s.Violation], tags=["violations"])
def violations(rt: RuntimeDep, _user: Viewer, status: ViolationStatus = "open") -> list[s.Violation]:
    """Edits a system made to data it does not own, and what koppel wrote back."""
    return [s.Violation.model_validate(v) for v in rt.store.findings.violations(None if status == "all" else status)]


@router.post("/violations/{violation_id}/acknowledge", response_model=s.Violation, tags=["violations"])
def acknowledge(violation_id: s.RowId, ws: WorkspaceDep, user: Operator) -> s.Violation:
    row = ws.runtime.store.findings.acknowledge_violation(violation_id)
    if row is None:
        raise NotFound(f"no violation {violation_id}", hint="list them with GET /api/v1/violations")
    ws.audit(user, "acknowledge", f"violation:{violation_id}", entity=row["entity"])
    return s.Violation.model_validate(row)
