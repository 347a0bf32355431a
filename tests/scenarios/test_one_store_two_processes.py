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
import time
from pathlib import Path

from koppel.config.settings import load_settings
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
    logs = [c.workdir / f"sync-{i}.err" for i in range(2)]
    holder = Store.open(load_settings(config).store.url)  # the store both runs use
    with holder.locks.exclusive():
        runs = []
        for log in logs:
            with log.open("w") as err:  # the process writes its own copy of the file
                runs.append(subprocess.Popen([sys.executable, "-m", "koppel", "sync", "--json", "-e", "account",
                                              "-c", str(config)], cwd=c.workdir, env=env, text=True,
                                             stdout=subprocess.PIPE, stderr=err))
        _wait_until_both_wait(runs, logs)
    done = [(run.communicate(timeout=600)[0], log.read_text()) for run, log in zip(runs, logs, strict=True)]
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


def _wait_until_both_wait(runs: list[subprocess.Popen[str]], logs: list[Path], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not all("waiting for another koppel process" in log.read_text() for log in logs):
        exited = [run.returncode for run in runs if run.poll() is not None]
        assert not exited and time.monotonic() < deadline, (exited, [log.read_text() for log in logs])
        time.sleep(0.05)
