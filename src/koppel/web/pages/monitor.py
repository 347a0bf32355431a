"""The sync monitor: live status and runs, the error queue (edit, retry, skip), conflicts
(pick the winner), policy violations (acknowledge), match proposals (find, couple, keep apart)
and the reconcile report (apply).

Every action goes through the same services as the API's, so checks and the audit trail are the same.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request, Response

from koppel.api import schemas as s
from koppel.api.deps import WorkspaceDep
from koppel.errors import UsageError
from koppel.i18n import _, ngettext, translate
from koppel.services import matches, queue, reconcile, sync
from koppel.web.auth import PageOperator, PageUser
from koppel.web.render import Flash, counts, field, page, redirect, word

router = APIRouter(prefix="/monitor", include_in_schema=False)
ErrorFilter = Literal["open", "held", "all"]
Settled = Literal["open", "resolved", "all"]
Seen = Literal["open", "acknowledged", "all"]
Decided = Literal["open", "coupled", "apart", "all"]


@router.get("")
def overview(request: Request, ws: WorkspaceDep, user: PageUser) -> Response:
    store = ws.runtime.store
    runs = store.runs.last(30)
    fleet = ws.queue.fleet()
    status = {"last_run": runs[0] if runs else None, "queued": sum(fleet.waiting.values()), "running": fleet.running,
              "fleet": fleet, "errors": store.errors.counts(), "links": store.links.counts(),
              "systems": store.runs.systems()}
    return page(request, ws.runtime, user, "monitor.html", runs=runs, jobs=ws.queue.jobs(None, 15), status=status)


@router.post("/sync")
def queue_sync(ws: WorkspaceDep, user: PageOperator, full: Annotated[bool, Form()] = False) -> Response:
    job = sync.enqueue_sync(ws, user.name, full=full)
    if job is None:
        text = _("A full sync is already waiting in the queue.") if full else \
            _("An incremental sync is already waiting in the queue.")
        return redirect("/monitor", Flash("ok", text))
    text = _("A full sync is queued as job {job}.", job=job) if full else \
        _("An incremental sync is queued as job {job}.", job=job)
    return redirect("/monitor", Flash("ok", text, _("The worker (`koppel run`) picks it up within its poll interval.")))


# --- the error queue ------------------------------------------------------------------------

@router.get("/errors")
def errors(request: Request, ws: WorkspaceDep, user: PageUser, status: ErrorFilter = "open") -> Response:
    rows = ws.runtime.store.errors.list(None if status == "all" else status)
    return page(request, ws.runtime, user, "errors.html", errors=rows, status=status)


@router.get("/errors/{error_id}")
def error(error_id: s.RowId, request: Request, ws: WorkspaceDep, user: PageUser) -> Response:
    row = queue.error(ws, error_id)
    return page(request, ws.runtime, user, "error_detail.html", e=row,
                payload=json.dumps(row.payload, indent=2, sort_keys=True, ensure_ascii=False, default=str))


@router.post("/errors/{error_id}/payload")
def edit_payload(error_id: s.RowId, ws: WorkspaceDep, user: PageOperator,
                 payload: Annotated[str, Form(max_length=200_000)],
                 then: Annotated[Literal["save", "retry"], Form()] = "save") -> Response:
    queue.edit_error(ws, user.name, error_id, s.PayloadIn(payload=_json_object(payload)).payload)
    if then == "retry":
        return _retried(error_id, ws, user, _("Payload saved and retried"))
    return redirect(f"/monitor/errors/{error_id}", Flash("ok", _("Payload of error {error_id} saved.",
                                                                 error_id=error_id)))


@router.post("/errors/{error_id}/retry")
def retry(error_id: s.RowId, ws: WorkspaceDep, user: PageOperator) -> Response:
    return _retried(error_id, ws, user, _("Retried"))


@router.post("/errors/{error_id}/skip")
def skip(error_id: s.RowId, ws: WorkspaceDep, user: PageOperator) -> Response:
    row = queue.skip_error(ws, user.name, error_id)
    text = _("Skipped {entity} {source}:{source_id}.", entity=word(row.entity), source=row.source,
             source_id=row.source_id)
    return redirect("/monitor/errors", Flash("ok", text, _("It stays in the queue's history (filter: all).")))


def _retried(error_id: int, ws: WorkspaceDep, user: PageOperator, verb: str) -> Response:
    report = queue.retry_error(ws, user.name, error_id)
    stats = {k: v for entity in report.stats.values() for k, v in entity.items()}
    detail = _("run {run}: {counts}", run=report.run_id, counts=counts(stats)) + \
        (f" — {translate(report.message)}" if report.message else "")
    if report.status == "ok":
        return redirect("/monitor/errors", Flash("ok", _("{verb}: the record went through.", verb=verb), detail))
    return redirect("/monitor/errors", Flash("error" if report.status == "failed" else "warn", _(
        "{verb}: {status}; see the queue below.", verb=verb, status=word(report.status)), detail))


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"the payload is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                         hint="fix the JSON and save again") from None
    if not isinstance(value, dict):
        raise UsageError("the payload must be a JSON object ({...})", hint="wrap the fields in braces")
    return value


# --- conflicts and violations ---------------------------------------------------------------

@router.get("/conflicts")
def conflicts(request: Request, ws: WorkspaceDep, user: PageUser, status: Settled = "open") -> Response:
    rows = [s.Conflict.model_validate(c) for c in
            ws.runtime.store.findings.conflicts(None if status == "all" else status)]
    return page(request, ws.runtime, user, "conflicts.html", conflicts=rows, status=status)


@router.post("/conflicts/{conflict_id}/resolve")
def resolve(conflict_id: s.RowId, ws: WorkspaceDep, user: PageOperator,
            winner: Annotated[s.Side, Form()]) -> Response:
    row = s.Conflict.model_validate(queue.resolve_conflict(ws, user.name, conflict_id, winner))
    return redirect("/monitor/conflicts", Flash(
        "ok", _("Conflict {conflict_id} resolved: the {system} value of {field} won.", conflict_id=conflict_id,
                system=winner.upper(), field=field(row.field)),
        _("It was written to the other system and is now the synced value.")))


@router.get("/violations")
def violations(request: Request, ws: WorkspaceDep, user: PageUser, status: Seen = "open") -> Response:
    rows = [s.Violation.model_validate(v) for v in
            ws.runtime.store.findings.violations(None if status == "all" else status)]
    return page(request, ws.runtime, user, "violations.html", violations=rows, status=status)


@router.post("/violations/{violation_id}/acknowledge")
def acknowledge(violation_id: s.RowId, ws: WorkspaceDep, user: PageOperator) -> Response:
    queue.acknowledge_violation(ws, user.name, violation_id)
    return redirect("/monitor/violations", Flash("ok", _("Violation {violation_id} acknowledged.",
                                                         violation_id=violation_id)))


# --- match proposals ------------------------------------------------------------------------

@router.get("/matches")
def proposals(request: Request, ws: WorkspaceDep, user: PageUser, status: Decided = "open") -> Response:
    rows = ws.runtime.store.proposals.list(status=None if status == "all" else status)
    return page(request, ws.runtime, user, "matches.html", proposals=rows, status=status)


@router.post("/matches/propose")
def propose(ws: WorkspaceDep, user: PageOperator) -> Response:
    rows = matches.propose(ws, user.name)
    if not rows:
        return redirect("/monitor/matches", Flash("ok", _("No pairs found among the uncoupled records of both systems.")))
    return redirect("/monitor/matches", Flash("ok", ngettext("{n} open pair to decide.", "{n} open pairs to decide.",
                                                             len(rows)),
                                              _("Couple a pair or keep it apart; koppel waits for you.")))


@router.post("/matches/{proposal_id}/couple")
def couple(proposal_id: s.RowId, ws: WorkspaceDep, user: PageOperator) -> Response:
    row = matches.couple(ws, user.name, proposal_id)
    return redirect("/monitor/matches", Flash(
        "ok", _("Coupled {entity} ERP {erp_id} and CRM {crm_id}.", entity=word(row.entity), erp_id=row.erp_id,
                crm_id=row.crm_id),
        _("They are one record now; the owner's values were written to the other system.")))


@router.post("/matches/{proposal_id}/apart")
def keep_apart(proposal_id: s.RowId, ws: WorkspaceDep, user: PageOperator) -> Response:
    row = matches.apart(ws, user.name, proposal_id)
    return redirect("/monitor/matches", Flash(
        "ok", _("Kept {entity} ERP {erp_id} and CRM {crm_id} apart.", entity=word(row.entity), erp_id=row.erp_id,
                crm_id=row.crm_id),
        _("They are two records; each syncs on its own as the policy says.")))


# --- reconcile ------------------------------------------------------------------------------

@router.get("/reconcile")
def drift(request: Request, ws: WorkspaceDep, user: PageUser, check: bool = False) -> Response:
    """The drift report is read on request only: it reads every record of both systems."""
    report = s.ReconcileReport(drift=[s.Drift.model_validate(d) for d in reconcile.drift(ws)]) if check else None
    return page(request, ws.runtime, user, "reconcile.html", report=report)


@router.post("/reconcile/apply")
def repair(request: Request, ws: WorkspaceDep, user: PageOperator) -> Response:
    found, repaired = reconcile.repair(ws, user.name)
    report = s.ReconcileReport(drift=[s.Drift.model_validate(d) for d in found], repaired=dict(repaired))
    return page(request, ws.runtime, user, "reconcile.html", report=report)
