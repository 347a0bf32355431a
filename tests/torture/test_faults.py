"""Torture: koppel between the real Tryton and BottleCRM, each behind a proxy that injects faults.

Counts are small here (CI); `./dev torture` runs them at full size (KOPPEL_TORTURE_N records,
a peer down for KOPPEL_TORTURE_DOWN seconds). Each test prints its figures.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from koppel.config.policy import default_policy_data, load_policy
from koppel.config.settings import SyncSettings
from koppel.connectors.base import WriteOp
from koppel.connectors.bottlecrm import BottleCrmConnector
from koppel.connectors.bottlecrm import create as create_crm
from koppel.connectors.tryton import TrytonConnector
from koppel.connectors.tryton import create as create_erp
from koppel.engine import Engine, provisioning
from koppel.engine import reconcile as rec
from koppel.store import Store
from koppel.testing.faults import FaultProxy, Faults
from tests.conftest import real_peers

pytestmark = [pytest.mark.tryton, pytest.mark.bottlecrm]
N = int(os.environ.get("KOPPEL_TORTURE_N", "40"))
DOWN = float(os.environ.get("KOPPEL_TORTURE_DOWN", "8"))


@dataclass
class Rig:
    erp: TrytonConnector  # through its proxy
    crm: BottleCrmConnector  # through its proxy
    erp_faults: Faults
    crm_faults: Faults
    proxies: tuple[FaultProxy, FaultProxy]
    engine: Engine
    store: Store

    def counts(self) -> dict[str, dict[str, int]]:
        return {"erp": dict(self.proxies[0].counts), "crm": dict(self.proxies[1].counts)}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with real_peers(f"torture-{os.getpid()}-{tmp_path.name[-12:]}") as (erp_info, crm_info):
        yield from _rig(erp_info, crm_info, tmp_path)


def _rig(erp_info: dict[str, Any], crm_info: dict[str, Any], tmp_path: Path) -> Iterator[Rig]:
    erp_faults, crm_faults = Faults(seed=11), Faults(seed=13)
    with FaultProxy(erp_info["url"], erp_faults) as erp_proxy, FaultProxy(crm_info["url"], crm_faults) as crm_proxy:
        erp = create_erp("erp", {"url": erp_proxy.url, "database": erp_info["database"], "user": erp_info["user"],
                                 "password": erp_info["password"], "lag": 2.0, "timeout": 30})
        crm = create_crm("crm", {"url": crm_proxy.url, "token": crm_info["token"], "lag": 2.0, "timeout": 30})
        store = Store.open(f"sqlite:///{tmp_path}/koppel.db")
        engine = Engine(store, {"erp": erp, "crm": crm}, load_policy(default_policy_data()),
                        SyncSettings(retry_base_delay=0.2, retry_attempts=5, batch_size=20))
        provisioning.setup(engine.connectors, engine.policy, engine.entities())
        try:
            yield Rig(erp, crm, erp_faults, crm_faults, (erp_proxy, crm_proxy), engine, store)
        finally:
            erp.close()
            crm.close()
            store.close()


def customers(r: Rig, n: int) -> list[str]:
    ops = [WriteOp(str(i), {"name": f"Torture {i:05d} GmbH", "postcode": f"{10000 + i}",
                            "email": f"t{i}@torture.example", "payment_term": "Net 30 days"}) for i in range(n)]
    made = [o for chunk in range(0, n, 200) for o in r.erp.write("account", ops[chunk:chunk + 200])]
    assert all(o.ok for o in made), [o.error for o in made if not o.ok][:3]
    return [o.id or "" for o in made]


def converge(r: Rig, limit: int = 12) -> list[str]:
    """Sync until a run is ok; the statuses of every run."""
    statuses = []
    for _ in range(limit):
        report = r.engine.sync(["account"])
        statuses.append(report.status)
        if report.status == "ok":
            break
    return statuses


def check_state(r: Rig, erp_ids: list[str]) -> dict[str, Any]:
    """By value through the peers' APIs: every ERP customer once in the CRM, with its number."""
    r.erp_faults.rate = r.crm_faults.rate = 0.0
    crm_rows = [rec for b in r.crm.read_changes("account", None) for rec in b.records]
    numbers = Counter(row.record.number for row in crm_rows)
    erp_numbers = {rec.id: rec.record.number for rec in r.erp.read("account", erp_ids)}
    links = {link.erp_id: link.crm_id for link in r.store.links.all("account")}
    crm_by_id = {row.id: row.record for row in crm_rows}
    lost = [e for e in erp_ids if e not in links or links[e] not in crm_by_id]
    wrong = [e for e in erp_ids if e in links and links[e] in crm_by_id
             and crm_by_id[links[e]].number != erp_numbers[e]]
    return {"crm_accounts": len(crm_rows), "duplicates": sum(c - 1 for c in numbers.values() if c > 1),
            "lost": len(lost), "wrong": len(wrong), "drift": len(rec.reconcile(r.engine, ["account"]))}


def test_random_faults_on_a_tenth_of_calls_end_as_a_load_without_faults(rig: Rig) -> None:
    r = rig
    erp_ids = customers(r, N)
    r.erp_faults.rate = r.crm_faults.rate = 0.10
    started = time.monotonic()
    statuses = converge(r)
    state = check_state(r, erp_ids)
    print(f"\ntorture faults: {N} customers, runs {statuses}, {time.monotonic() - started:.1f} s, "
          f"proxies {r.counts()}, result {state}")
    assert statuses[-1] == "ok"
    assert state == {"crm_accounts": N, "duplicates": 0, "lost": 0, "wrong": 0, "drift": 0}
    assert sum(v for k, v in r.proxies[1].counts.items() if k.startswith("fault")) > 0


def test_a_peer_down_in_the_middle_of_a_run_is_visible_and_the_next_run_brings_everything(rig: Rig) -> None:
    r = rig
    erp_ids = customers(r, N)
    batches = Counter[str]()

    def progress(entity: str, side: Any, count: int) -> None:
        batches[side] += 1
        if side == "erp" and batches[side] == 1 and not r.crm_faults.down_until:
            r.crm_faults.down_for(DOWN)  # the CRM goes away after the first batch

    started = time.monotonic()
    first = r.engine.sync(["account"], progress=progress)
    assert first.status in ("failed", "partial"), first
    assert r.store.runs.last(1)[0]["status"] == first.status and "crm" in (first.message or "")
    while r.crm_faults.down:
        time.sleep(0.5)
    statuses = converge(r)
    state = check_state(r, erp_ids)
    print(f"\ntorture down: {N} customers, CRM down {DOWN:g} s after batch 1, first run {first.status} "
          f"({first.message}), then {statuses}, recovered in {time.monotonic() - started:.1f} s, "
          f"proxies {r.counts()}, result {state}")
    assert statuses[-1] == "ok"
    assert state == {"crm_accounts": N, "duplicates": 0, "lost": 0, "wrong": 0, "drift": 0}


def test_records_the_target_rejects_wait_with_its_message_and_the_rest_land(rig: Rig) -> None:
    r = rig
    bad_count = max(2, N // 5)
    good = customers(r, N)
    long_name = "Überlanger Firmenname " * 13  # Tryton takes it; BottleCRM stops at 255 characters
    bad = [o.id or "" for o in r.erp.write("account", [
        WriteOp(f"b{i}", {"name": f"{long_name}{i:05d}", "postcode": "99999"}) for i in range(bad_count)])]
    started = time.monotonic()
    report = r.engine.sync(["account"])
    errors = [e for e in r.store.errors.list("open") if e.entity == "account"]
    state = check_state(r, good)
    print(f"\ntorture rejects: {N} good and {bad_count} rejected, run {report.status} in "
          f"{time.monotonic() - started:.1f} s, queued {len(errors)}, result {state}")
    assert report.status == "partial"
    assert sorted(e.source_id for e in errors) == sorted(bad)
    assert all("255 characters" in e.message for e in errors)  # BottleCRM's own words
    assert (state["lost"], state["duplicates"], state["wrong"]) == (0, 0, 0)
    # an operator shortens one name in the queue; the retry writes it
    fixed = errors[0]
    r.store.errors.set_payload(fixed.id, {**fixed.payload, "name": "Kurzer Name GmbH"})
    assert r.engine.retry_errors([fixed.id]).status == "ok"
    crm_id = r.store.links.by_ids("account", "erp", [fixed.source_id])[fixed.source_id].crm_id
    assert r.crm.read("account", [crm_id])[0].record.name == "Kurzer Name GmbH"
    assert len([e for e in r.store.errors.list("open") if e.entity == "account"]) == bad_count - 1
