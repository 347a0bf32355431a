"""Match proposals: pairs of existing, uncoupled records both systems hold, for a person to couple
(one customer from then on) or keep apart (two different records). `koppel match` over HTTP.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from koppel.api import schemas as s
from koppel.api.deps import Operator, RuntimeDep, Viewer, WorkspaceDep
from koppel.api.errors import NotFound, StateConflict
from koppel.api.routes import API
from koppel.engine import matching
from koppel.errors import UsageError
from koppel.store import ProposalRow, Store

router = APIRouter(prefix=API, tags=["matches"])
MatchStatus = Literal["open", "coupled", "apart", "superseded", "all"]


def _proposal(store: Store, proposal_id: int) -> ProposalRow:
    row = store.proposals.get(proposal_id)
    if row is None:
        raise NotFound(f"no match proposal {proposal_id}", hint="list them with GET /api/v1/matches?status=all")
    return row


def _open(store: Store, proposal_id: int) -> ProposalRow:
    row = _proposal(store, proposal_id)
    if row.status != "open":
        raise StateConflict(f"match proposal {proposal_id} is {row.status} already",
                            hint="only open proposals can be coupled or kept apart")
    return row


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
    ws.runtime.engine.entities(entities)  # an entity the policy does not sync is a 400
    with ws.peers() as rt:
        before = {p.id for p in rt.store.proposals.list()}
        rows = matching.propose(rt.engine, entities)
    ws.audit(user, "propose", ",".join(entities or ["all"]),
             after={"open": len(rows), "new": len([r for r in rows if r.id not in before])})
    return [s.MatchProposal.model_validate(r) for r in rows]


@router.post("/matches/{proposal_id}/couple", response_model=s.MatchProposal)
def couple(proposal_id: s.RowId, ws: WorkspaceDep, user: Operator) -> s.MatchProposal:
    """Couple the pair: one record in both systems from now on, the owner's values written by
    policy. For a possible duplicate, the copy koppel made under another name is deleted."""
    with ws.peers() as rt:  # checked under the lock: two people cannot couple the same pair
        row = _open(rt.store, proposal_id)
        try:
            stats = matching.couple(rt.engine, row, user.name)  # audits as the user
        except UsageError as exc:  # the ERP record is gone: the request was fine, the pair is not
            raise StateConflict(exc.message, hint=exc.hint) from None
    if not stats["matched"]:
        raise StateConflict(f"match proposal {proposal_id} was not coupled",
                            hint="a system refused the write: see the error queue (GET /api/v1/errors); "
                                 "if nothing is there, the records differ in a field that tells them apart")
    return s.MatchProposal.model_validate(_proposal(ws.runtime.store, proposal_id))


@router.post("/matches/{proposal_id}/apart", response_model=s.MatchProposal)
def apart(proposal_id: s.RowId, ws: WorkspaceDep, user: Operator) -> s.MatchProposal:
    """Keep the pair apart: two different records. What waited for the decision is synced as
    usual (each record is created in the other system if the policy says so)."""
    with ws.peers() as rt:
        matching.keep_apart(rt.engine, _open(rt.store, proposal_id), user.name)  # audits as the user
    return s.MatchProposal.model_validate(_proposal(ws.runtime.store, proposal_id))
