"""Match proposals: pairs of existing, uncoupled records both systems hold, for a person to couple
(one customer from then on) or keep apart (two different records). `koppel match` over HTTP.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from koppel.api import schemas as s
from koppel.api.deps import Operator, RuntimeDep, Viewer, WorkspaceDep
from koppel.api.routes import API
from koppel.services import matches as services

router = APIRouter(prefix=API, tags=["matches"])
MatchStatus = Literal["open", "coupled", "apart", "superseded", "all"]


@router.get("/matches", response_model=list[s.MatchProposal])
def matches(rt: RuntimeDep, _user: Viewer, status: MatchStatus = "open") -> list[s.MatchProposal]:
    """Pairs of records both systems hold, strongest first, with the rule that found them."""
    rows = rt.store.proposals.list(status=None if status == "all" else status)
    return [s.MatchProposal.model_validate(r) for r in rows]


@router.post("/matches/propose", response_model=list[s.MatchProposal])
def propose(ws: WorkspaceDep, user: Operator, body: s.ProposeIn | None = None) -> list[s.MatchProposal]:
    """Read both systems (every record of the entities: can be slow), store the new proposals and
    return every open one."""
    entities = body.entities if body and body.entities else None
    return [s.MatchProposal.model_validate(r) for r in services.propose(ws, user.name, entities)]


@router.post("/matches/{proposal_id}/couple", response_model=s.MatchProposal)
def couple(proposal_id: s.RowId, ws: WorkspaceDep, user: Operator) -> s.MatchProposal:
    """Couple the pair: one record in both systems from now on, the owner's values written by
    policy. For a possible duplicate, the copy koppel made under another name is deleted."""
    return s.MatchProposal.model_validate(services.couple(ws, user.name, proposal_id))


@router.post("/matches/{proposal_id}/apart", response_model=s.MatchProposal)
def apart(proposal_id: s.RowId, ws: WorkspaceDep, user: Operator) -> s.MatchProposal:
    """Keep the pair apart: two different records. What waited for the decision is synced as
    usual (each record is created in the other system if the policy says so)."""
    return s.MatchProposal.model_validate(services.apart(ws, user.name, proposal_id))
