"""Two `koppel sync` on one SQLite store at once (a user's manual sync while the service polls):
one waits for the other's run, so every new customer reaches the CRM once, not once per process,
and both runs end `ok`. Counted in BottleCRM's own accounts list.

That the two really meet is made certain, not left to timing: a third holder of the store (this
test's process) has a run under way when both start, and lets go only once both have said that
they wait; then both go for the store at the same moment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from koppel.connectors.base import WriteOp
from koppel.store import Store
from tests.scenarios.conftest import Coupled, write_config

NEW = 30


def test_two_processes_syncing_one_sqlite_store_create_each_record_once(coupled: Coupled) -> None:
    c = coupled
    made = c.erp.write("account", [WriteOp(f"n{i}", {"name": f"Zweimal {i} GmbH", "postcode": "10115"})
                                   for i in range(NEW)])
    assert all(o.ok for o in made), [o.error for o in made if not o.ok]
    config = write_config(c, batch_size=5)
    env = {**os.environ, "COLUMNS": "200"}
    holder = Store.open(f"sqlite:///{c.workdir / 'koppel-run.db'}")  # the store both runs use
    with holder.locks.exclusive():
        runs = [subprocess.Popen([sys.executable, "-m", "koppel", "sync", "--json", "-e", "account", "-c", str(config)],
                                 cwd=c.workdir, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(2)]
        errs = [_Lines(run) for run in runs]
        for err in errs:
            err.wait_for("waiting for another koppel process", runs)
    done = [(_output(run), err.text()) for run, err in zip(runs, errs, strict=True)]  # stderr: its reader's
    holder.close()
    for run, (out, err) in zip(runs, done, strict=True):
        assert run.returncode == 0, out + err
        assert json.loads(out)["status"] == "ok", out
    reports = [json.loads(out) for out, _ in done]
    assert sorted(r["stats"].get("account", {}).get("created", 0) for r in reports) == [0, NEW], reports
    page = c.crm.client.get("accounts/", {"name": "Zweimal", "limit": 200})
    names = [a["name"] for group in (page["active_accounts"]["open_accounts"], page["closed_accounts"]["close_accounts"])
             for a in group]
    assert sorted(names) == sorted(f"Zweimal {i} GmbH" for i in range(NEW)), names


class _Lines:
    """A process's stderr, read as it comes (a thread), so that the test can wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        with process.stderr:
            for line in process.stderr:
                self.lines.append(line)

    def wait_for(self, text: str, processes: list[subprocess.Popen[str]], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            exited = [p.returncode for p in processes if p.poll() is not None]
            assert not exited and time.monotonic() < deadline, (exited, "".join(self.lines))
            time.sleep(0.05)

    def text(self) -> str:
        self._reader.join(timeout=60)
        return "".join(self.lines)


def _output(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    with process.stdout:
        out = process.stdout.read()
    process.wait(timeout=600)
    return out
