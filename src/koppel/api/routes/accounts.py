"""The account 360° and live documents (R13, R14): both systems read on request, never copied."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from koppel.api import schemas as s
from koppel.api.deps import Viewer, WorkspaceDep
from koppel.api.routes import API
from koppel.errors import NotFound

router = APIRouter(prefix=API, tags=["accounts"])
Key = Annotated[str, Path(min_length=5, max_length=210, description="erp:ID or crm:ID")]
Segment = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("/accounts", response_model=list[s.AccountSummary])
def accounts(ws: WorkspaceDep, _user: Viewer,
             search: Annotated[str | None, Query(max_length=200)] = None,
             uncoupled: Annotated[bool, Query(description="also search both systems for uncoupled ones")] = False,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[s.AccountSummary]:
    """Coupled accounts with their ids on both sides, searched in the links; `uncoupled` also asks
    each system's own search for the accounts not coupled, a page at a time."""
    with ws.peers():
        found = ws.view.accounts(search, include_uncoupled=uncoupled, limit=limit)
    return [s.AccountSummary.model_validate(a) for a in found]


@router.get("/accounts/{key}", response_model=s.Account360)
def account(key: Key, ws: WorkspaceDep, _user: Viewer) -> s.Account360:
    """The account 360°: every field with owner, source, last sync and freshness; contacts, quotes,
    orders, invoices, open and overdue amounts, complaints — read live from both systems."""
    with ws.peers():
        view = ws.view.account(key)
    if view is None:
        raise NotFound(f"no account {key}", hint="find accounts with GET /api/v1/accounts?search=")
    return s.Account360.model_validate(_with_links(asdict(view)))


def _with_links(data: dict[str, Any]) -> dict[str, Any]:
    for part in ("orders", "invoices"):
        for item in data[part]:
            ref = item["document"]
            item["document"] = {**ref, "href": f"{API}/documents/{ref['system']}/{ref['entity']}/{ref['id']}"}
    return data


@router.get("/documents/{system}/{entity}/{record_id}", response_model=s.Document)
def document(system: Segment, entity: Segment, record_id: Segment, ws: WorkspaceDep,
             _user: Viewer) -> s.Document:
    """One document (an invoice, a shipment, ...) fetched live from the system that holds it."""
    with ws.peers():
        record = ws.view.fetch_document(system, entity, record_id)
    if record is None:
        raise NotFound(f"{system} holds no {entity} {record_id}", hint="check the link you followed")
    return s.Document(system=system, entity=entity, id=record_id, record=record)
