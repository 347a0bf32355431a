"""Health and metrics: no token needed, so load balancers and Prometheus can reach them.

/metrics carries counts only (no names, ids or values), which is why it is left open.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from koppel.api import schemas as s
from koppel.api.deps import WorkspaceDep
from koppel.errors import KoppelError

router = APIRouter(tags=["system"])


@router.get("/health", response_model=s.Health)
def health(ws: WorkspaceDep, response: Response) -> s.Health:
    """The store answers, and each system's connector check passes."""
    store_ok = _store_ok(ws)
    systems = {}
    seen = ws.runtime.store.runs.systems() if store_ok else {}
    with ws.peers() as rt:
        for side, connector in rt.connectors.items():
            found = _check(rt.settings.systems[side].connector, connector.check)
            runs = seen.get(side, {})
            systems[side] = found.model_copy(update={
                "last_success_at": runs.get("last_success_at"), "down_since": runs.get("down_since"),
                "last_run_error": None if runs.get("up", True) else runs.get("last_error")})
    ok = store_ok and all(h.ok for h in systems.values())
    if not ok:
        response.status_code = 503
    return s.Health(ok=ok, store=store_ok, systems=systems)


def _store_ok(ws: WorkspaceDep) -> bool:
    try:
        ws.runtime.store.links.counts()
    except Exception:  # any failure to query means: not reachable
        return False
    return True


def _check(kind: str, check: Callable[[], None]) -> s.SystemHealth:
    try:
        check()
    except KoppelError as exc:
        return s.SystemHealth(ok=False, connector=kind, error=exc.message)
    except Exception as exc:  # a peer failing in a way its connector did not sort
        return s.SystemHealth(ok=False, connector=kind, error=type(exc).__name__)
    return s.SystemHealth(ok=True, connector=kind)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
