"""HTTP transport to BottleCRM: one httpx client, bearer PAT, throttled parallel requests.

Transport only: it knows paths, methods and status codes, never entities. Every HTTP
failure becomes a koppel error here and nowhere else.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from koppel.connectors._http import parse_body, repeated, retry_after
from koppel.connectors.bottlecrm.config import BottleCrmSettings
from koppel.errors import AuthError, ConnectorError, FatalError, RecordError, TransientError

T = TypeVar("T")
R = TypeVar("R")
Json = dict[str, Any]


class NotFound(RecordError):
    """The record does not exist (HTTP 404)."""


class BottleCrmClient:
    """Calls `/api/…` with the PAT; maps status codes to koppel errors in `_raise_for`."""

    def __init__(self, system: str, settings: BottleCrmSettings) -> None:
        self.system = system
        self.settings = settings
        self._http = httpx.Client(
            base_url=settings.url.rstrip("/") + "/api/",
            headers={"Authorization": f"Bearer {settings.token.get_secret_value()}",
                     "Accept": "application/json"},
            timeout=settings.timeout,
            limits=httpx.Limits(max_connections=settings.concurrency),
        )
        self._pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix=f"bottlecrm-{system}")
        #: requests sent, by "METHOD path" (a list's pages count one each): what a read cost
        self.requests: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    # --- verbs ---------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Json:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any]) -> Json:
        return self._call("POST", path, body=body)

    def patch(self, path: str, body: Mapping[str, Any]) -> Json:
        return self._call("PATCH", path, body=body)

    def put(self, path: str, body: Mapping[str, Any]) -> Json:
        """Only where BottleCRM offers no PATCH (products, estimates, invoices): a partial PUT there."""
        return self._call("PUT", path, body=body)

    def delete(self, path: str) -> Json:
        return self._call("DELETE", path)

    def pages(self, path: str, extract: Callable[[Json], list[list[Json]]],
              params: Mapping[str, Any] | None = None, *, page_size: int | None = None) -> Iterator[Json]:
        """Every row of a list endpoint, de-duplicated by id, a page (of `page_size`, at most the
        configured one) requested when the rows before it have been taken.

        `extract` returns the row lists in one page (accounts have two: open and closed);
        paging stops when every list came back shorter than the page. Offsets are computed
        here: the `offset` BottleCRM reports is meaningless.
        """
        limit, offset, seen = min(page_size or self.settings.page_size, self.settings.page_size), 0, set[str]()
        while True:
            page = self.get(path, {**(params or {}), "limit": limit, "offset": offset})
            lists = extract(page)
            for row in (r for rows in lists for r in rows):
                if row["id"] not in seen:
                    seen.add(row["id"])
                    yield row
            if all(len(rows) < limit for rows in lists):
                return
            offset += limit

    def parallel(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`fn` over `items` with at most `concurrency` requests in flight, results in order."""
        items = list(items)
        if len(items) <= 1:
            return [fn(i) for i in items]
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    # --- the one place where HTTP turns into koppel errors --------------------------------

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None) -> Json:
        """One request; a GET, PUT, PATCH or DELETE is repeated on a transient failure (a POST
        creates: the engine decides whether a lost one may be sent again)."""
        if method == "POST":
            return self._once(method, path, params=params, body=body)
        return repeated(lambda: self._once(method, path, params=params, body=body))

    def _once(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None) -> Json:
        with self._count_lock:
            self.requests[f"{method} {path}"] += 1
        try:
            response = self._http.request(method, path, params=params,
                                          json=dict(body) if body is not None else None)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{method} {path} timed out after {self.settings.timeout} s",
                                 system=self.system) from exc
        except httpx.TransportError as exc:
            raise TransientError(f"{method} {path}: cannot reach {self.settings.url}: {exc}",
                                 system=self.system) from exc
        if response.is_success:
            return _json(response, self.system, f"{method} {path}")
        raise self._raise_for(method, path, response)

    def _raise_for(self, method: str, path: str, response: httpx.Response) -> ConnectorError:
        status, text = response.status_code, _error_text(response)
        where = f"BottleCRM {method} {path} answered {status}"
        if status == 429 or status >= 500:
            return TransientError(f"{where}: {text}", system=self.system,
                                  retry_after=retry_after(response.headers))
        if status in (401, 403):
            return AuthError(f"{where}: {text}", system=self.system)
        if status == 404:
            return NotFound(f"{where}: {text}", system=self.system)
        if status in (400, 405, 409, 422):
            return RecordError(text, system=self.system)
        return FatalError(f"{where}: {text}", system=self.system)


def _json(response: httpx.Response, system: str, what: str) -> Json:
    if not response.content:
        return {}
    data = parse_body(response.content, system=system, what=what)
    return data if isinstance(data, dict) else {"results": data}


def _error_text(response: httpx.Response) -> str:
    """BottleCRM's own message: the `errors`/`message`/`detail` of its JSON body, else the text."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(data, dict):
        for key in ("errors", "message", "detail"):
            if data.get(key):
                value = data[key]
                return value if isinstance(value, str) else _flatten(value)
    return str(data)[:500]


def _flatten(errors: Any) -> str:
    """{"name": ["This field is required."]} -> "name: This field is required." """
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in errors.items())
    if isinstance(errors, list):
        return " ".join(_flatten(e) for e in errors)
    return str(errors)
