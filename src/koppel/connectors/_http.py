"""What every HTTP connector shares: reading `Retry-After`, and a body cut short in transit.

A 429 or 503 may say when to come back (seconds, or an HTTP date); the engine's backoff waits at
least that long. A response whose body does not parse was cut in the middle: it is retried like
any transient failure, and nothing of it is used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from koppel import clock
from koppel.errors import TransientError

T = TypeVar("T")
#: tries of one request that is safe to repeat (a read; a write of the same values)
REQUEST_ATTEMPTS = 3


def repeated(send: Callable[[], T], *, attempts: int = REQUEST_ATTEMPTS, base: float = 0.2,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """One request that is safe to repeat, repeated on a transient failure (a lost packet, a 503)
    after a short backoff or the `Retry-After` asked for, so that one bad answer among the many
    requests of a batch does not fail the whole batch. The engine's own retries come on top."""
    for attempt in range(1, attempts + 1):
        try:
            return send()
        except TransientError as exc:
            if attempt == attempts:
                raise
            sleep(max(base * 2 ** (attempt - 1), min(exc.retry_after or 0.0, 30.0)))
    raise AssertionError("unreachable")  # pragma: no cover


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait, or None when it did not say (or said nonsense)."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock.now().astimezone(UTC)).total_seconds())


def parse_body(content: bytes, *, system: str, what: str,
               hook: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """The JSON of a response; a body that does not parse was cut short: TransientError."""
    try:
        return json.loads(content, object_hook=hook)
    except ValueError as exc:
        raise TransientError(f"{what}: the answer was cut short or is not JSON ({len(content)} bytes): {exc}",
                             system=system) from exc

