"""The error hierarchy: every error says what happened and ends with what to do about it.

Errors are sorted by what the runner must do with them: retry (TransientError), park one record
in the error queue (RecordError), or stop the run (FatalError and its kin).
"""

from __future__ import annotations


class KoppelError(Exception):
    """Root of every error koppel raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(KoppelError):
    """The configuration is invalid; carries every problem found, each with its location."""

    hint = "fix the lines named above and run the command again"

    def __init__(self, problems: list[str], *, source: str = "koppel.toml") -> None:
        self.problems = problems
        self.source = source
        text = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source} has {len(problems)} problem(s):\n{text}")


class UsageError(KoppelError):
    """The user asked for something that cannot be done as asked."""


class Unsupported(UsageError):
    """The systems koppel is connected to cannot do what was asked (a connector lacks an ability)."""


class NotFound(UsageError):
    """The thing asked for does not exist."""


class StateConflict(UsageError):
    """The thing exists but is not in a state that allows the request."""


class ConnectorError(KoppelError):
    """A peer system failed to answer as expected."""

    def __init__(self, message: str, *, system: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.system = system


class TransientError(ConnectorError):
    """Worth retrying: timeouts, 5xx, locks, rate limits."""

    hint = "koppel retries this with backoff; if it persists, check that the system is up"

    def __init__(self, message: str, *, system: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, system=system)
        self.retry_after = retry_after


class FatalError(ConnectorError):
    """The run cannot go on: the system is unreachable or refuses us."""

    hint = "check the system's URL and credentials with `koppel check`"


class AuthError(FatalError):
    """The system rejected our credentials."""

    hint = "check the credentials in the secrets file or environment, then run `koppel check`"


class RecordError(ConnectorError):
    """One record was rejected; it goes to the error queue with the target's own message."""

    hint = "fix the record (or its payload with `koppel errors`) and retry it"


class UniqueCollision(RecordError):
    """The target refused a create because another record already holds the same unique value."""

    hint = ("koppel creates it under a distinguishable name and proposes the pair as a possible "
            "duplicate (`koppel match list`), or reports it, as `on_unique_collision` says")

    def __init__(self, message: str, *, system: str = "", field: str, holder: str | None) -> None:
        super().__init__(message, system=system)
        self.field = field
        self.holder = holder
