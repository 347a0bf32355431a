"""Reconciliation: the drift between both systems and the links, and its repair."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from koppel.engine import reconcile as rec
from koppel.services.workspace import Workspace


def drift(ws: Workspace, entities: Sequence[str] | None = None) -> list[rec.Drift]:
    """Compare both systems against the links (reads every record of the entities: can be slow)."""
    with ws.peers() as rt:
        return rec.reconcile(rt.engine, entities)


def repair(ws: Workspace, actor: str, entities: Sequence[str] | None = None
           ) -> tuple[list[rec.Drift], Counter[str]]:
    """Find the drift again and repair every line through the engine."""
    with ws.peers() as rt:
        found = rec.reconcile(rt.engine, entities)
        repaired = rec.apply(rt.engine, found)
    ws.audit(actor, "reconcile", ",".join(entities or ["all"]), after={"drift": len(found), "repaired": dict(repaired)})
    return found, repaired
