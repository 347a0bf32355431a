"""The first coupling of two populated systems: proposals found, then coupled or kept apart."""

from __future__ import annotations

from collections.abc import Sequence

from koppel.engine import matching
from koppel.errors import NotFound, StateConflict, UsageError
from koppel.services.workspace import Workspace
from koppel.store import ProposalRow


def proposal(ws: Workspace, proposal_id: int) -> ProposalRow:
    row = ws.runtime.store.proposals.get(proposal_id)
    if row is None:
        raise NotFound(f"no match proposal {proposal_id}", hint="list them with `koppel match list` "
                       "or GET /api/v1/matches?status=all")
    return row


def _open(ws: Workspace, proposal_id: int) -> ProposalRow:
    row = proposal(ws, proposal_id)
    if row.status != "open":
        raise StateConflict(f"match proposal {proposal_id} is {row.status} already",
                            hint="only open proposals can be coupled or kept apart")
    return row


def propose(ws: Workspace, actor: str, entities: Sequence[str] | None = None) -> list[ProposalRow]:
    """Read both systems (every record of the entities: can be slow), store the new proposals and
    return every open one."""
    ws.runtime.engine.entities(entities)  # an entity the policy does not sync is refused
    with ws.peers() as rt:
        before = {p.id for p in rt.store.proposals.list()}
        rows = matching.propose(rt.engine, entities)
    ws.audit(actor, "propose", ",".join(entities or ["all"]),
             after={"open": len(rows), "new": len([r for r in rows if r.id not in before])})
    return rows


def couple(ws: Workspace, actor: str, proposal_id: int) -> ProposalRow:
    """Couple the pair: one record in both systems from now on, the owner's values written by
    policy. For a possible duplicate, the copy koppel made under another name is deleted."""
    with ws.peers() as rt:  # checked under the lock: two people cannot couple the same pair
        row = _open(ws, proposal_id)
        try:
            stats = matching.couple(rt.engine, row, actor)  # audits as the actor
        except UsageError as exc:  # the ERP record is gone: the request was fine, the pair is not
            raise StateConflict(exc.message, hint=exc.hint) from None
    if not stats["matched"]:
        raise StateConflict(f"match proposal {proposal_id} was not coupled",
                            hint="a system refused the write: see the error queue; if nothing is there, "
                                 "the records differ in a field that tells them apart")
    return proposal(ws, proposal_id)


def apart(ws: Workspace, actor: str, proposal_id: int) -> ProposalRow:
    """Keep the pair apart: two different records. What waited for the decision is synced as usual."""
    with ws.peers() as rt:
        matching.keep_apart(rt.engine, _open(ws, proposal_id), actor)  # audits as the actor
    return proposal(ws, proposal_id)
