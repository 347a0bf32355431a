"""Errors to HTTP in one place: every koppel error becomes a status and a JSON body `{error, hint}`.

Handlers never raise HTTPException; they raise domain errors (or the few API-only ones below),
and `install` maps them. Bad input is a clear 4xx; request values are never echoed back.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from koppel import i18n
from koppel.errors import (
    ConfigError,
    ConnectorError,
    FatalError,
    KoppelError,
    NotFound,
    RecordError,
    StateConflict,
    TransientError,
    Unsupported,
    UsageError,
)
from koppel.i18n import N_


class Unauthenticated(KoppelError):
    hint = "send a token as `Authorization: Bearer <token>`; create one with `koppel tokens create NAME`"


class Forbidden(KoppelError):
    hint = "ask an admin for a role that allows this (`koppel users add NAME --role operator`)"


# most specific first: the first class an error is an instance of decides its status
_STATUS: tuple[tuple[type[KoppelError], int], ...] = (
    (Unauthenticated, 401), (Forbidden, 403), (NotFound, 404), (StateConflict, 409), (Unsupported, 409),
    (ConfigError, 400), (UsageError, 400), (RecordError, 422), (TransientError, 503),
    (FatalError, 502), (ConnectorError, 502),
)


class ErrorBody(BaseModel):
    """Every error answer: what happened and what to do about it."""

    error: str
    hint: str
    problems: list[dict[str, Any]] | None = None  # a request that does not validate: each problem


_MEANING = {400: "bad input or configuration", 401: "no or unknown token", 403: "the role does not allow this",
            404: "no such record", 409: "the record, or the systems connected, do not allow this now",
            422: "the request does not validate, or a system refused the record",
            502: "a system failed", 503: "a system is busy or down: try again"}
#: documented on every route, so that the spec says what the answers can be
RESPONSES: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody, "description": text}
                                              for code, text in _MEANING.items()}


def status_of(error: KoppelError) -> int:
    return next((code for cls, code in _STATUS if isinstance(error, cls)), 400)


def body(error: str, hint: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "hint": hint, **extra}


def hint_in(request: Request, hint: str) -> str:
    """The hint in the language the client asks for (`Accept-Language`), else English; the error
    itself and every key stay as they are, for scripts."""
    with i18n.using(i18n.from_accept_language(request.headers.get("accept-language"))):
        return i18n.translate(hint)


async def _koppel_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KoppelError)
    code = status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
    return JSONResponse(body(exc.message, hint_in(request, exc.hint)), status_code=code, headers=headers)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    hint = hint_in(request, N_("see /openapi.json for what this route accepts"))
    return JSONResponse(body(f"{where}: {first['msg']}", hint, problems=problems), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    hint = hint_in(request, N_("see /openapi.json for the routes")) if exc.status_code in (404, 405) else ""
    return JSONResponse(body(str(exc.detail), hint), status_code=exc.status_code, headers=exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(KoppelError, _koppel_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
