"""The language of every page: the user's choice (stored with the user, changed with the form in
the sidebar), else the browser's `Accept-Language`, else koppel.toml's `[workspace] language`,
else English. The API's routes follow `Accept-Language` alone.

A middleware settles it before anything else runs, so that the route, its errors and the page all
speak it; it lives in a context variable, so that concurrent requests never share one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from koppel import i18n
from koppel.api.deps import WorkspaceDep
from koppel.errors import UsageError
from koppel.i18n import _
from koppel.services import users
from koppel.web.auth import COOKIE, PageUser, came_from, same_origin
from koppel.web.render import Flash, app_path, redirect

router = APIRouter(include_in_schema=False)
API_PATHS = ("/api/", "/health", "/metrics", "/openapi.json")


class PageLanguage:
    """ASGI middleware: every request runs in its language."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        language = await run_in_threadpool(page_language, Request(scope))
        with i18n.using(language):
            await self.app(scope, receive, send)


def page_language(request: Request, choice: str | None = None) -> str:
    browser = i18n.from_accept_language(request.headers.get("accept-language"))
    if app_path(request).startswith(API_PATHS):
        return i18n.resolve(browser)
    default = getattr(request.app.state, "language", i18n.DEFAULT)
    return i18n.resolve(choice if choice is not None else chosen(request), browser, default)


def chosen(request: Request) -> str | None:
    """The signed-in user's own choice, if they made one."""
    token = request.cookies.get(COOKIE)
    workspace = getattr(request.app.state, "workspace", None)
    if not token or workspace is None:
        return None
    found: str | None = workspace.runtime.store.tokens.language_of(token)
    return found


@router.post("/language")
def set_language(request: Request, ws: WorkspaceDep, user: PageUser,
                 language: Annotated[str, Form(max_length=10)] = "") -> Response:
    """The user's language from now on, on every page and device; empty: the browser's again."""
    same_origin(request)
    if language and language not in i18n.LANGUAGES:
        raise UsageError(f"koppel speaks no {language!r}", hint="choose English, Deutsch or Nederlands")
    users.set_language(ws, user.name, language or None)
    with i18n.using(page_language(request, language)):
        flash = Flash("ok", _("The workspace speaks {language} now.", language=i18n.NAMES[i18n.current()]))
    return redirect(came_from(request), flash)
