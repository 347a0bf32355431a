"""How koppel retries a system that fails for a passing reason: exponential backoff, at least as
long as the system asked (`Retry-After`), a bounded number of attempts, then a FatalError that
stops the run and says the system is down. One place for every retry the engine makes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from koppel.errors import FatalError, TransientError

T = TypeVar("T")
DOWN_HINT = ("the system did not answer in time: check that it is up (`koppel check`); the next run "
             "goes on where this one stopped, nothing is lost")


@dataclass(frozen=True)
class Retries:
    attempts: int = 5
    base_delay: float = 0.5
    sleep: Callable[[float], None] = time.sleep

    def call(self, system: str, fn: Callable[..., T], *args: Any) -> T:
        """Call a connector, retrying transient failures with exponential backoff, waiting at
        least as long as the system asked (`Retry-After`)."""
        retrying = Retrying(retry=retry_if_exception_type(TransientError), stop=stop_after_attempt(self.attempts),
                            wait=self._wait, sleep=self.sleep, reraise=True)
        try:
            return retrying(fn, *args)
        except TransientError as exc:
            raise self.gave_up(system, exc) from exc

    def each(self, system: str, open_stream: Callable[[], Iterator[T]]) -> Iterator[T]:
        """Iterate a connector's stream. A generator that raised is finished (asking it again
        says "no more", which once made a run against a system that was down look `ok`), so a
        transient failure reopens the stream, from where the opener's cursor stands, with backoff."""
        stream, failures = open_stream(), 0
        while True:
            try:
                item = next(stream)
            except StopIteration:
                return
            except TransientError as exc:
                failures += 1
                if failures >= self.attempts:
                    raise self.gave_up(system, exc) from exc
                self.pause(failures, exc)
                stream = open_stream()
                continue
            failures = 0
            yield item

    def pause(self, attempt: int, *errors: BaseException | None) -> None:
        """Wait before try `attempt + 1`: the backoff, or longer if a system asked for it."""
        self.sleep(max(min(30.0, self.base_delay * 2 ** attempt), *(asked(e) for e in errors)))

    def gave_up(self, system: str, exc: TransientError) -> FatalError:
        return FatalError(f"{system} still failing after {self.attempts} attempts: {exc.message}",
                          system=system, hint=DOWN_HINT)

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_exponential(multiplier=self.base_delay, max=30)(state)
        error = state.outcome.exception() if state.outcome is not None else None
        return max(backoff, asked(error))


def asked(error: BaseException | None) -> float:
    """How long a system asked us to wait before the next try (at most ten minutes)."""
    seconds = getattr(error, "retry_after", None)
    return min(float(seconds), 600.0) if seconds else 0.0
