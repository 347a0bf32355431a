"""Transport to Tryton: JSON-RPC over httpx with a cached session and Tryton's type codecs.

Every way a call can fail is turned into a koppel error here, in one place: the network and
server hiccups become TransientError, refused credentials AuthError, and application errors
RecordError carrying Tryton's own (human-readable) message.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx

from koppel.connectors._http import parse_body, repeated, retry_after
from koppel.errors import AuthError, ConnectorError, RecordError, TransientError

Context = dict[str, Any]


def encode(value: Any) -> Any:
    """json.dumps `default`: Tryton's tagged forms of the non-JSON Python types."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, datetime):
        return {"__class__": "datetime", "year": value.year, "month": value.month,
                "day": value.day, "hour": value.hour, "minute": value.minute,
                "second": value.second, "microsecond": value.microsecond}
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, time):
        return {"__class__": "time", "hour": value.hour, "minute": value.minute,
                "second": value.second, "microsecond": value.microsecond}
    if isinstance(value, timedelta):
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, bytes):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode()}
    raise TypeError(f"cannot send {type(value).__name__} to Tryton")


def decode(obj: dict[str, Any]) -> Any:
    """json.loads `object_hook`: back from Tryton's tagged forms."""
    kind = obj.get("__class__")
    if kind is None:
        return obj
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "date":
        return date(obj["year"], obj["month"], obj["day"])
    if kind == "datetime":
        return datetime(obj["year"], obj["month"], obj["day"], obj["hour"], obj["minute"],
                        obj["second"], obj.get("microsecond", 0))
    if kind == "time":
        return time(obj["hour"], obj["minute"], obj["second"], obj.get("microsecond", 0))
    if kind == "timedelta":
        return timedelta(seconds=obj["seconds"])
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    return obj


#: methods whose call may be sent again when its answer was lost: reads, and writes of given values
REPEATABLE = frozenset({"read", "search", "search_read", "search_count", "fields_get", "get_preferences",
                        "on_change", "on_change_with", "write"})

class RpcError(RecordError):
    """An application error from Tryton: its exception class and its own message."""

    def __init__(self, kind: str, message: str, *, system: str, payload: Any = None) -> None:
        super().__init__(message, system=system)
        self.kind = kind
        self.payload = payload


def _app_error(error: Any, system: str, method: str) -> ConnectorError:
    """Map Tryton's `{"error": [...]}` payload to a koppel error (the one place that does)."""
    kind = str(error[0]) if isinstance(error, list) and error else "Error"
    detail = error[1] if isinstance(error, list) and len(error) > 1 else error
    if kind == "ConcurrencyException":
        return TransientError(f"{method}: {detail}", system=system)
    if kind == "LoginException":
        return AuthError(f"{method}: Tryton asks for a login ({detail})", system=system)
    if kind in ("UserError", "UserWarning") and isinstance(detail, list) and detail:
        text = str(detail[1] if kind == "UserWarning" and len(detail) > 1 else detail[0])
        return RpcError(kind, text, system=system, payload=detail)
    return RpcError(kind, f"{method}: {kind} {detail}".strip(), system=system, payload=detail)


class TrytonClient:
    """A logged-in JSON-RPC session on one Tryton database."""

    def __init__(self, url: str, database: str, user: str, password: str, *,
                 system: str = "erp", timeout: float = 60.0) -> None:
        self.system = system
        self.endpoint = f"{url.rstrip('/')}/{database}/rpc/"
        self._user, self._password = user, password
        self._http = httpx.Client(timeout=timeout, headers={"Content-Type": "application/json"})
        self._session: str | None = None
        self._next_id = 0
        self.user_id: int | None = None
        self.context: Context = {}

    # --- session ------------------------------------------------------------------------

    def login(self) -> None:
        """Open a session and fetch the user's preferences (the context of every call)."""
        self._session = None
        result = self._post("common.db.login", [self._user, {"password": self._password}, "en"])
        if not isinstance(result, list) or len(result) < 2:
            raise AuthError(f"Tryton refused the login of {self._user!r}", system=self.system)
        self.user_id, token = int(result[0]), str(result[1])
        raw = f"{self._user}:{self.user_id}:{token}".encode()
        self._session = base64.b64encode(raw).decode()
        self.context = dict(self._post("model.res.user.get_preferences", [True, {}]))

    def ensure_login(self) -> None:
        if self._session is None:
            self.login()

    def close(self) -> None:
        self._http.close()

    # --- calls --------------------------------------------------------------------------

    def call(self, method: str, params: Sequence[Any], *, context: Mapping[str, Any] | None = None
             ) -> Any:
        """Call a model method; the session context (plus `context`) goes last."""
        self.ensure_login()
        args = [*params, {**self.context, **(context or {})}]
        try:
            return self._send(method, args)
        except AuthError:
            self.login()  # session expired or dropped: one fresh login, then give up
            return self._send(method, [*params, {**self.context, **(context or {})}])

    def _send(self, method: str, args: list[Any]) -> Any:
        """Reads and writes of given values are safe to repeat; a create or a button is not."""
        if method.rsplit(".", 1)[-1] in REPEATABLE:
            return repeated(lambda: self._post(method, args))
        return self._post(method, args)

    def model(self, model: str, method: str, *params: Any,
              context: Mapping[str, Any] | None = None) -> Any:
        return self.call(f"model.{model}.{method}", params, context=context)

    def accepting(self, model: str, method: str, *params: Any,
                  context: Mapping[str, Any] | None = None) -> Any:
        """Call a model method, accepting a UserWarning once the way the Tryton client does:
        record it in res.user.warning and call again (`_skip_warnings` is stripped over RPC)."""
        try:
            return self.model(model, method, *params, context=context)
        except RpcError as exc:
            if exc.kind != "UserWarning" or not isinstance(exc.payload, list):
                raise
            self.model("res.user.warning", "create",
                       [{"user": self.user_id, "name": exc.payload[0], "always": False}])
            return self.model(model, method, *params, context=context)

    # --- wire ---------------------------------------------------------------------------

    def _post(self, method: str, params: Sequence[Any]) -> Any:
        self._next_id += 1
        body = json.dumps({"id": self._next_id, "method": method, "params": list(params)},
                          default=encode)
        headers = {"Authorization": f"Session {self._session}"} if self._session else {}
        try:
            response = self._http.post(self.endpoint, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{method}: Tryton did not answer in time ({exc})",
                                 system=self.system) from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"{method}: cannot reach Tryton ({exc})", system=self.system) from exc
        return self._result(method, response)

    def _result(self, method: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status == 401:
            raise AuthError(f"{method}: Tryton rejected the session or password", system=self.system)
        if status == 429 or status >= 500:
            raise TransientError(f"{method}: Tryton answered HTTP {status}", system=self.system,
                                 retry_after=retry_after(response.headers))
        if status >= 400:
            raise RpcError("HTTP", f"{method}: Tryton answered HTTP {status}: {response.text[:200]}",
                           system=self.system)
        data = parse_body(response.content, system=self.system, what=method, hook=decode)
        if data.get("error"):
            raise _app_error(data["error"], self.system, method)
        return data.get("result")
