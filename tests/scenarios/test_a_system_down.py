"""A run that could not read or write a system is never `ok`: with a store that already holds
links and cursors, a peer where nothing listens makes the run `failed`, exit 3, in the CLI, in
`status --json` and in the run list, on either side; and the other system is shown as it is
then, not as an older run saw it."""

from __future__ import annotations

import json
import socket

import pytest

from koppel.connectors.base import WriteOp
from koppel.testing.cli import koppel
from tests.scenarios.conftest import Coupled, write_config


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("side", ["erp", "crm"])
def test_a_system_that_is_down_makes_the_run_failed_not_ok(coupled: Coupled, side: str) -> None:
    c = coupled
    [made] = c.erp.write("account", [WriteOp("n", {"name": "Downtime Test GmbH", "postcode": "10115"})])
    assert made.ok, made.error
    config = write_config(c)
    first = koppel("sync", "-c", str(config), cwd=c.workdir)
    assert first.returncode == 0, first.stdout + first.stderr
    url = c.erp_info["url"] if side == "erp" else c.crm_info["url"]
    config.write_text(config.read_text().replace(url, dead_url()))
    down = koppel("sync", "--json", "-c", str(config), cwd=c.workdir)
    assert down.returncode == 3, down.stdout + down.stderr
    report = json.loads(down.stdout)
    assert report["status"] == "failed" and side in (report["message"] or ""), report
    status = json.loads(koppel("status", "--json", "-c", str(config), cwd=c.workdir).stdout)
    assert status["runs"][0]["status"] == "failed"
    down_now = status["systems"][side]
    assert down_now["up"] is False and down_now["last_success_at"] and down_now["last_error"]
    assert status["systems"]["crm" if side == "erp" else "erp"]["up"] is True
    # the plan alone reads the systems too: no check before it, the read itself fails the run
    planned = koppel("sync", "--dry-run", "--json", "-c", str(config), cwd=c.workdir)
    assert planned.returncode == 3 and json.loads(planned.stdout)["status"] == "failed", planned.stdout
    # the other system gone too: the run stops at the first one it needs, and still shows the
    # second as it is now (asked before the run closed), not "up" from the run before
    rest = c.crm_info["url"] if side == "erp" else c.erp_info["url"]
    config.write_text(config.read_text().replace(rest, dead_url()))
    both = koppel("sync", "--json", "-c", str(config), cwd=c.workdir)
    assert both.returncode == 3, both.stdout + both.stderr
    systems = json.loads(koppel("status", "--json", "-c", str(config), cwd=c.workdir).stdout)["systems"]
    assert systems["erp"]["up"] is False and systems["crm"]["up"] is False, systems
    assert all(row["last_error"] for row in systems.values()), systems
