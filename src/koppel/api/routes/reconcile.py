"""Reconciliation: the drift report between both systems and the links, and its repair."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from koppel.api import schemas as s
from koppel.api.deps import Operator, Viewer, WorkspaceDep
from koppel.api.routes import API
from koppel.services import reconcile

router = APIRouter(prefix=API, tags=["reconcile"])
Entities = Annotated[list[str] | None, Query(alias="entity", max_length=50)]


@router.get("/reconcile", response_model=s.ReconcileReport)
def drift(ws: WorkspaceDep, _user: Viewer, entities: Entities = None) -> s.ReconcileReport:
    """Compare both systems against the links (reads every record of the entities: can be slow)."""
    return s.ReconcileReport(drift=[s.Drift.model_validate(d) for d in reconcile.drift(ws, entities)])


@router.post("/reconcile/apply", response_model=s.ReconcileReport)
def repair(ws: WorkspaceDep, user: Operator, body: s.ReconcileIn | None = None) -> s.ReconcileReport:
    """Find the drift again and repair every line through the engine."""
    found, repaired = reconcile.repair(ws, user.name, body.entities if body else None)
    return s.ReconcileReport(drift=[s.Drift.model_validate(d) for d in found], repaired=dict(repaired))
