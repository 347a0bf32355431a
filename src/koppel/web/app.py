"""The web workspace: the REST API app with the server-rendered pages and /static added.

Errors on pages are mapped in one place, like the API's: a page answers with an HTML page, an
action redirects back with the message and its hint; the API's routes keep their JSON errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from koppel.api.app import Opener, create_app
from koppel.api.errors import Unauthenticated, status_of
from koppel.config.settings import Settings
from koppel.engine.runtime import open_runtime
from koppel.errors import KoppelError
from koppel.i18n import _, translate
from koppel.web import auth, language
from koppel.web.language import PageLanguage
from koppel.web.pages import accounts, analytics, monitor, orders
from koppel.web.render import HERE, Flash, PageRoot, app_path, bare, page, redirect

Handler = Callable[[Request, Exception], Awaitable[Response]]
_NOT_PAGES = ("/api/", "/health", "/metrics", "/openapi.json", "/static/")


def create_workspace(settings: Settings, *, opener: Opener = open_runtime) -> FastAPI:
    """The API app over `settings` plus the workspace's pages (`opener` as in `create_app`)."""
    app = create_app(settings, opener=opener)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.language = settings.workspace.language
    app.add_middleware(PageLanguage)
    app.add_middleware(PageRoot)
    for module in (auth, language, accounts, monitor, orders, analytics):
        app.include_router(module.router)
    app.add_api_route("/", lambda: redirect("/accounts"), include_in_schema=False)
    _install_errors(app)
    return app


def _install_errors(app: FastAPI) -> None:
    for kind in (KoppelError, RequestValidationError, StarletteHTTPException):
        api_handler = cast(Handler, app.exception_handlers[kind])
        app.add_exception_handler(kind, _dispatch(api_handler))


def _dispatch(api_handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if app_path(request).startswith(_NOT_PAGES):
            return await api_handler(request, exc)
        return _page_error(request, exc)
    return handle


def _page_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Unauthenticated):
        return _to_signin(request)
    code, text, hint = _described(exc)
    if request.method == "POST":
        return redirect(auth.came_from(request), Flash("error", text, hint))
    runtime = request.app.state.workspace.runtime
    token = request.cookies.get(auth.COOKIE)
    user = runtime.store.tokens.user_for(token) if token else None
    if user is None:
        return bare(request, "error.html", code, code=code, text=text, hint=hint, user=None)
    return page(request, runtime, user, "error.html", code, code=code, text=text, hint=hint)


def _described(exc: Exception) -> tuple[int, str, str]:
    """Status, message and hint in the page's language (texts composed in English are found in the
    catalogue with their values)."""
    if isinstance(exc, KoppelError):
        return status_of(exc), translate(exc.message), translate(exc.hint)
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        return 422, f"{where}: {first.get('msg', _('invalid input'))}", _("check the form and send it again")
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return 404, _("There is no such page."), _("use the navigation on the left")
    return exc.status_code, str(exc.detail), ""


def _to_signin(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = auth.came_from(request)
    expired = request.cookies.get(auth.COOKIE) is not None
    flash = Flash("warn", _("Your session has ended; sign in again.")) if expired else None
    response = redirect(f"/signin?next={quote(target, safe='/')}", flash)
    if expired:
        response.delete_cookie(auth.COOKIE, path="/")
    return response
