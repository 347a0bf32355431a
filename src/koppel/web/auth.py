"""Signing in to the workspace: the user pastes an API token (`koppel tokens create NAME`), the
API's token store checks it, and it is kept in an HttpOnly, SameSite=Strict cookie.

Every page needs a signed-in user; actions need the operator role and a same-origin request.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from koppel.api.deps import RuntimeDep
from koppel.api.errors import Forbidden, Unauthenticated
from koppel.i18n import _
from koppel.store.workspace import UserRow
from koppel.web.render import Flash, bare, can_operate, redirect, word

COOKIE = "koppel_session"
MAX_AGE = 12 * 3600
router = APIRouter(include_in_schema=False)


def page_user(request: Request, rt: RuntimeDep) -> UserRow:
    token = request.cookies.get(COOKIE)
    user = rt.store.tokens.user_for(token) if token else None
    if user is None:
        raise Unauthenticated("sign in with your API token to use the workspace",
                              hint="create one with `koppel tokens create NAME`")
    return user


PageUser = Annotated[UserRow, Depends(page_user)]


def same_origin(request: Request) -> None:
    """Refuse a form posted from another site (the cookie is SameSite=Strict as well)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        raise Forbidden("this form was sent from another site", hint="use the workspace's own pages")


def page_operator(request: Request, user: PageUser) -> UserRow:
    same_origin(request)
    if not can_operate(user):
        raise Forbidden(f"{user.name} is a {user.role}; this action needs the operator role",
                        hint="ask an admin for the operator role (`koppel users add NAME --role operator`)")
    return user


PageOperator = Annotated[UserRow, Depends(page_operator)]


def local(target: str | None) -> str:
    """Only paths on this site are followed after sign-in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def came_from(request: Request) -> str:
    """Where an action came from (a path on this site), to show its outcome there."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.headers.get("host"):
        return "/"
    path = referer.path + (f"?{referer.query}" if referer.query else "")
    return local(path or "/")


@router.get("/signin")
def signin_form(request: Request, next: str = "/") -> Response:
    return bare(request, "signin.html", next=local(next), error=None)


@router.post("/signin")
def signin(request: Request, rt: RuntimeDep, token: Annotated[str, Form(max_length=500)] = "",
           next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    same_origin(request)
    user = rt.store.tokens.user_for(token.strip()) if token.strip() else None
    if user is None:
        error = Flash("error", _("That token was not accepted."),
                      _("It is unknown, revoked, or its user is disabled. Create a new one with "
                        "`koppel tokens create NAME`."))
        return bare(request, "signin.html", 401, next=local(next), error=error)
    response = redirect(local(next), Flash("ok", _("Signed in as {name} ({role}).", name=user.name, role=word(user.role))))
    response.set_cookie(COOKIE, token.strip(), max_age=MAX_AGE, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/signout")
def signout(request: Request) -> Response:
    same_origin(request)
    response = redirect("/signin", Flash("ok", _("Signed out.")))
    response.delete_cookie(COOKIE, path="/")
    return response
