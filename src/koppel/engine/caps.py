"""Per-system caps on concurrent writes that hold across all of koppel's workers and processes.

A system may take fewer writers than koppel runs: Tryton on SQLite writes one transaction at a
time, and BottleCRM numbers quotes per day, so two quotes created at once collide. Each cap is a
set of numbered slots (PostgreSQL advisory locks, see store/locks.py): a write call takes a free
slot for its duration, waits while all are taken (and says so in the log), and fails its run after
`[jobs] slot_timeout` seconds with what to do. A worker that dies lets go of its slot with its
database connection.

- `[systems.<side>] max_parallel = N`: write and delete calls in flight to the system at once;
- `[systems.<side>] max_parallel_creates = { quote = 1 }`: creates of an entity in flight at once,
  beside what the connector asks for itself (`WriteLimits`, e.g. BottleCRM's numbered documents).

On SQLite koppel runs in one process and one job at a time: no cap is needed, none is applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from koppel.config.policy import Side
from koppel.config.settings import Settings, SystemSettings
from koppel.connectors.base import Connector, WriteLimits, WriteOp, WriteOutcome
from koppel.errors import FatalError
from koppel.store.locks import Locks, SlotTimeout

log = structlog.get_logger("koppel.caps")
SLOT_HINT = ("the workers holding the slots write slowly or hang (`koppel status` lists the running jobs); "
             "where the system takes more writers, raise its cap in koppel.toml, or give the writes "
             "more time with [jobs] slot_timeout")


@dataclass(frozen=True)
class Caps:
    """How many writes one system takes at once."""

    system: str
    total: int | None = None  # write calls of any kind
    creates: Mapping[str, int] = field(default_factory=dict)  # creates per entity

    def __bool__(self) -> bool:
        return self.total is not None or bool(self.creates)

    def slots(self, entity: str, creating: bool) -> list[tuple[str, int, str]]:
        """The caps a write call takes a slot of: (lock name, slots, the setting), the narrower first."""
        found = []
        if creating and entity in self.creates:
            found.append((f"koppel:cap:{self.system}:create:{entity}", self.creates[entity],
                          f"[systems.{self.system}] max_parallel_creates.{entity}"))
        if self.total is not None:
            found.append((f"koppel:cap:{self.system}", self.total, f"[systems.{self.system}] max_parallel"))
        return found


def caps_for(side: str, connector: Connector, system: SystemSettings) -> Caps:
    """The connector's own limits, then koppel.toml's (which win)."""
    creates = dict(connector.write_limits()) if isinstance(connector, WriteLimits) else {}
    creates.update(system.max_parallel_creates)
    return Caps(side, system.max_parallel, creates)


def install(connectors: Mapping[Side, Connector], settings: Settings, locks: Locks) -> dict[str, Caps]:
    """Cap each connector's writes as settings and the connector say, across every worker on the
    store's PostgreSQL (nothing on SQLite). Returns the caps applied."""
    applied: dict[str, Caps] = {}
    if not locks.enabled:
        return applied
    for side, connector in connectors.items():
        caps = caps_for(side, connector, settings.systems[side])
        if caps and getattr(connector, "_koppel_caps", None) is None:
            cap(connector, caps, locks, timeout=settings.jobs.slot_timeout)
            applied[side] = caps
    return applied


def cap(connector: Connector, caps: Caps, locks: Locks, *, timeout: float) -> None:
    """Wrap the connector's write and delete calls (on the instance: its optional abilities, found
    by `isinstance`, stay as they are) so that each takes its slots first."""
    write, delete = connector.write, connector.delete

    def capped_write(entity: str, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        with _slots(locks, caps.slots(entity, any(op.id is None for op in ops)), timeout):
            return write(entity, ops)

    def capped_delete(entity: str, ids: Sequence[str]) -> list[WriteOutcome]:
        with _slots(locks, caps.slots(entity, False), timeout):
            return delete(entity, ids)

    setattr(connector, "write", capped_write)  # noqa: B010  # an instance attribute over the method
    setattr(connector, "delete", capped_delete)  # noqa: B010
    setattr(connector, "_koppel_caps", caps)  # noqa: B010


@contextmanager
def _slots(locks: Locks, wanted: list[tuple[str, int, str]], timeout: float) -> Iterator[None]:
    with ExitStack() as stack:
        for name, slots, setting in wanted:
            try:
                stack.enter_context(locks.slot(name, slots, timeout=timeout, waiting=_told(name, slots, setting)))
            except SlotTimeout:
                raise FatalError(f"no write slot came free in {timeout:g} s ({setting} = {slots}, held across "
                                 "all workers)", hint=SLOT_HINT) from None
        yield


def _told(name: str, slots: int, setting: str) -> Callable[[float], None]:
    def waiting(seconds: float) -> None:
        log.warning("waiting for a write slot", cap=setting, slots=slots, waited=round(seconds, 1))
    return waiting


def unwrap(connector: Any) -> None:
    """Take the caps off again (tests)."""
    for name in ("write", "delete", "_koppel_caps"):
        connector.__dict__.pop(name, None)
