"""Locks that hold across every koppel process on one PostgreSQL store: PostgreSQL's advisory
locks, taken on a connection of their own per thread. They are session locks, so a process that
dies (`kill -9`, a lost machine) lets go of its locks with its connection; nothing is left to
clean up.

- `hold(keys)`: wait for every key (in one order, so two holders never wait for each other in
  a circle), shared or exclusive; taken again by the same thread, a key is counted, not waited for.
- `try_hold(key)`: take a key if it is free now, else go on without it.
- `slot(name, slots)`: one of `slots` numbered keys (a cap of concurrent calls), waiting while
  all are taken, up to a timeout.

On SQLite koppel runs in one process and one job at a time: every lock is granted at once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import Connection, Engine


def number(key: str) -> int:
    """The advisory lock number of a key: 64 bits of its hash, signed as PostgreSQL's bigint."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


class SlotTimeout(Exception):
    """No slot came free in time."""


class Locks:
    """Advisory locks on the store's PostgreSQL database (granted at once on SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.enabled = engine.dialect.name == "postgresql"
        self._local = threading.local()
        self._open: list[Connection] = []
        self._guard = threading.Lock()

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._local.conn = conn
            with self._guard:
                self._open.append(conn)
        return conn

    def _call(self, function: str, numbers: list[int]) -> list[bool]:
        rows = self._conn().exec_driver_sql(
            f"SELECT {function}(k) FROM unnest(%s::bigint[]) WITH ORDINALITY AS u(k, n) ORDER BY n", (numbers,)).all()
        return [row[0] is not False for row in rows]

    @contextmanager
    def hold(self, keys: Iterable[str], *, shared: bool = False) -> Iterator[None]:
        """Every key, waited for (in the order of their numbers) and let go on the way out."""
        numbers = sorted({number(k) for k in keys}) if self.enabled else []
        if not numbers:
            yield
            return
        kind = "_shared" if shared else ""
        self._call(f"pg_advisory_lock{kind}", numbers)
        try:
            yield
        finally:
            self._call(f"pg_advisory_unlock{kind}", numbers)

    @contextmanager
    def try_hold(self, key: str, *, shared: bool = False) -> Iterator[bool]:
        """The key if it is free now (True), else False at once."""
        if not self.enabled:
            yield True
            return
        kind = "_shared" if shared else ""
        [got] = self._call(f"pg_try_advisory_lock{kind}", [number(key)])
        try:
            yield got
        finally:
            if got:
                self._call(f"pg_advisory_unlock{kind}", [number(key)])

    @contextmanager
    def slot(self, name: str, slots: int, *, timeout: float, waiting: Callable[[float], None] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> Iterator[int]:
        """One of `slots` numbered keys under `name`, waiting while all are taken; `waiting` is
        told after a second of waiting, then every half minute (for a log line). Raises
        SlotTimeout after `timeout` seconds."""
        if not self.enabled:
            yield 0
            return
        numbers = [number(f"{name}:{i}") for i in range(slots)]
        started, pause, tell_at = time.monotonic(), 0.01, 1.0
        while True:
            for index, key in enumerate(numbers):
                if self._call("pg_try_advisory_lock", [key])[0]:
                    try:
                        yield index
                    finally:
                        self._call("pg_advisory_unlock", [key])
                    return
            waited = time.monotonic() - started
            if waited >= timeout:
                raise SlotTimeout(name)
            if waiting is not None and waited >= tell_at:
                tell_at = waited + 30
                waiting(waited)
            sleep(min(pause, max(0.0, timeout - waited)))
            pause = min(pause * 2, 0.25)

    def close(self) -> None:
        with self._guard:
            conns, self._open = self._open, []
        for conn in conns:
            with suppress(Exception):  # a connection that broke: its locks went with it
                conn.close()
