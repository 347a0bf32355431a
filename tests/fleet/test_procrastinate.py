"""koppel's jobs on Procrastinate, on the local PostgreSQL: the same job code as koppel's own
queue, several at once in one worker, a sync queued twice waiting once, a record job, a run that
failed tried again, and the jobs of a worker that died taken up again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from koppel.config.settings import Settings
from koppel.connectors.memory import MemoryConnector
from koppel.engine import Engine
from koppel.store import Store
from koppel.testing.builders import memory_settings
from koppel.testing.postgres import fresh_database
from koppel.workers import fleet
from koppel.workers.queue import FleetQueue, queue_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    with fresh_database("koppel_fleet") as url:
        yield from _settings(tmp_path, url)


def _settings(tmp_path: Path, url: str) -> Iterator[Settings]:
    yield memory_settings(tmp_path, url, jobs="stalled_after = 2")


class Systems:
    """Both systems in this process, shared by every worker thread's engine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.erp, self.crm = MemoryConnector("erp"), MemoryConnector("crm")
        self.stores: list[Store] = []

    def engine(self) -> Engine:
        store = Store.open(self.settings.store.url)
        self.stores.append(store)
        return Engine(store, {"erp": self.erp, "crm": self.crm}, self.settings.policy, self.settings.sync)

    def run_until_empty(self, concurrency: int = 3) -> None:
        """Run a worker until no job waits that it could take now."""
        fleet.run_worker(self.settings, concurrency=concurrency, engines=fleet.Engines(self.settings, self.engine),
                         wait=False)

    def run_until_done(self, queue: FleetQueue, job: int | None, timeout: float = 30) -> str:
        """Run workers until `job` is finished (a job held back by another's lock, or waiting to
        be tried again, waits a round)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.run_until_empty()
            status = {j["id"]: j["status"] for j in queue.jobs()}[job]
            if status not in ("queued", "running"):
                return str(status)
            time.sleep(0.2)
        return "still waiting"

    def run_until_loaded(self, timeout: float = 60) -> None:
        """Run workers until no load waits or runs (the live poll hands the entities it has never
        read to loads of their own, which run side by side)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with psycopg.connect(fleet.conninfo(self.settings.store.url)) as conn:
                row = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = ANY(%s) "
                                   "AND status IN ('todo', 'doing')", (list(fleet.LOADS),)).fetchone()
            if not row or not row[0]:
                return
            self.run_until_empty()
            time.sleep(0.2)
        raise AssertionError("the loads did not end")

    def close(self) -> None:
        for store in self.stores:
            store.close()


@pytest.fixture
def systems(settings: Settings) -> Iterator[Systems]:
    made = Systems(settings)
    yield made
    made.close()


def test_queued_jobs_run_on_procrastinate_with_koppel_s_job_code(settings: Settings, systems: Systems) -> None:
    for i in range(30):
        account = systems.erp.put("account", {"name": f"Customer {i}", "number": f"C{i}"})
        systems.erp.put("contact", {"first_name": "Anna", "last_name": f"P{i}", "account": account,
                                    "email": f"a{i}@example.com"})
    store = Store.open(settings.store.url)
    queue = queue_for(settings, store)
    assert isinstance(queue, FleetQueue)  # PostgreSQL store, `[jobs] runner = "auto"`
    first = queue.enqueue("sync", {})
    assert first is not None and queue.enqueue("sync", {}) is None  # the same sync waits once
    assert [(j["id"], j["status"]) for j in queue.jobs()] == [(first, "queued")]
    waiting = queue.fleet()
    assert (waiting.runner, waiting.waiting, waiting.running, waiting.per_minute) == ("procrastinate", {"sync": 1}, 0, 0)
    assert waiting.oldest_waiting is not None
    systems.run_until_empty()
    assert queue.fleet().per_minute > 0  # (a periodic poll may wait now: it fired meanwhile)
    assert len(systems.crm.ids("account")) == 30 and len(systems.crm.ids("contact")) == 30
    coupled = {link.crm_id for link in store.links.all("contact")}
    assert coupled == set(systems.crm.ids("contact"))  # every CRM contact has its link, none twice
    jobs = {j["id"]: j for j in queue.jobs()}  # beside it, the periodic poll and recovery fired
    assert (jobs[first]["kind"], jobs[first]["status"]) == ("sync", "done")

    changed = systems.erp.ids("account")[3]
    systems.erp.put("account", {"name": "Renamed"}, changed)
    record_job = queue.enqueue("record", {"side": "erp", "entity": "account", "id": changed})
    assert systems.run_until_done(queue, record_job) == "done"
    crm_id = store.links.by_ids("account", "erp", [changed])[changed].crm_id
    assert systems.crm.get("account", crm_id)["name"] == "Renamed"
    store.close()


def test_a_run_that_failed_is_tried_again_and_ends_failed_after_its_attempts(settings: Settings,
                                                                            systems: Systems) -> None:
    systems.erp.put("account", {"name": "Customer", "number": "C1"})
    systems.crm.transient_failures = 10**6  # the CRM is down for good
    store = Store.open(settings.store.url)
    queue = queue_for(settings, store)
    job = queue.enqueue("sync", {})
    assert systems.run_until_done(queue, job) == "failed"
    row = {j["id"]: j for j in queue.jobs()}[job]
    assert (row["status"], row["attempts"]) == ("failed", 2)  # [sync] retry_attempts
    assert systems.crm.ids("account") == []
    runs = store.runs.last(50)  # the job's two tries, and the periodic polls meanwhile
    assert len(runs) >= 2 and {r["status"] for r in runs} == {"failed"}
    store.close()


def test_the_jobs_of_a_worker_that_died_are_taken_up_again(settings: Settings, systems: Systems) -> None:
    systems.erp.put("account", {"name": "Customer", "number": "C1"})
    store = Store.open(settings.store.url)
    queue = queue_for(settings, store)
    job = queue.enqueue("sync", {})
    conninfo = fleet.conninfo(settings.store.url)
    with psycopg.connect(conninfo, autocommit=True) as conn:  # a worker took it
        dead = conn.execute("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now()) RETURNING id").fetchone()
        assert dead is not None
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = %s", (dead[0], job))
    assert [(j["id"], j["status"]) for j in queue.jobs()] == [(job, "running")]
    systems.run_until_empty()  # a doing job is no work for another worker: nothing runs
    assert systems.crm.ids("account") == []
    with psycopg.connect(conninfo, autocommit=True) as conn:  # … then it was killed (-9): its heartbeat stopped
        # (only now: the worker above recovers by itself, on its own schedule, what it finds stalled)
        conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' WHERE id = %s",
                     (dead[0],))
    status = queue.fleet()
    assert status.running == 1 and [(w["id"], w["alive"]) for w in status.workers] == [(dead[0], False)]

    app = fleet.build_app(settings, fleet.Engines(settings, systems.engine))

    async def recover() -> int:
        async with app.open_async():
            return int(await app.tasks["koppel.recover"](timestamp=0))

    assert asyncio.run(recover()) == 1
    assert systems.run_until_done(queue, job) == "done"
    assert len(systems.crm.ids("account")) == 1
    store.close()


def test_a_dead_worker_s_poll_ends_where_the_next_poll_waits_already(settings: Settings, systems: Systems) -> None:
    systems.erp.put("account", {"name": "Customer", "number": "C1"})
    store = Store.open(settings.store.url)
    queue = queue_for(settings, store)
    app = fleet.build_app(settings, fleet.Engines(settings, systems.engine))
    with app.open():
        fleet.ensure_schema(app)
        stalled = app.tasks["koppel.poll"].defer(timestamp=1)
        with psycopg.connect(fleet.conninfo(settings.store.url), autocommit=True) as conn:
            dead = conn.execute("INSERT INTO procrastinate_workers (last_heartbeat) "
                                "VALUES (now() - interval '1 hour') RETURNING id").fetchone()
            assert dead is not None
            conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = %s",
                         (dead[0], stalled))
        waiting = app.tasks["koppel.poll"].defer(timestamp=2)  # the next period's poll, queued meanwhile

    async def recover() -> int:
        async with app.open_async():
            return int(await app.tasks["koppel.recover"](timestamp=0))

    assert asyncio.run(recover()) == 1  # it cannot go back to the queue beside its twin: it ends
    assert {j["id"]: j["status"] for j in queue.jobs()}[stalled] == "failed"
    assert systems.run_until_done(queue, waiting) == "done"  # the lock it held is free: the twin runs
    systems.run_until_loaded()  # the entities never read before: their loads, which the poll queued
    assert len(systems.crm.ids("account")) == 1
    store.close()
