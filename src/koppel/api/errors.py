"""Errors to HTTP in one place: every koppel error becomes a status and a JSON body `{error, hint}`.

Handlers never raise HTTPException; they raise domain errors (or the few API-only ones below),
and `install` maps them. Bad input is a clear 4xx; request values are never echoed back.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from koppel.errors import (
    ConfigError,
    ConnectorError,
    FatalError,
    KoppelError,
    RecordError,
    TransientError,
    UsageError,
)


class NotFound(UsageError):
    """The thing asked for does not exist."""


class StateConflict(UsageError):
    """The thing exists but is not in a state that allows the request."""


class Unauthenticated(KoppelError):
    hint = "send a token as `Authorization: Bearer <token>`; create one with `koppel tokens create NAME`"


class Forbidden(KoppelError):
    hint = "ask an admin for a role that allows this (`koppel users add NAME --role operator`)"


# most specific first: the first class an error is an instance of decides its status
_STATUS: tuple[tuple[type[KoppelError], int], ...] = (
    (Unauthenticated, 401), (Forbidden, 403), (NotFound, 404), (StateConflict, 409),
    (ConfigError, 400), (UsageError, 400), (RecordError, 422), (TransientError, 503),
    (FatalError, 502), (ConnectorError, 502),
)


def status_of(error: KoppelError) -> int:
    return next((code for cls, code in _STATUS if isinstance(error, cls)), 400)


def body(error: str, hint: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "hint": hint, **extra}


async def _koppel_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KoppelError)
    code = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return JSONResponse(body(exc.message, exc.hint), status_code=code, headers=headers)


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    return JSONResponse(body(f"{where}: {first['msg']}", "see /openapi.json for what this route accepts",
                             problems=problems), status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    hint = "see /openapi.json for the routes" if exc.status_code in (404, 405) else ""
    return JSONResponse(body(str(exc.detail), hint), status_code=exc.status_code, headers=exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(KoppelError, _koppel_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
