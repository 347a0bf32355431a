"""Three `koppel worker` processes on the local PostgreSQL between a real Tryton and a real
BottleCRM, both on PostgreSQL too: the initial load (read once, applied in shards that the
workers take side by side) and a stream of edits on both sides end in the state the policy prescribes (what
one worker reaches), with no record twice and every link consistent, although one worker is
killed with SIGKILL in the middle of it all."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from koppel.connectors.base import Connector, WriteOp
from koppel.connectors.bottlecrm import create as create_crm
from koppel.connectors.tryton import create as create_erp
from koppel.store import Store
from koppel.testing import peers
from koppel.testing.postgres import fresh_database
from tests.conftest import real_peers

pytestmark = [pytest.mark.postgres, pytest.mark.tryton, pytest.mark.bottlecrm]
N = int(os.environ.get("KOPPEL_FLEET_N", "30"))  # `./dev torture` runs it larger, with more kills
KILLS = int(os.environ.get("KOPPEL_FLEET_KILLS", "1"))
SHARDS = int(os.environ.get("KOPPEL_FLEET_SHARDS", "2"))  # `[jobs] shards`: each load in this many parts


@pytest.fixture
def store_url() -> Iterator[str]:
    with fresh_database("koppel_fleet") as url:
        yield url


def everything(system: Connector, entity: str) -> dict[str, Any]:
    """id -> record, as the system itself answers."""
    found: dict[str, Any] = {}
    for batch in system.read_changes(entity, None):
        found.update((r.id, r.record) for r in batch.records)
    return found


def wait_for(check: Callable[[], bool], what: str, timeout: float = 240, every: float = 1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"not reached in {timeout:g} s: {what}")


def running_a_sync(log: Path) -> bool:
    """Has this worker started a sync job (a poll, a load, a part of one) it has not finished
    (its log says so)?"""
    last = ""
    for line in log.read_text().splitlines():
        if any(f"koppel.{task}[" in line for task in ("poll", "sync", "load", "apply", "settle")):
            last = line
    return '"Starting job' in last


def test_three_workers_one_killed_reach_the_policy_s_state_with_nothing_twice(tmp_path: Path,
                                                                              store_url: str) -> None:
    with real_peers(f"fleet-{os.getpid()}", backend="postgresql") as (erp_info, crm_info):
        config_text, secrets = peers.config_text(erp_info, crm_info, tmp_path, poll_interval=1, batch_size=5)
        config = tmp_path / "koppel.toml"
        config.write_text(config_text.replace(f'url = "sqlite:///{tmp_path / "koppel.db"}"', f'url = "{store_url}"')
                          + f"\n[jobs]\nstalled_after = 5\nshards = {SHARDS}\n")
        (tmp_path / "koppel.secrets.toml").write_text(secrets)
        erp = create_erp("erp", {k: erp_info[k] for k in ("url", "database", "user", "password")})
        crm = create_crm("crm", {"url": crm_info["url"], "token": crm_info["token"]})
        koppel = [sys.executable, "-m", "koppel"]
        setup = subprocess.run([*koppel, "setup", "-c", str(config)], capture_output=True, text=True, timeout=300)
        assert setup.returncode == 0, setup.stdout + setup.stderr

        made = erp.write("account", [WriteOp(str(i), {"name": f"Fleet {i:03d} GmbH", "postcode": "10115"})
                                     for i in range(N)])  # the customers the ERP holds already
        assert all(o.ok for o in made), [o.error for o in made if not o.ok]
        erp_ids = [o.id or "" for o in made]

        logs: list[Path] = []
        env = {**os.environ, "KOPPEL_LOG_LEVEL": "info", "KOPPEL_LOG_FORMAT": "json"}

        def start() -> subprocess.Popen[str]:
            logs.append(tmp_path / f"worker-{len(logs)}.log")
            with logs[-1].open("w") as log:
                return subprocess.Popen([*koppel, "worker", "-c", str(config)], env=env, stdout=log,
                                        stderr=subprocess.STDOUT, text=True)

        workers = [start() for _ in range(3)]  # workers[i] writes logs[slot[i]]
        slot = [0, 1, 2]
        store = Store.open(store_url)
        killed = 0
        try:
            # the initial load: a worker is killed (SIGKILL) while it runs a sync, its job with it, and
            # a new one started in its place, as an operator would
            while killed < KILLS and len(store.links.all("account")) < N:
                busy = [i for i in range(3) if running_a_sync(logs[slot[i]])]
                if not busy:
                    time.sleep(0.05)
                    continue
                victim = random.choice(busy)
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait(10)
                killed += 1
                workers[victim] = start()
                slot[victim] = len(logs) - 1
            assert killed >= 1, "no worker was caught running a sync"
            wait_for(lambda: len(store.links.all("account")) == N, "the initial load", timeout=240 + N)
            twins = {link.erp_id: link.crm_id for link in store.links.all("account")}

            # a stream of edits on both sides while the workers poll
            renamed = erp_ids[: N // 3]
            phoned = erp_ids[N // 3: 2 * N // 3]
            with_person = erp_ids[2 * N // 3:]
            for k, erp_id in enumerate(renamed):
                assert erp.write("account", [WriteOp("r", {"name": f"Fleet Renamed {k:03d} GmbH"}, erp_id)])[0].ok
            for k, erp_id in enumerate(phoned):
                assert crm.write("account", [WriteOp("p", {"phone": f"+49 30 {k:04d}"}, twins[erp_id])])[0].ok
            for k, erp_id in enumerate(with_person):
                person = {"first_name": "Mia", "last_name": f"Fleet {k:03d}", "email": f"mia{k}@fleet.example",
                          "account": twins[erp_id]}
                assert crm.write("contact", [WriteOp("c", person)])[0].ok

            def settled() -> bool:
                erp_accounts, crm_accounts = everything(erp, "account"), everything(crm, "account")
                names_in_crm = {crm_accounts[twins[i]].name for i in renamed if twins[i] in crm_accounts}
                phones_in_erp = {erp_accounts[i].phone for i in phoned if i in erp_accounts}
                people = [p for p in everything(erp, "contact").values() if p.last_name.startswith("Fleet")]
                return (names_in_crm == {f"Fleet Renamed {k:03d} GmbH" for k in range(len(renamed))}
                        and phones_in_erp == {f"+49 30 {k:04d}" for k in range(len(phoned))}
                        and len(people) == len(with_person))

            wait_for(settled, "the edits carried across")
            time.sleep(3)  # a few more polls: nothing may move any more
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()

        # by value, through both systems' own APIs: nothing twice, every link both ways
        erp_accounts, crm_accounts = everything(erp, "account"), everything(crm, "account")
        fleet_names = sorted(a.name for a in crm_accounts.values() if a.name.startswith("Fleet"))
        assert len(fleet_names) == N == len(set(fleet_names))
        assert len([a for a in erp_accounts.values() if a.name.startswith("Fleet")]) == N
        links = store.links.all("account")
        assert len(links) == N and len({link.crm_id for link in links}) == N
        for link in links:
            assert erp_accounts[link.erp_id].name == crm_accounts[link.crm_id].name
            assert erp_accounts[link.erp_id].phone == crm_accounts[link.crm_id].phone
        people = {i: p for i, p in everything(erp, "contact").items() if p.last_name.startswith("Fleet")}
        assert len(people) == len(with_person) == len({p.email for p in people.values()})
        person_links = {link.erp_id: link.crm_id for link in store.links.all("contact")}
        crm_people = everything(crm, "contact")
        for erp_id, person in people.items():  # each person at the ERP twin of its CRM account
            assert twins[person.account] == crm_people[person_links[erp_id]].account
        logs_text = "\n".join(log.read_text() for log in logs)
        assert "its worker stopped" in logs_text  # the killed worker's sync was taken up (or ended for its twin)
        store.close()
        erp.close()
        crm.close()
