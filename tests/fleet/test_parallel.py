"""Workers side by side on one PostgreSQL store: a load per entity that waits for what it
references, a load read once and applied in shards that writes each record once, the live poll
leaving an entity to the load that owns it, two writers racing for one new record creating it
once, and per-system caps that hold across all writers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError

from koppel.config import load_settings
from koppel.config.settings import Settings
from koppel.connectors.base import WriteOp, WriteOutcome
from koppel.connectors.memory import MemoryConnector
from koppel.engine import Engine, caps
from koppel.engine.parallel import owner_key, split
from koppel.store import Store
from koppel.testing.builders import memory_settings
from koppel.testing.postgres import fresh_database
from koppel.workers import fleet
from koppel.workers.queue import queue_for

pytestmark = pytest.mark.postgres


def _config(tmp_path: Path, url: str, extra: str = "") -> Settings:
    return memory_settings(tmp_path, url, sync="batch_size = 10", jobs=extra)


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database("koppel_parallel") as made:
        yield made


class Counting(MemoryConnector):
    """A memory system whose writes take a while, counting how many are in flight at once."""

    def __init__(self, name: str, pause: float = 0.02) -> None:
        super().__init__(name)
        self.pause, self.in_flight, self.most = pause, 0, 0
        self.writing = threading.Event()  # set while a create is on its way
        self._count = threading.Lock()

    def write(self, entity: str, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        with self._count:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        if any(op.id is None for op in ops):
            self.writing.set()
        try:
            time.sleep(self.pause)  # the create is sent, not stored yet
            return super().write(entity, ops)
        finally:
            with self._count:
                self.in_flight -= 1


class Fleet:
    """Both systems in this process, shared by every engine (each with its own store)."""

    def __init__(self, settings: Settings, crm: MemoryConnector | None = None) -> None:
        self.settings = settings
        self.erp, self.crm = MemoryConnector("erp"), crm or MemoryConnector("crm")
        self.stores: list[Store] = []

    def engine(self) -> Engine:
        store = Store.open(self.settings.store.url)
        self.stores.append(store)
        engine = Engine(store, {"erp": self.erp, "crm": self.crm}, self.settings.policy, self.settings.sync)
        engine.shards = self.settings.jobs.shards  # as open_runtime does
        return engine

    def run_until_loaded(self, timeout: float = 60) -> None:
        """Run a worker (3 slots) until no job waits or runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fleet.run_worker(self.settings, concurrency=3, engines=fleet.Engines(self.settings, self.engine),
                             wait=False)
            with psycopg.connect(fleet.conninfo(self.settings.store.url)) as conn:
                row = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = ANY(%s) "
                               "AND status IN ('todo', 'doing')", (list(fleet.LOADS),)).fetchone()
            if not row or not row[0]:
                return
            time.sleep(0.2)
        raise AssertionError("the loads did not end")

    def close(self) -> None:
        for store in self.stores:
            store.close()


def customers(system: MemoryConnector, n: int) -> list[str]:
    made = []
    for i in range(n):
        account = system.put("account", {"name": f"Customer {i:03d}", "number": f"C{i:03d}"})
        system.put("contact", {"first_name": "Anna", "last_name": f"P{i:03d}", "account": account,
                               "email": f"a{i}@example.com"})
        made.append(account)
    return made


def runs_of(store: Store, entity: str) -> list[dict[str, Any]]:
    return [r for r in store.runs.last(200) if r["scope"] == entity]


def test_a_full_sync_is_one_load_per_entity_each_after_the_loads_of_what_it_references(tmp_path: Path,
                                                                                       url: str) -> None:
    settings = _config(tmp_path, url)
    systems = Fleet(settings)
    customers(systems.erp, 30)
    store = Store.open(url)
    try:
        queue = queue_for(settings, store)
        assert queue.enqueue("full", {}) is not None
        systems.run_until_loaded()
        assert len(systems.crm.ids("account")) == 30 and len(systems.crm.ids("contact")) == 30
        assert store.errors.held("contact") == []  # no contact waited for its account
        account, contact = runs_of(store, "account"), runs_of(store, "contact")
        assert [r["status"] for r in account + contact] == ["ok", "ok"]  # one run each, as its cursor owner
        assert contact[0]["started_at"] >= account[0]["finished_at"]
        assert store.cursors.get("erp", "account") is not None and store.cursors.get("crm", "contact") is not None
        jobs = [j for j in queue.jobs(limit=100) if j["kind"] == "load"]
        assert {j["payload"]["entity"] for j in jobs} == set(systems.engine().entities())
        assert {j["status"] for j in jobs} == {"done"}
    finally:
        store.close()
        systems.close()


def test_a_load_in_shards_is_read_once_applied_side_by_side_and_its_cursors_move_after(tmp_path: Path,
                                                                                       url: str) -> None:
    settings = _config(tmp_path, url, "shards = 3")
    systems = Fleet(settings)
    made = customers(systems.erp, 60)
    store = Store.open(url)
    try:
        assert queue_for(settings, store).enqueue("full", {"entities": ["account", "contact"]}) is not None
        systems.run_until_loaded()
        assert len(systems.crm.ids("account")) == 60 and len(systems.crm.ids("contact")) == 60
        links = store.links.all("account")
        assert len(links) == 60 and {link.erp_id for link in links} == set(made)
        runs = runs_of(store, "account")
        assert {r["status"] for r in runs} == {"ok"}
        read = [r for r in runs if (r["stats"] or {}).get("read", 0) >= 60]  # the cursor owner's, once
        assert len(read) == 1 and not (read[0]["stats"] or {}).get("created")  # (and the CRM's copies made so far)
        created = [(r["stats"] or {}).get("created", 0) for r in runs if r is not read[0]]
        assert sum(created) == 60 and len(created) >= 3  # in parts: six batches of ten, in three shards
        assert store.cursors.get("erp", "account") is not None and store.cursors.get("crm", "contact") is not None
        jobs = {j["id"]: j for j in queue_for(settings, store).jobs(limit=200)}
        assert {j["status"] for j in jobs.values() if j["kind"] == "load"} == {"done"}

        # the poll goes on from the cursors the load left: an edit travels, nothing else moves
        systems.erp.put("account", {"name": "Renamed GmbH"}, made[7])
        report = systems.engine().sync()
        assert (report.status, report.total("updated"), report.total("created")) == ("ok", 1, 0)
        twin = {link.erp_id: link.crm_id for link in links}[made[7]]
        assert systems.crm.get("account", twin)["name"] == "Renamed GmbH"
    finally:
        store.close()
        systems.close()


def test_a_coupled_record_falls_in_one_shard_from_either_side(tmp_path: Path, url: str) -> None:
    settings = _config(tmp_path, url)
    systems = Fleet(settings)
    made = customers(systems.erp, 40)
    engine = systems.engine()
    try:
        assert engine.sync(["account"]).status == "ok"
        erp = {r.id: r for batch in systems.erp.read_changes("account", None) for r in batch.records}
        crm = {r.id: r for batch in systems.crm.read_changes("account", None) for r in batch.records}
        assert split(engine.store, "account", "crm", list(crm.values()), [], 4) == {}  # koppel's creates: echoes
        by_erp = {r.id: n for n, (records, _) in split(engine.store, "account", "erp", list(erp.values()), [], 4).items()
                  for r in records}
        by_crm = {r.id: n for n, (records, _) in split(engine.store, "account", "crm", list(crm.values()), [], 4,
                                                       drop_echoes=False).items() for r in records}
        assert set(by_erp) == set(made) and len(set(by_erp.values())) > 1  # spread over the shards
        for link in engine.store.links.all("account"):
            assert by_erp[link.erp_id] == by_crm[link.crm_id]
    finally:
        systems.close()


def test_the_live_poll_leaves_an_entity_to_the_load_that_owns_it(tmp_path: Path, url: str) -> None:
    settings = _config(tmp_path, url)
    systems = Fleet(settings)
    customers(systems.erp, 3)
    engine, other = systems.engine(), Store.open(url)
    try:
        with other.locks.hold([owner_key("account")], shared=True):  # a shard of a load applies now
            report = engine.sync(["account"])
            assert (report.status, report.stats["account"]["busy"], systems.crm.ids("account")) == ("ok", 1, [])
        report = engine.sync(["account"])
        assert (report.status, report.total("created"), report.stats["account"]["busy"]) == ("ok", 3, 0)
    finally:
        other.close()
        systems.close()


def test_two_writers_racing_for_one_new_record_create_it_once(tmp_path: Path, url: str) -> None:
    """A load creates a new customer in the CRM; while that create is on its way, a sync of the
    same record on demand starts in another engine. It waits for the record's lock, then finds
    the link the load recorded: one CRM account. Without the record locks the same race makes
    a second account, whose link the links' unique constraint refuses."""
    settings = _config(tmp_path, url)
    systems = Fleet(settings, Counting("crm", pause=0.3))
    crm = systems.crm
    assert isinstance(crm, Counting)
    load, on_demand = systems.engine(), systems.engine()

    def race(name: str) -> tuple[list[str], BaseException | None]:
        record = systems.erp.put("account", {"name": name, "number": name})
        crm.writing.clear()
        failure: list[BaseException] = []

        def second() -> None:
            assert crm.writing.wait(10)
            try:
                on_demand.sync_record("erp", "account", record)
            except BaseException as exc:  # reported to the test below
                failure.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        try:
            load.sync(["account"], wait=True)
        except BaseException as exc:  # whichever of the two comes second, without the locks
            failure.append(exc)
        thread.join(30)
        made = [i for i in crm.ids("account") if crm.get("account", i)["name"] == name]
        return made, failure[0] if failure else None

    try:
        made, failure = race("Race GmbH")
        assert failure is None and len(made) == 1
        assert [link.crm_id for link in load.store.links.all("account")] == made
        assert load.store.runs.last(1)[0]["status"] == "ok"

        for store in (load.store, on_demand.store):  # the same race without the record locks
            store.locks.enabled = False
        made, failure = race("Race Two GmbH")
        assert len(made) == 2  # the race is real: both sent a create
        assert isinstance(failure, IntegrityError) and "uq_links_erp" in str(failure)  # one of them: coupled once
        assert len(load.store.links.all("account")) == 2  # Race GmbH and one of the two
    finally:
        systems.close()


@pytest.mark.parametrize("cap", [caps.Caps("crm", total=1), caps.Caps("crm", creates={"contact": 1})],
                         ids=["max_parallel", "max_parallel_creates"])
def test_a_system_s_cap_holds_across_writers(tmp_path: Path, url: str, cap: caps.Caps) -> None:
    settings = _config(tmp_path, url)
    systems = Fleet(settings, Counting("crm", pause=0.05))
    crm = systems.crm
    assert isinstance(crm, Counting)
    customers(systems.erp, 40)
    engines = [systems.engine(), systems.engine()]

    def load(entity: str) -> None:  # read once, applied in two shards side by side
        records = [r for batch in systems.erp.read_changes(entity, None) for r in batch.records]
        parts = split(engines[0].store, entity, "erp", records, [], 2)
        assert len(parts) == 2
        threads = [threading.Thread(target=engine.apply_batch, args=(entity, "erp", part[0]))
                   for engine, part in zip(engines, parts.values(), strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    try:
        load("account")  # uncapped, two shards write side by side
        assert crm.most == 2 and len(crm.ids("account")) == 40
        caps.cap(crm, cap, engines[0].store.locks, timeout=30)
        crm.most = 0
        load("contact")
        assert crm.most == 1 and len(crm.ids("contact")) == 40
        assert {r["status"] for r in engines[0].store.runs.last(4)} == {"ok"}
    finally:
        caps.unwrap(crm)
        systems.close()


def test_a_write_that_finds_no_free_slot_in_time_fails_its_run_saying_what_to_do(tmp_path: Path, url: str) -> None:
    settings = _config(tmp_path, url)
    systems = Fleet(settings)
    systems.erp.put("account", {"name": "Customer", "number": "C1"})
    engine, other = systems.engine(), Store.open(url)
    caps.cap(systems.crm, caps.Caps("crm", total=1), engine.store.locks, timeout=0.3)
    try:
        with other.locks.slot("koppel:cap:crm", 1, timeout=1):  # another worker writes to the CRM now
            report = engine.sync(["account"])
        assert report.status == "failed" and systems.crm.ids("account") == []
        assert report.message is not None and "[systems.crm] max_parallel = 1" in report.message
        assert "slot_timeout" in report.message
        assert engine.sync(["account"]).status == "ok" and len(systems.crm.ids("account")) == 1
    finally:
        caps.unwrap(systems.crm)
        other.close()
        systems.close()


def test_caps_come_from_the_connector_and_koppel_toml(tmp_path: Path, url: str) -> None:
    settings = _config(tmp_path, url)
    (tmp_path / "koppel.toml").write_text((tmp_path / "koppel.toml").read_text().replace(
        '[systems.crm]\nconnector = "memory"', '[systems.crm]\nconnector = "memory"\nmax_parallel = 4\n'
        "max_parallel_creates = { quote = 2 }"))
    settings = load_settings(tmp_path / "koppel.toml")

    class Numbered(MemoryConnector):
        def write_limits(self) -> dict[str, int]:
            return {"quote": 1, "invoice": 1}

    found = caps.caps_for("crm", Numbered("crm"), settings.systems["crm"])
    assert found == caps.Caps("crm", 4, {"quote": 2, "invoice": 1})  # koppel.toml wins
    assert not caps.caps_for("erp", MemoryConnector("erp"), settings.systems["erp"])
    (tmp_path / "koppel.toml").write_text((tmp_path / "koppel.toml").read_text().replace("quote = 2", "qoute = 2"))
    with pytest.raises(Exception, match=r"max_parallel_creates: Value error, not an entity: qoute"):
        load_settings(tmp_path / "koppel.toml")
