"""Jobs (live, scheduled, on demand, resumed after a crash) and the reconcile report."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from koppel import clock
from koppel.connectors.base import WriteOp, WriteOutcome
from koppel.engine import Engine
from koppel.engine import reconcile as rec
from koppel.engine.jobs import LOCK, Scheduler, Worker, next_run
from koppel.errors import UsageError
from koppel.testing.builders import Pair, make_pair
from koppel.workers.queue import EmbeddedQueue


class Crash(BaseException):
    """The process dies: nothing after this line runs."""


def customers(pair: Pair, n: int) -> None:
    for i in range(n):
        pair.erp.put("account", {"name": f"Customer {i}", "number": f"C{i}", "postcode": "1000"})


def test_a_crash_after_a_remote_create_loses_and_duplicates_nothing(pair: Pair) -> None:
    customers(pair, 120)
    real_write = pair.crm.write
    calls = {"n": 0}

    def dying_write(entity: str, ops: list[WriteOp]) -> list[WriteOutcome]:
        calls["n"] += 1
        result = real_write(entity, ops)
        if calls["n"] == 2:  # the second batch reached the CRM; its links were never recorded
            raise Crash
        return result

    pair.crm.write = dying_write  # type: ignore[method-assign]
    with pytest.raises(Crash):
        pair.engine.sync(["account"])
    pair.crm.write = real_write  # type: ignore[method-assign]
    restarted = Engine(pair.store, {"erp": pair.erp, "crm": pair.crm}, pair.engine.policy,
                       pair.engine.settings)  # a new process on the same store and systems
    report = restarted.sync(["account"])
    assert report.status == "ok"
    assert len(pair.crm.ids("account")) == 120
    assert pair.store.links.counts()["account"] == 120
    numbers = sorted(pair.crm.get("account", i)["number"] for i in pair.crm.ids("account"))
    assert numbers == sorted(f"C{i}" for i in range(120))


def test_live_mode_runs_queued_and_on_demand_jobs(pair: Pair) -> None:
    customers(pair, 3)
    reports: list[tuple[str, Any]] = []
    worker = Worker(pair.engine, name="w1", on_report=lambda job, r: reports.append((job["kind"], r)))
    Scheduler(pair.engine, worker).serve(max_cycles=1)
    assert [kind for kind, _ in reports] == ["sync"] and len(pair.crm.ids("account")) == 3
    target = pair.erp.put("account", {"name": "Urgent", "number": "C99"})
    pair.store.jobs.enqueue("record", {"side": "erp", "entity": "account", "id": target}, lock_key=LOCK)
    assert worker.run_one() is not None and len(pair.crm.ids("account")) == 4
    assert worker.run_one() is None


def test_waiting_jobs_coalesce_and_share_one_lock(pair: Pair) -> None:
    assert pair.store.jobs.enqueue("sync", {}, lock_key=LOCK) is not None
    assert pair.store.jobs.enqueue("sync", {}, lock_key=LOCK) is None
    pair.store.jobs.enqueue("record", {"side": "erp", "entity": "account", "id": "x"}, lock_key=LOCK)
    first = pair.store.jobs.claim("w1")
    assert first is not None and first["kind"] == "sync"
    assert pair.store.jobs.claim("w2") is None  # the record job waits for the lock
    pair.store.jobs.finish(first["id"], "done")
    second = pair.store.jobs.claim("w2")
    assert second is not None and second["kind"] == "record"


def test_a_job_left_running_by_a_dead_worker_resumes(pair: Pair) -> None:
    customers(pair, 2)
    pair.store.jobs.enqueue("sync", {}, lock_key=LOCK)
    assert pair.store.jobs.claim("dead-worker") is not None
    later = datetime.now(UTC) + timedelta(seconds=pair.engine.settings.stale_after + 1)
    clock.freeze(later)
    try:
        Scheduler(pair.engine, Worker(pair.engine, name="alive")).serve(max_cycles=1)
    finally:
        clock.freeze(None)
    assert len(pair.crm.ids("account")) == 2
    assert {j["status"] for j in pair.store.jobs.list()} == {"done"}


def test_a_job_running_longer_than_stale_after_is_not_taken_for_dead(tmp_path: Path) -> None:
    """Another process checks for stale jobs while a long job runs: the running worker's
    heartbeats keep it from being requeued (and run twice); the job ends done, once."""
    pair = make_pair(url=f"sqlite:///{tmp_path}/store.db")  # a file: the heartbeat writes from its own thread
    pair.engine.settings = pair.engine.settings.model_copy(update={"stale_after": 0.6})
    customers(pair, 6)
    pair.crm.rejecters.append(lambda _entity, _values: time.sleep(0.25))  # each create takes 0.25 s
    pair.store.jobs.enqueue("sync", {}, lock_key=LOCK)
    worker = threading.Thread(target=Worker(pair.engine, name="busy").run_one)
    worker.start()
    requeued, checks = 0, 0
    while worker.is_alive():
        time.sleep(0.05)
        checks += 1  # as another process's scheduler does at each of its polls
        requeued += pair.store.jobs.requeue_stale(older_than=clock.now() - timedelta(seconds=0.6))
    worker.join()
    try:
        assert checks > 25 and requeued == 0  # the run took 1.5 s: more than twice stale_after
        [job] = pair.store.jobs.list()
        assert (job["status"], job["attempts"]) == ("done", 1)
        assert len(pair.crm.ids("account")) == 6
    finally:
        pair.store.close()


def test_the_embedded_queue_says_a_worker_is_alive_by_its_jobs_heartbeat(pair: Pair) -> None:
    queue = EmbeddedQueue(pair.store, stale_after=60)
    pair.store.jobs.enqueue("sync", {}, lock_key=LOCK)
    job = pair.store.jobs.claim("w1")
    assert job is not None
    [worker] = queue.fleet().workers
    [running] = pair.store.jobs.list("running")
    assert (worker["id"], worker["alive"]) == ("w1", True) and worker["last_heartbeat"] == running["updated_at"]
    quiet = datetime.now(UTC) + timedelta(seconds=61)
    clock.freeze(quiet)
    try:
        assert [w["alive"] for w in queue.fleet().workers] == [False]  # its process died, or hangs
        pair.store.jobs.heartbeat(job["id"], "w1")
        [worker] = queue.fleet().workers
        assert worker["alive"] and worker["last_heartbeat"] == quiet
        pair.store.jobs.heartbeat(job["id"], "w2")  # another process's word for it changes nothing
        pair.store.jobs.finish(job["id"], "done")
        assert queue.fleet().workers == []
    finally:
        clock.freeze(None)


def test_a_runner_starting_takes_up_a_dead_local_processs_jobs_and_leaves_a_live_ones(pair: Pair) -> None:
    """Two runners on one host: the one starting requeues the jobs of a process of this host
    that has ended (at once, not after `stale_after`), never those of one that still runs."""
    host = socket.gethostname()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    try:
        customers(pair, 2)
        pair.store.jobs.enqueue("sync", {"entities": ["account"]}, lock_key="first")
        held = pair.store.jobs.claim(f"{host}:{alive.pid}")
        pair.store.jobs.enqueue("sync", {"entities": ["account"]}, lock_key="second")
        left = pair.store.jobs.claim(f"{host}:{ended.pid}")
        assert held is not None and left is not None
        Scheduler(pair.engine, Worker(pair.engine)).serve(max_cycles=1)
        jobs = {j["id"]: j for j in pair.store.jobs.list()}
        assert (jobs[held["id"]]["status"], jobs[held["id"]]["locked_by"]) == ("running", f"{host}:{alive.pid}")
        assert jobs[left["id"]]["status"] == "done" and len(pair.crm.ids("account")) == 2
        assert jobs[left["id"]]["locked_by"] is None and jobs[left["id"]]["attempts"] == 2
    finally:
        alive.kill()
        alive.wait()


def test_the_nightly_schedule() -> None:
    at = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert next_run("0 2 * * *", at) == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    with pytest.raises(UsageError, match="cron"):
        next_run("every night", at)


def test_the_full_batch_repairs_what_incremental_reads_missed(pair: Pair) -> None:
    customers(pair, 2)
    pair.engine.sync(["account"])
    pair.store.links.delete(link.id for link in pair.store.links.all("account")[:1])
    assert pair.engine.sync(["account"]).writes == 0  # nothing changed since the cursor
    report = pair.engine.sync(["account"], full=True)
    assert report.total("matched") == 1 and len(pair.crm.ids("account")) == 2


def test_reconcile_reports_drift_with_its_repair_and_applies_it(pair: Pair) -> None:
    customers(pair, 3)
    pair.engine.sync(["account"])
    links = pair.store.links.all("account")
    pair.crm.remove("account", links[0].crm_id)  # missing in the CRM
    pair.crm.tables["account"].put(links[1].crm_id, 10**6, {**pair.crm.get("account", links[1].crm_id),
                                                             "name": "Drifted"})  # behind our back
    pair.erp.put("account", {"name": "Never synced", "number": "C77"})
    drift = rec.reconcile(pair.engine, ["account"])
    kinds = sorted((d.kind, d.side) for d in drift)
    assert kinds == [("differs", "crm"), ("missing", "crm"), ("uncoupled", "erp")]
    differs = next(d for d in drift if d.kind == "differs")
    assert "name: erp='Customer 1' crm='Drifted'" in differs.detail and differs.action.startswith("write erp's name")
    rec.apply(pair.engine, drift)
    assert rec.reconcile(pair.engine, ["account"]) == []
    assert len(pair.crm.ids("account")) == 4


def test_live_mode_polls_less_often_while_a_system_is_down() -> None:
    from koppel.engine.jobs import Scheduler, Worker
    from koppel.testing.builders import make_pair

    pair = make_pair()
    scheduler = Scheduler(pair.engine, Worker(pair.engine))
    assert scheduler._pause(2.0) == 2.0
    pair.engine.down.add("crm")
    assert [scheduler._pause(2.0) for _ in range(6)] == [4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    pair.engine.down.clear()
    assert scheduler._pause(2.0) == 2.0
