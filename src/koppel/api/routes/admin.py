"""Users and tokens over the API (admin only); the CLI offers the same (`koppel users`, `koppel tokens`)."""

from __future__ import annotations

from fastapi import APIRouter

from koppel.api import schemas as s
from koppel.api.deps import Admin, WorkspaceDep
from koppel.api.routes import API
from koppel.errors import NotFound
from koppel.services import processes

router = APIRouter(prefix=API, tags=["admin"])


@router.get("/users", response_model=list[s.User])
def users(ws: WorkspaceDep, _user: Admin) -> list[s.User]:
    return [s.User.model_validate(u) for u in ws.runtime.store.users.list()]


@router.post("/users", response_model=s.User, status_code=201)
def add_user(body: s.UserIn, ws: WorkspaceDep, user: Admin) -> s.User:
    created = ws.runtime.store.users.add(body.name, body.role)
    ws.audit(user.name, "add-user", f"user:{created.name}", after={"role": created.role})
    return s.User.model_validate(created)


@router.get("/tokens", response_model=list[s.Token])
def tokens(ws: WorkspaceDep, _user: Admin) -> list[s.Token]:
    return [s.Token.model_validate(t) for t in ws.runtime.store.tokens.list()]


@router.post("/tokens", response_model=s.TokenCreated, status_code=201)
def create_token(body: s.TokenIn, ws: WorkspaceDep, user: Admin) -> s.TokenCreated:
    """A new token; the secret is in this response only."""
    row, secret = ws.runtime.store.tokens.create(body.user, body.label)
    ws.audit(user.name, "create-token", f"token:{row.id}", after={"user": row.user, "label": row.label})
    return s.TokenCreated.model_validate({**row.__dict__, "token": secret})


@router.post("/tokens/{token_id}/revoke", response_model=s.Token)
def revoke_token(token_id: s.RowId, ws: WorkspaceDep, user: Admin) -> s.Token:
    if not any(t.id == token_id for t in ws.runtime.store.tokens.list()):
        raise NotFound(f"no token {token_id}", hint="list them with GET /api/v1/tokens")
    row = ws.runtime.store.tokens.revoke(token_id)
    ws.audit(user.name, "revoke-token", f"token:{token_id}", after={"user": row.user})
    return s.Token.model_validate(row)


@router.post("/erasures", response_model=s.ErasureOut, status_code=201, tags=["privacy"])
def erase(body: s.ErasureIn, ws: WorkspaceDep, user: Admin) -> s.ErasureOut:
    """Erase a person: anonymised (or deleted, by policy) in both systems, scrubbed from koppel's
    snapshots, error queue, conflicts and audit values; the audit keeps that it happened."""
    done = processes.erase(ws, user.name, body.entity, body.system, body.id)
    return s.ErasureOut.model_validate(done.__dict__)
