"""Helpers shared by the peer scripts ``peers/<kind>/peer.py`` (stdlib only, Python >= 3.11).

The scripts run with the system interpreter and import this module after putting ``peers/`` on
``sys.path``.  Nothing here runs inside a peer's own venv, and the module keeps no state.
Every function raises `PeerError` (whose message says what to do) for failures it explains.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: this file: part of each peer's template key (it builds the templates too)
SOURCE = Path(__file__).resolve()
BACKENDS = ("sqlite", "postgresql")

StrPath = str | os.PathLike[str]


class PeerError(RuntimeError):
    """A failure with a message that says what to do."""


# --------------------------------------------------------------------- paths
def cache_root(kind: str, *, absolute: bool = False) -> Path:
    """``$KOPPEL_CACHE/peers/KIND`` (KOPPEL_CACHE defaults to ``~/.cache/koppel``).

    With `absolute`, a relative KOPPEL_CACHE is taken from the current directory."""
    root = Path(os.environ.get("KOPPEL_CACHE") or "~/.cache/koppel").expanduser()
    if absolute:
        root = Path(os.path.abspath(root))
    return root / "peers" / kind


@dataclass(frozen=True)
class Layout:
    """Where one kind of peer keeps its venv, templates and instances (read at each call)."""

    kind: str
    absolute: bool = False

    def root(self) -> Path:
        return cache_root(self.kind, absolute=self.absolute)

    def venv_dir(self) -> Path:
        return self.root() / "venv"

    def venv_bin(self, name: str) -> Path:
        return self.venv_dir() / "bin" / name

    def templates_dir(self) -> Path:
        return self.root() / "templates"

    def instances_dir(self) -> Path:
        return self.root() / "instances"

    def instance_dir(self, name: str) -> Path:
        return self.instances_dir() / name


def logger(tag: str) -> Callable[[str], None]:
    """A function printing ``[TAG] message`` lines on stderr."""

    def log(msg: str) -> None:
        print(f"[{tag}] {msg}", file=sys.stderr, flush=True)

    return log


# ------------------------------------------------------------- files, locks
def sha256_file(path: StrPath) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def files_digest(paths: Iterable[Path]) -> str:
    """sha256 (hex) over the names and contents of PATHS: the template keys."""
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def stamp_matches(marker: Path, want: str, exe: Path) -> bool:
    """Whether an install marker file holds `want` and the venv program `exe` exists."""
    try:
        return marker.read_text().strip() == want and exe.exists()
    except OSError:
        return False


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on PATH (created, with its folder) so parallel callers wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_json(path: StrPath) -> Any:
    """The JSON in PATH, or None if it cannot be read or parsed."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def write_json_atomic(path: StrPath, data: Any, *, indent: int = 2, sort_keys: bool = False,
                      final_newline: bool = True) -> None:
    """Write DATA as JSON to PATH through a temporary file, so readers never see half a file."""
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=indent, sort_keys=sort_keys)
        if final_newline:
            fh.write("\n")
    os.replace(tmp, path)


def log_tail(path: StrPath, n: int = 25, *, keepends: bool = False) -> str:
    """The last N lines of a log file (joined by newlines, or with their own line ends)."""
    try:
        with open(path, errors="replace") as fh:
            text = fh.read()
    except OSError:
        return "(no log)"
    if keepends:
        return "".join(io.StringIO(text).readlines()[-n:])
    return "\n".join(text.splitlines()[-n:])


# --------------------------------------------------------------- arguments
def check_name(name: str, pattern: re.Pattern[str], rule: str) -> str:
    """NAME if PATTERN matches it, else PeerError ``invalid instance name …: RULE``."""
    if not name or not pattern.match(name):
        raise PeerError(f"invalid instance name {name!r}: {rule}")
    return name


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise PeerError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    return backend


# -------------------------------------------------------------- processes
def run(cmd: Sequence[StrPath], *, what: str, hint: str | None = None,
        env: Mapping[str, str] | None = None, cwd: StrPath | None = None,
        echo: Callable[[str], None] | None = None,
        merge_stderr: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a command and return it; on failure raise PeerError with its output tail.

    `echo` gets the command line first; `hint` (what to do) is added to the error;
    with `merge_stderr` the command's stderr goes to its stdout."""
    args = [os.fspath(c) for c in cmd]
    if echo is not None:
        echo(f"$ {' '.join(args)}")
    try:
        proc = subprocess.run(args, env=env, cwd=cwd, text=True, check=False, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE)
    except FileNotFoundError as exc:
        raise PeerError(f"{what}: command not found ({exc.filename}); install it or fix PATH") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + (proc.stderr or "")).strip().splitlines()[-30:])
        if hint is None:
            raise PeerError(f"{what} failed (exit {proc.returncode}):\n{tail}")
        raise PeerError(f"{what} failed (exit {proc.returncode}).\n--- last output ---\n{tail}\n"
                        f"--- what to do ---\n{hint}")
    return proc


def spawn(cmd: Sequence[StrPath], *, cwd: StrPath, env: Mapping[str, str], output: StrPath,
          append: bool = False) -> subprocess.Popen[bytes]:
    """Start a server in its own session (it outlives this script); stdout+stderr to OUTPUT."""
    with open(output, "ab" if append else "wb") as out:
        return subprocess.Popen([os.fspath(c) for c in cmd], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_zombie(pid: int) -> bool:
    """Whether /proc says PID has exited and waits to be reaped (False if /proc cannot tell)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def reap(pid: int) -> bool:
    """Collect PID if it is an exited child of this process; True if it was."""
    with contextlib.suppress(ChildProcessError, OSError):
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    return False


def cmdline(pid: int) -> bytes | None:
    """PID's command line from /proc (NUL-separated), or None if it cannot be read."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def recorded_pids(*files: StrPath) -> list[int]:
    """The pids written in FILES, in order: a pidfile holds the number, a .json file a "pid" key."""
    pids = []
    for path in files:
        try:
            with open(path) as fh:
                text = fh.read()
        except OSError:
            continue
        try:
            pid = int(json.loads(text)["pid"] if os.fspath(path).endswith(".json") else text.strip())
        except (ValueError, KeyError, TypeError):
            continue
        if pid > 0:
            pids.append(pid)
    return pids


def terminate(pid: int, alive: Callable[[int], bool], *, on_sigkill: Callable[[], None],
              collect: Callable[[int], object] = reap, kill_group: bool = False,
              grace: float = 10.0) -> None:
    """SIGTERM, wait `grace` seconds, then SIGKILL (the whole process group with `kill_group`
    if PID leads one) and wait up to 5 s more.  `alive` says whether PID still runs; `collect`
    reaps it if it is our child."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        collect(pid)
        time.sleep(0.1)
    if not alive(pid):
        return
    on_sigkill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if kill_group and os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)  # the server and its workers
        else:
            os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        collect(pid)
        if not alive(pid):
            break
        time.sleep(0.1)


# ------------------------------------------------------------------ network
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_busy(port: int) -> str | None:
    """Why PORT on 127.0.0.1 cannot be bound, or None if it is free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


# --------------------------------------------------------------- PostgreSQL
@dataclass(frozen=True)
class Postgres:
    """How to reach the PostgreSQL server as a user who may create databases."""

    host: str
    port: str
    user: str
    #: added to psql errors: how to get the server going
    hint: str

    def conn_args(self) -> list[str]:
        return ["-h", self.host, "-p", self.port, "-U", self.user]


def psql(pg: Postgres, sql: str, db: str = "postgres") -> str:
    """Run one SQL command with psql; return its unaligned, tuples-only output."""
    cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *pg.conn_args(), "-d", db, "-c", sql]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise PeerError("`psql` not found; install the PostgreSQL client "
                        "(Debian: apt-get install postgresql-client).") from None
    if proc.returncode != 0:
        raise PeerError(f"psql failed: {proc.stderr.strip()}\nSQL: {sql}\n{pg.hint}")
    return proc.stdout.strip()


def pg_db_exists(pg: Postgres, db: str) -> bool:
    return psql(pg, f"SELECT 1 FROM pg_database WHERE datname = '{db}'") == "1"


def pg_drop(pg: Postgres, db: str) -> None:
    """Drop database DB if it exists, even a template with open connections."""
    if not pg_db_exists(pg, db):
        return
    psql(pg, f"UPDATE pg_database SET datistemplate = false WHERE datname = '{db}'")
    psql(pg, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
         f"WHERE datname = '{db}' AND pid <> pg_backend_pid()")
    psql(pg, f'DROP DATABASE IF EXISTS "{db}"')
