"""Locks that hold across every koppel process on one PostgreSQL store: PostgreSQL's advisory
locks, taken on a connection of their own per thread. They are session locks, so a process that
dies (`kill -9`, a lost machine) lets go of its locks with its connection; nothing is left to
clean up.

- `hold(keys)`: wait for every key (in one order, so two holders never wait for each other in
  a circle), shared or exclusive; taken again by the same thread, a key is counted, not waited for.
- `try_hold(key)`: take a key if it is free now, else go on without it.
- `slot(name, slots)`: one of `slots` numbered keys (a cap of concurrent calls), waiting while
  all are taken, up to a timeout.

On SQLite koppel runs in one process and one job at a time: every lock is granted at once, and
`exclusive()` keeps a second process off the store while a run (or a migration) is under way (a `koppel sync` typed
while `koppel run` polls waits for the poll's run, then runs; the poll's next run waits for it):
an `flock` on a file beside the database, shared by the threads of one process.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine

try:
    import fcntl
except ImportError:  # not on POSIX: no guard between processes
    fcntl = None  # type: ignore[assignment]


def number(key: str) -> int:
    """The advisory lock number of a key: 64 bits of its hash, signed as PostgreSQL's bigint."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


class SlotTimeout(Exception):
    """No slot came free in time."""


class StoreBusy(Exception):
    """Another process held the store's run for longer than the caller would wait."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"another koppel process runs on this store: {holder}")
        self.holder = holder


class _ProcessLock:
    """One process at a time on a SQLite store: an exclusive `flock` on `<database>.lock`, taken
    by this process's first holder and let go by its last (its threads share it, as they share
    the store). The holder writes who it is into the file, for the one who waits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._count = 0
        self._guard = threading.Lock()

    @contextmanager
    def held(self, waiting: Callable[[str], None] | None, timeout: float | None, poll: float = 0.2
             ) -> Iterator[None]:
        # a thread of this process waiting for another process: the others wait with it
        if not self._guard.acquire(timeout=-1 if timeout is None else timeout):
            raise StoreBusy("another thread of this process waits for the store's run")
        try:
            if not self._count:
                self._fd = self._take(waiting, timeout, poll)
            self._count += 1
        finally:
            self._guard.release()
        try:
            yield
        finally:
            with self._guard:
                self._count -= 1
                if not self._count and self._fd is not None:
                    os.ftruncate(self._fd, 0)  # no one holds it now
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = None

    def _take(self, waiting: Callable[[str], None] | None, timeout: float | None, poll: float) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        told, started = False, time.monotonic()
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = self.path.read_text(encoding="utf-8", errors="replace").strip() or "?"
                    if timeout is not None and time.monotonic() - started >= timeout:
                        raise StoreBusy(holder) from None
                    if waiting is not None and not told:
                        told = True
                        waiting(holder)
                    time.sleep(poll)  # not a blocking flock: Ctrl-C stops the wait
            command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:120]
            me = f"pid {os.getpid()} ({command}), since {datetime.now(UTC).isoformat(timespec='seconds')}"
            os.ftruncate(fd, 0)
            os.pwrite(fd, me.encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        return fd


_PROCESS_LOCKS: dict[Path, _ProcessLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(database: str | None) -> _ProcessLock | None:
    """The process lock of a SQLite database file (none in memory, or where `flock` is missing)."""
    if not database or database == ":memory:" or database.startswith("file:") or fcntl is None:
        return None
    path = Path(f"{Path(database).resolve()}.lock")
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(path, _ProcessLock(path))


class Locks:
    """Advisory locks on the store's PostgreSQL database (granted at once on SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.enabled = engine.dialect.name == "postgresql"
        self._process = None if self.enabled else _process_lock(engine.url.database)
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
    def exclusive(self, waiting: Callable[[str], None] | None = None, timeout: float | None = None
                  ) -> Iterator[None]:
        """A run, or the schema's migration. On SQLite: no other process inside such a block on
        this store; one that is, is waited for (`waiting` is told who it is, once), up to
        `timeout` seconds (then StoreBusy). On PostgreSQL nothing is taken here: the owner and
        record locks order the processes."""
        if self._process is None:
            yield
            return
        with self._process.held(waiting, timeout):
            yield

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
