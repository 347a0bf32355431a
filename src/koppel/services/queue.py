"""Working the queues by hand: a queued record edited, retried or skipped; a conflict settled; a
violation acknowledged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from koppel.config.policy import Side
from koppel.engine.sync import RunReport
from koppel.errors import NotFound, StateConflict, UsageError
from koppel.services.workspace import Workspace
from koppel.store import ConflictRow, ErrorRow, ViolationRow


def error(ws: Workspace, error_id: int) -> ErrorRow:
    try:
        return ws.runtime.store.errors.get(error_id)
    except UsageError as exc:
        raise NotFound(exc.message, hint=exc.hint) from None


def _actionable(ws: Workspace, error_id: int) -> ErrorRow:
    row = error(ws, error_id)
    if row.status not in ("open", "held"):
        raise StateConflict(f"error {error_id} is {row.status}", hint="only open or held errors can change")
    return row


def edit_error(ws: Workspace, actor: str, error_id: int, payload: Mapping[str, Any]) -> ErrorRow:
    """Replace the payload kept with a queued record (the next retry writes it as it stands)."""
    before = _actionable(ws, error_id)
    ws.runtime.store.errors.set_payload(error_id, payload)
    ws.audit(actor, "edit-error", f"error:{error_id}", entity=before.entity, before=before.payload,
             after=dict(payload))
    return error(ws, error_id)


def retry_error(ws: Workspace, actor: str, error_id: int) -> RunReport:
    """Sync the record behind the error again (its edited payload, else its source's state)."""
    return retry_errors(ws, actor, [error_id])


def retry_errors(ws: Workspace, actor: str, error_ids: Sequence[int]) -> RunReport:
    """One run that syncs the records behind these errors again."""
    rows = [_actionable(ws, i) for i in error_ids]
    if not rows:
        raise UsageError("no errors chosen", hint="give error ids, or retry every open one")
    with ws.peers() as rt:
        report = rt.engine.retry_errors(list(error_ids))
    for row in rows:
        ws.audit(actor, "retry", f"error:{row.id}", entity=row.entity, after={"run": report.run_id})
    return report


def skip_error(ws: Workspace, actor: str, error_id: int) -> ErrorRow:
    """Give up on the record; it stays in the queue's history."""
    row = _actionable(ws, error_id)
    ws.runtime.store.errors.set_status([error_id], "skipped")
    ws.audit(actor, "skip", f"error:{error_id}", entity=row.entity)
    return error(ws, error_id)


def conflict(ws: Workspace, conflict_id: int) -> ConflictRow:
    found = ws.runtime.store.findings.conflict(conflict_id)
    if found is None:
        raise NotFound(f"no conflict {conflict_id}", hint="list them with `koppel conflicts list`")
    return found


def resolve_conflict(ws: Workspace, actor: str, conflict_id: int, winner: Side) -> ConflictRow:
    """The winner's value is written to the other system and becomes the synced value."""
    if conflict(ws, conflict_id).status != "open":
        raise StateConflict(f"conflict {conflict_id} is settled already", hint="only open conflicts can be resolved")
    with ws.peers() as rt:
        rt.engine.resolve_conflict(conflict_id, winner, actor)
    ws.audit(actor, "resolve", f"conflict:{conflict_id}", after={"winner": winner})
    return conflict(ws, conflict_id)


def acknowledge_violation(ws: Workspace, actor: str, violation_id: int) -> ViolationRow:
    row = ws.runtime.store.findings.acknowledge_violation(violation_id)
    if row is None:
        raise NotFound(f"no violation {violation_id}", hint="list them with GET /api/v1/violations")
    ws.audit(actor, "acknowledge", f"violation:{violation_id}", entity=row.entity)
    return row
