"""What routes depend on, as `Annotated` aliases: the workspace (one Runtime opened at startup,
see `koppel.services.workspace`), the signed-in user from a bearer token, and the role a route needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from koppel.api.errors import Forbidden, Unauthenticated
from koppel.engine.runtime import Runtime
from koppel.services.workspace import Workspace
from koppel.store.workspace import ROLES, Role, UserRow


def workspace(request: Request) -> Workspace:
    found: Workspace = request.app.state.workspace
    return found


def runtime(request: Request) -> Runtime:
    return workspace(request).runtime


WorkspaceDep = Annotated[Workspace, Depends(workspace)]
RuntimeDep = Annotated[Runtime, Depends(runtime)]
_bearer = HTTPBearer(auto_error=False, description="an API token from `koppel tokens create NAME`")


def current_user(rt: RuntimeDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> UserRow:
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("no token: this route needs `Authorization: Bearer <token>`")
    user = rt.store.tokens.user_for(credentials.credentials)
    if user is None:
        raise Unauthenticated("the token is unknown, revoked, or its user is disabled")
    return user


CurrentUser = Annotated[UserRow, Depends(current_user)]


def require(role: Role) -> Callable[[UserRow], UserRow]:
    """A dependency that lets through users with `role` or a higher one."""
    def check(user: CurrentUser) -> UserRow:
        if ROLES.index(user.role) < ROLES.index(role):
            raise Forbidden(f"{user.name} is a {user.role}; this needs the {role} role")
        return user
    return check


Viewer = Annotated[UserRow, Depends(require("viewer"))]
Operator = Annotated[UserRow, Depends(require("operator"))]
Admin = Annotated[UserRow, Depends(require("admin"))]
