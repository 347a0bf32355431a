"""Throughput of an initial load with 1, 2 and 4 workers side by side, in one run.

Each worker is a process of its own running the job code of `koppel worker`
(`koppel.workers.fleet.run_worker`, one slot each) on one PostgreSQL store; the load is queued
as `koppel.full` with `[jobs] shards` = the number of workers, and timed from the queueing to
the last link (the workers are up before the clock starts).

- `memory`: N accounts and N contacts from an ERP that makes its records when read into a CRM
  kept in one SQLite file (bench/systems.py): systems that several processes share, so what is
  measured is koppel's own work side by side (the workers here are `run_worker` in processes
  started by this script, as bench systems are no installed connectors).
- `peers`: a real Tryton and a real BottleCRM, both on PostgreSQL, fresh for each worker count:
  M customers made in Tryton go to BottleCRM and M accounts made in BottleCRM go to Tryton
  (`coupling_trigger = "always"`), each worker a real `koppel worker` process.

Prints a line per run to stderr and one JSON line last: records/s per worker count and the
ratios to one worker; per run also `cpu_busy`, the share of the machine's cores busy while the
load ran (every process: the workers, PostgreSQL, the peers), and `workers_cpu_s`, the CPU the
worker processes spent in their whole life (start-up included), which says how much of it was
koppel's.
Usage: python bench/fleet_throughput.py [--memory-n N] [--peers-n M] [--workers 1,2,4] [--skip-peers]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from itertools import count
from pathlib import Path
from typing import Any

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from koppel.config import load_settings
from koppel.connectors.base import WriteOp, WriteOutcome
from koppel.engine import Engine
from koppel.errors import RecordError
from koppel.model import entity_class
from koppel.store import Store
from koppel.testing import peers
from koppel.testing.postgres import fresh_database
from koppel.workers import fleet
from systems import DiskCRM, GeneratedERP, _key


class SharedCRM(DiskCRM):
    """DiskCRM that several processes write at once: ids unique per process, the modification
    sequence taken inside the file's write lock, waits for that lock instead of failing."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.db.execute("PRAGMA busy_timeout = 60000")
        self._ids = count(1)

    def write(self, entity: str, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        cls = entity_class(entity)
        current = {r.id: r.record for r in self.read(entity, [op.id for op in ops if op.id is not None])}
        checked: list[tuple[WriteOp, dict[str, Any], Any]] = []
        outcomes: dict[str, WriteOutcome] = {}
        for op in ops:
            if op.id is not None and op.id not in current:
                outcomes[op.key] = WriteOutcome(op.key, op.id, RecordError(f"{entity} {op.id} does not exist",
                                                                            system=self.name))
                continue
            merged = {**current[op.id].model_dump(mode="json"), **op.values} if op.id else dict(op.values)
            try:
                checked.append((op, merged, cls.model_validate(merged)))
            except ValueError as exc:
                outcomes[op.key] = WriteOutcome(op.key, op.id, RecordError(str(exc), system=self.name))
        self.db.execute("BEGIN IMMEDIATE")  # the file's write lock: the sequence is taken inside it
        top = self.db.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]
        rows, keys = [], []
        for seq, (op, merged, record) in enumerate(checked, start=top + 1):
            record_id = op.id or f"crm-{os.getpid()}-{next(self._ids)}"
            rows.append((entity, record_id, seq, orjson.dumps(merged).decode()))
            for fields in cls.natural_keys:
                parts = {f: getattr(record, f) for f in fields}
                if all(v not in (None, "") for v in parts.values()):
                    keys.append((entity, _key(parts), record_id))
            outcomes[op.key] = WriteOutcome(op.key, record_id, version=str(seq), stored=record.model_dump(mode="json"))
        self.db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)", rows)
        self.db.executemany("INSERT OR IGNORE INTO keys VALUES (?, ?, ?)", keys)
        self.db.execute("COMMIT")
        return [outcomes[op.key] for op in ops]


# --- workers ------------------------------------------------------------------------------------


def _memory_worker(config: str, n: int, crm_path: str) -> None:
    """One worker process between the bench systems: the job code of `koppel worker`."""
    settings = load_settings(config)
    erp, crm = GeneratedERP(n), SharedCRM(Path(crm_path))

    def engine() -> Engine:
        store = Store.open(settings.store.url)
        made = Engine(store, {"erp": erp, "crm": crm}, settings.policy, settings.sync)
        made.shards = settings.jobs.shards  # as open_runtime does
        return made

    fleet.run_worker(settings, concurrency=1, engines=fleet.Engines(settings, engine))


def _registered(url: str, workers: int, timeout: float = 120) -> None:
    """Wait until `workers` workers send heartbeats."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(fleet.conninfo(url), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            if row and row[0] >= workers:
                return
            time.sleep(0.1)
    raise RuntimeError(f"{workers} workers did not start in {timeout:g} s")


def _loaded(url: str, entity_links: dict[str, int], timeout: float) -> float:
    """Seconds until every entity has its links and no load waits or runs."""
    started = time.monotonic()
    store = Store.open(url)
    try:
        with psycopg.connect(fleet.conninfo(url), autocommit=True) as conn:
            while time.monotonic() - started < timeout:
                counts = store.links.counts()
                pending = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = ANY(%s) AND "
                                       "status IN ('todo', 'doing')", (list(fleet.LOADS),)).fetchone()
                if all(counts.get(e, 0) >= n for e, n in entity_links.items()) and pending and not pending[0]:
                    return time.monotonic() - started
                time.sleep(0.05)
    finally:
        store.close()
    raise RuntimeError(f"not loaded in {timeout:g} s: {entity_links}")


def _where_time_goes(url: str) -> dict[str, Any]:
    """Per load job: how long it ran, what it wrote (from the store's runs)."""
    store = Store.open(url)
    try:
        runs = [r for r in store.runs.last(1000) if r["kind"] == "full"]
        done = [r for r in runs if r["finished_at"] is not None]
        read = [r for r in done if not (r["stats"] or {}).get("created")]
        parts = [r for r in done if (r["stats"] or {}).get("created")]
        return {"runs": {status: sum(1 for r in runs if r["status"] == status) for status in {r["status"] for r in runs}},
                "read_s": sorted(round((r["finished_at"] - r["started_at"]).total_seconds(), 2) for r in read),
                "parts": len(parts),
                "part_s_sum": round(sum((r["finished_at"] - r["started_at"]).total_seconds() for r in parts), 2)}
    finally:
        store.close()


def _cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _busy(before: tuple[float, float]) -> float:
    """The share of all cores busy since `before` (every process on the machine: the workers,
    PostgreSQL, the peers)."""
    busy, total = _cpu()
    return round((busy - before[0]) / max(1.0, total - before[1]), 2)


def _children_cpu() -> float:
    """CPU seconds of this script's ended child processes (the workers, once they are joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _queue_full(config: Path, entities: list[str]) -> None:
    fleet.defer(load_settings(config), "full", {"entities": entities})


def memory_run(workers: int, n: int) -> dict[str, Any]:
    with fresh_database("koppel_bench_fleet") as url, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "koppel.toml"
        config.write_text(f"""
[store]
url = "{url}"
[sync]
batch_size = 500
entities = ["account", "contact"]
poll_interval = 3600
[jobs]
shards = {workers}
[systems.erp]
connector = "memory"
[systems.crm]
connector = "memory"
""")
        crm_path = Path(tmp) / "crm.sqlite"
        SharedCRM(crm_path).close()
        Store.open(url).close()  # migrated once, before the workers
        with fleet.opened(load_settings(config)):
            pass  # Procrastinate's schema
        spawn, cpu_before = multiprocessing.get_context("spawn"), _children_cpu()
        procs = [spawn.Process(target=_memory_worker, args=(str(config), n, str(crm_path))) for _ in range(workers)]
        for proc in procs:
            proc.start()
        try:
            _registered(url, workers)
            began, cpu = time.monotonic(), _cpu()
            _queue_full(config, ["account", "contact"])
            _loaded(url, {"account": n, "contact": n}, timeout=1800)
            seconds, busy = time.monotonic() - began, _busy(cpu)
            check = SharedCRM(crm_path)
            assert check.count("account") == n and check.count("contact") == n, "a record twice or missing"
            check.close()
            detail = _where_time_goes(url)
        finally:
            for proc in procs:
                if proc.pid:
                    os.kill(proc.pid, signal.SIGTERM)
            for proc in procs:
                proc.join(30)
    return {"workers": workers, "records": 2 * n, "seconds": round(seconds, 2),
            "records_per_s": round(2 * n / seconds, 1), "cpu_busy": busy,
            "workers_cpu_s": round(_children_cpu() - cpu_before, 1), **detail}


def peers_run(workers: int, m: int) -> dict[str, Any]:
    from koppel.connectors.bottlecrm import create as create_crm
    from koppel.connectors.tryton import create as create_erp

    with peers.both(f"bench-fleet-{os.getpid()}-{workers}", backend="postgresql") as (erp_info, crm_info), \
            fresh_database("koppel_bench_fleet") as url, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        text, secrets = peers.config_text(erp_info, crm_info, workdir, poll_interval=3600, batch_size=100)
        text = text.replace(f'url = "sqlite:///{workdir / "koppel.db"}"', f'url = "{url}"')
        text = text.replace("[sync]\n", '[sync]\nentities = ["account"]\n')
        text += f'\n[jobs]\nshards = {workers}\n\n[policy.account]\ncoupling_trigger = "always"\n'
        config = workdir / "koppel.toml"
        config.write_text(text)
        (workdir / "koppel.secrets.toml").write_text(secrets)
        koppel = [sys.executable, "-m", "koppel"]
        setup = subprocess.run([*koppel, "setup", "-c", str(config)], capture_output=True, text=True, timeout=600)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        erp = create_erp("erp", {k: erp_info[k] for k in ("url", "database", "user", "password")})
        crm = create_crm("crm", {"url": crm_info["url"], "token": crm_info["token"]})
        try:
            for start in range(0, m, 100):  # what each system holds before koppel couples them
                batch = range(start, min(m, start + 100))
                made = erp.write("account", [WriteOp(str(i), {"name": f"Bench ERP {i:05d} GmbH", "postcode": "10115"})
                                             for i in batch])
                assert all(o.ok for o in made), [o.error for o in made if not o.ok][:3]
                made = crm.write("account", [WriteOp(str(i), {"name": f"Bench CRM {i:05d} BV"}) for i in batch])
                assert all(o.ok for o in made), [o.error for o in made if not o.ok][:3]
        finally:
            erp.close()
            crm.close()
        logs = [workdir / f"worker-{i}.log" for i in range(workers)]
        procs, cpu_before = [], _children_cpu()
        for log in logs:
            with log.open("w") as out:
                procs.append(subprocess.Popen([*koppel, "worker", "-c", str(config)], stdout=out,
                                              stderr=subprocess.STDOUT, text=True))
        try:
            _registered(url, workers)
            began, cpu = time.monotonic(), _cpu()
            _queue_full(config, ["account"])
            _loaded(url, {"account": 2 * m}, timeout=1800)
            seconds, busy = time.monotonic() - began, _busy(cpu)
            detail = _where_time_goes(url)
        except Exception:
            for log in logs:
                print(log.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        workers_cpu = _children_cpu() - cpu_before
        _check_peers(erp_info, crm_info, m)
    return {"workers": workers, "records": 2 * m, "seconds": round(seconds, 2),
            "records_per_s": round(2 * m / seconds, 2), "cpu_busy": busy, "workers_cpu_s": round(workers_cpu, 1),
            **detail}


def _check_peers(erp_info: dict[str, Any], crm_info: dict[str, Any], m: int) -> None:
    """Each customer once in each system, by the systems' own APIs."""
    from koppel.connectors.bottlecrm import create as create_crm
    from koppel.connectors.tryton import create as create_erp

    erp = create_erp("erp", {k: erp_info[k] for k in ("url", "database", "user", "password")})
    crm = create_crm("crm", {"url": crm_info["url"], "token": crm_info["token"]})
    try:
        for system in (erp, crm):
            names = [name for b in system.read_changes("account", None) for r in b.records
                     if (name := str(getattr(r.record, "name", ""))).startswith("Bench ")]
            assert len(names) == 2 * m == len(set(names)), (system.name, len(names), len(set(names)))
    finally:
        erp.close()
        crm.close()


def series(name: str, run: Callable[[int], dict[str, Any]], counts: list[int]) -> dict[str, Any]:
    results = []
    for workers in counts:
        result = run(workers)
        print(f"{name}: {json.dumps(result)}", file=sys.stderr)
        results.append(result)
    base = results[0]["records_per_s"]
    return {"runs": results, "speedup": {str(r["workers"]): round(r["records_per_s"] / base, 2) for r in results}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory-n", type=int, default=20_000, help="accounts (and as many contacts)")
    parser.add_argument("--peers-n", type=int, default=150, help="customers made in each system")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    out: dict[str, Any] = {"cores": os.cpu_count(), "workers": counts}
    if not args.skip_memory:
        out["memory"] = series("memory", lambda w: memory_run(w, args.memory_n), counts)
    if not args.skip_peers:
        out["peers"] = series("peers", lambda w: peers_run(w, args.peers_n), counts)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
