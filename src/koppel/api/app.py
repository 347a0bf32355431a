"""The FastAPI application: one Runtime (store, connectors, engine) opened at startup and closed
at shutdown, the routers under /api/v1, errors mapped in one place, metrics, and OpenAPI at
/openapi.json. No docs pages: FastAPI's would load their scripts from a CDN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager

from fastapi import FastAPI

from koppel.api import errors, metrics
from koppel.api.routes import accounts, admin, matches, processes, queue, reconcile, sync, system
from koppel.config.settings import Settings
from koppel.engine.runtime import Runtime, open_runtime
from koppel.services.workspace import Workspace
from koppel.store import Store
from koppel.workers.queue import FleetStatus

Opener = Callable[[Settings], AbstractContextManager[Runtime]]


def create_app(settings: Settings, *, opener: Opener = open_runtime) -> FastAPI:
    """The app over `settings`; `opener` builds the runtime (tests pass in-memory systems)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with opener(settings) as runtime:
            app.state.workspace = Workspace(runtime)
            try:
                yield
            finally:
                del app.state.workspace

    app = FastAPI(title="koppel", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="koppel's workspace API: the account 360°, sync on demand, the error queue.")
    errors.install(app)
    app.state.metrics = metrics.install(app, lambda: _store(app), lambda: _fleet(app))
    for module in (system, accounts, sync, queue, matches, reconcile, processes, admin):
        app.include_router(module.router, responses=errors.RESPONSES)
    return app


def _fleet(app: FastAPI) -> FleetStatus | None:
    workspace: Workspace | None = getattr(app.state, "workspace", None)
    return workspace.queue.fleet() if workspace else None


def _store(app: FastAPI) -> Store | None:
    workspace: Workspace | None = getattr(app.state, "workspace", None)
    return workspace.runtime.store if workspace else None
