"""Two `koppel sync` started at once on one SQLite store (a user's manual sync while the service
polls): the second waits for the first one's run, so every new customer reaches the CRM once,
not once per process, and both runs end `ok`. Counted in BottleCRM's own accounts list."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from koppel.connectors.base import WriteOp
from tests.scenarios.conftest import Coupled, write_config

NEW = 30


def test_two_processes_syncing_one_sqlite_store_create_each_record_once(coupled: Coupled) -> None:
    c = coupled
    made = c.erp.write("account", [WriteOp(f"n{i}", {"name": f"Zweimal {i} GmbH", "postcode": "10115"})
                                   for i in range(NEW)])
    assert all(o.ok for o in made), [o.error for o in made if not o.ok]
    config = write_config(c, batch_size=5)  # many batches: a run long enough for the other to meet it
    env = {**os.environ, "COLUMNS": "200"}
    runs = [subprocess.Popen([sys.executable, "-m", "koppel", "sync", "--json", "-e", "account", "-c", str(config)],
                             cwd=c.workdir, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)]
    done = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, done, strict=True):
        assert run.returncode == 0, out + err
        assert json.loads(out)["status"] == "ok", out
    reports = [json.loads(out) for out, _ in done]
    assert sorted(r["stats"].get("account", {}).get("created", 0) for r in reports) == [0, NEW], reports
    assert any("waiting for another koppel process" in err for _, err in done), [err for _, err in done]
    page = c.crm.client.get("accounts/", {"name": "Zweimal", "limit": 200})
    names = [a["name"] for group in (page["active_accounts"]["open_accounts"], page["closed_accounts"]["close_accounts"])
             for a in group]
    assert sorted(names) == sorted(f"Zweimal {i} GmbH" for i in range(NEW)), names
