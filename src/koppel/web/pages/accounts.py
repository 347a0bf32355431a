"""Accounts: the list with search, the account 360° (R14) with "Sync now" (R11), and documents
fetched live from the system that holds them (R13).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from koppel.api.deps import WorkspaceDep
from koppel.config.policy import Side
from koppel.errors import NotFound
from koppel.i18n import _, translate
from koppel.processes.account_view import parse_key
from koppel.services import sync
from koppel.web.auth import PageOperator, PageUser
from koppel.web.render import Flash, counts, page, redirect, word

router = APIRouter(include_in_schema=False)
Key = Annotated[str, Path(min_length=5, max_length=210)]
Segment = Annotated[str, Path(min_length=1, max_length=200)]
SYSTEM_NAMES = {"erp": "ERP", "crm": "CRM"}


@router.get("/accounts")
def accounts(request: Request, ws: WorkspaceDep, user: PageUser,
             q: Annotated[str, Query(max_length=200)] = "", every: bool = False) -> Response:
    """Coupled accounts (from the links); `every` also lists each system's uncoupled ones."""
    with ws.peers():
        found = ws.view.accounts(q or None, include_uncoupled=every, limit=200)
    return page(request, ws.runtime, user, "accounts.html", accounts=found, q=q, every=every)


@router.get("/accounts/{key}")
def account(key: Key, request: Request, ws: WorkspaceDep, user: PageUser) -> Response:
    with ws.peers():
        view = ws.view.account(key)
    if view is None:
        raise NotFound(f"no account {key}", hint="pick one from the account list")
    return page(request, ws.runtime, user, "account.html", a=view, systems=SYSTEM_NAMES)


@router.post("/accounts/{key}/sync")
def sync_now(key: Key, ws: WorkspaceDep, user: PageOperator) -> Response:
    """Sync this account on demand from both systems, and show what each run did."""
    side, record_id = parse_key(key)
    link = ws.runtime.store.links.by_ids("account", side, [record_id]).get(record_id)
    sides: list[tuple[Side, str]] = [("erp", link.erp_id), ("crm", link.crm_id)] if link else [(side, record_id)]
    lines, statuses = [], set()
    for system, rid in sides:
        out = sync.sync_record(ws, user.name, system, "account", rid)
        lines.append(_outcome(system, rid, out))
        statuses.add(out.report.status if out.report else "queued")
    worst = next((w for w in ("failed", "partial", "queued") if w in statuses), "ok")
    kind = {"ok": "ok", "failed": "error"}.get(worst, "warn")
    return redirect(f"/accounts/{key}", Flash(kind, _("Sync finished: {status}", status=word(worst)),
                                              " · ".join(lines)))


def _outcome(system: str, record_id: str, out: sync.RecordSync) -> str:
    where = _("{system} account {record_id}", system=SYSTEM_NAMES[system], record_id=record_id)
    if out.report is None:
        return _("{where}: queued as job {job} (a sync is running)", where=where, job=out.job_id)
    stats = {k: v for entity in out.report.stats.values() for k, v in entity.items()}
    message = f" — {translate(out.report.message)}" if out.report.message else ""
    return _("{where}: {status} (run {run}: {counts})", where=where, status=word(out.report.status),
             run=out.report.run_id, counts=counts(stats)) + message


@router.get("/documents/{system}/{entity}/{record_id}")
def document(system: Segment, entity: Segment, record_id: Segment, request: Request, ws: WorkspaceDep,
             user: PageUser, back: Annotated[str, Query(max_length=300)] = "") -> Response:
    """One document read live from its system now; koppel keeps no copy."""
    with ws.peers():
        record = ws.view.fetch_document(system, entity, record_id)
    if record is None:
        raise NotFound(f"the {SYSTEM_NAMES.get(system, system)} holds no {entity} {record_id}",
                       hint="it may have been deleted there; go back to the account")
    back = back if back.startswith("/accounts/") else ""
    return page(request, ws.runtime, user, "document.html", system=system, entity=entity,
                record_id=record_id, record=record, systems=SYSTEM_NAMES, back=back)
