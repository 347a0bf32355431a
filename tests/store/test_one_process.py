"""A SQLite store is one process's at a time while a run is under way: a second process (a
`koppel sync` typed while `koppel run` polls) waits for the first one's run, is told who holds
it, and runs after it; the threads and stores of one process never wait for each other."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from koppel.store import Store

#: a process that holds the store's run for `hold` seconds and writes when it got in and left
HOLDER = """
import sys, time
from koppel.store import Store
url, log, name, hold = sys.argv[1:5]
store = Store.open(url)
told = []
with store.locks.exclusive(waiting=told.append):
    with open(log, "a") as out:
        out.write(f"{name} in {told}\\n")
    time.sleep(float(hold))
    with open(log, "a") as out:
        out.write(f"{name} out\\n")
store.close()
"""


def start_holder(url: str, log: Path, name: str, hold: float) -> subprocess.Popen[str]:
    """A process that holds the store's run for `hold` seconds, writing to `log` when it got in."""
    return subprocess.Popen([sys.executable, "-c", HOLDER, url, str(log), name, str(hold)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_second_process_waits_for_the_run_of_the_first_and_is_told_who_holds_it(tmp_path: Path) -> None:
    url, log = f"sqlite:///{tmp_path}/koppel.db", tmp_path / "order.log"
    Store.open(url).close()
    first = start_holder(url, log, "first", 2.0)
    wait_for_holder(first, log, "first")
    second = start_holder(url, log, "second", 0)
    for process in (first, second):
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    lines = log.read_text().splitlines()
    assert [line.split()[:2] for line in lines] == [["first", "in"], ["first", "out"], ["second", "in"],
                                                       ["second", "out"]], lines
    assert f"pid {first.pid}" in lines[2], lines  # who it waited for, from the lock file
    assert "-c" in lines[2] and "since" in lines[2], lines


def wait_for_holder(holder: subprocess.Popen[str], log: Path, name: str) -> None:
    deadline = time.monotonic() + 30
    while f"{name} in" not in (log.read_text() if log.exists() else ""):
        assert holder.poll() is None and time.monotonic() < deadline, holder.communicate()
        time.sleep(0.05)


def test_the_threads_and_stores_of_one_process_share_the_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/koppel.db"
    one, two = Store.open(url), Store.open(url)
    told: list[str] = []
    entered = threading.Event()
    try:
        with one.locks.exclusive(waiting=told.append):
            with two.locks.exclusive(waiting=told.append):  # another store on the file, same process
                pass
            thread = threading.Thread(target=lambda: _enter(two, told, entered))
            thread.start()
            thread.join(timeout=10)
            lock = Path(f"{tmp_path}/koppel.db.lock")
            assert f"pid {os.getpid()}" in lock.read_text()  # who holds it, for whoever waits
        assert entered.is_set() and told == []
        assert lock.read_text() == ""  # let go: no holder named
    finally:
        one.close()
        two.close()


def _enter(store: Store, told: list[str], entered: threading.Event) -> None:
    with store.locks.exclusive(waiting=told.append):
        entered.set()
