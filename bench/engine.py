"""Engine throughput: N accounts with one contact each, full load then an incremental run.

The ERP is `systems.GeneratedERP`, whose records are made when read (nothing held up front); the
CRM is the memory connector, or for the million-record load `systems.DiskCRM`, which keeps its
records in a SQLite file, so that the memory measured is the engine's. The default policy; the
store on SQLite (a file) and on the local PostgreSQL (a fresh database), side by side in one run.
The full load counts every record read, planned, written, verified and linked, the systems' own
time included; the incremental run changes 0.1 % of the accounts.
`--million` adds a load of 1,000,000 records (500,000 accounts with a contact each) in a child
process on SQLite and reports its peak resident memory (bounded by `--million-timeout`).
Each run also reports `gc_s`, the time the cycle collector took during its full load, `systems_s`,
the time spent inside the two simulated systems' calls (their validation, indexes and storage: in
production another process's work), and `engine_records_per_s`, the full load's rate without that
time: how koppel's own cost per record holds up as the load grows, where the memory CRM's grows
with the records it holds.
Prints one JSON line per run on stderr and the summary as the last line on stdout.

`--crm-on-disk` keeps the CRM in a SQLite file for every size (the figures are then lower: it
writes a file), to see how the engine scales without the memory CRM growing in its process.

`--repeat K` measures every size and store K times, in rounds (a shared machine's slow minute then
falls on one size of each, not on all runs of one size), and reports the medians.

Usage: python bench/engine.py [N ...] [--stores sqlite,postgresql] [--repeat K] [--million] [--profile FILE]
       [--flame FILE.svg]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from koppel.cli import logs
from koppel.config.policy import default_policy_data, load_policy
from koppel.config.settings import SyncSettings
from koppel.connectors.memory import MemoryConnector
from koppel.engine import Engine
from koppel.store import Store
from koppel.testing.postgres import fresh_database

sys.path.insert(0, str(Path(__file__).parent))
from systems import DiskCRM, GeneratedERP, clock_calls

PG_ADMIN = os.environ.get("KOPPEL_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def store_url(kind: str, workdir: Path, n: int) -> Iterator[str]:
    """A fresh, empty store of `kind`: a SQLite file, or a database on the local PostgreSQL."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/bench-{n}-{uuid.uuid4().hex[:6]}.db"
        return
    with fresh_database("koppel_bench", PG_ADMIN) as url:
        yield url


def run(n: int, url: str, workdir: Path, *, incremental: bool = True, crm_on_disk: bool = False) -> dict[str, Any]:
    erp = GeneratedERP(n)
    crm = DiskCRM(workdir / f"crm-{uuid.uuid4().hex[:6]}.db") if crm_on_disk else MemoryConnector("crm")
    store = Store.open(url)
    engine = Engine(store, {"erp": erp, "crm": crm}, load_policy(default_policy_data()),
                    SyncSettings(batch_size=1000))
    systems_s = [0.0]  # the two systems' own time in the full load
    for system in (erp, crm):
        clock_calls(system, systems_s)
    # the runs before this one leave their systems to the cycle collector (a timed call's wrapper
    # refers back to its system): collected here, not walked by this load's collections
    gc.collect()
    with collector_time() as collecting:
        started = time.perf_counter()
        full = engine.sync(["account", "contact"])
        full_s = time.perf_counter() - started
    in_systems = systems_s[0]  # the incremental run below adds to it: not reported
    assert full.status == "ok" and full.total("created") == 2 * n, full.message
    held = [len(crm.ids(e)) if isinstance(crm, MemoryConnector) else crm.count(e) for e in ("account", "contact")]
    assert held == [n, n], held  # what the CRM holds, not koppel's word
    result: dict[str, Any] = {"n": n, "records": 2 * n, "full_s": round(full_s, 3),
                              "full_records_per_s": round(2 * n / full_s), "gc_s": round(collecting[0], 3),
                              "systems_s": round(in_systems, 3),
                              "engine_records_per_s": round(2 * n / (full_s - in_systems))}
    if incremental:
        changed = max(1, n // 1000)
        accounts = erp.ids("account")[:: max(1, n // changed)][:changed]
        for account in accounts:
            erp.put("account", {"name": f"Renamed {account}"}, account)
        started = time.perf_counter()
        report = engine.sync(["account", "contact"])
        result.update(incremental_s=round(time.perf_counter() - started, 4), incremental_changed=changed)
        assert report.total("updated") == changed, dict(report.stats["account"])
        crm_id = store.links.by_ids("account", "erp", [accounts[0]])[accounts[0]].crm_id
        assert crm.get("account", crm_id)["name"] == f"Renamed {accounts[0]}"
    crm.close()
    store.close()
    return result


@contextmanager
def collector_time() -> Iterator[list[float]]:
    """Seconds the cycle collector ran inside the block (its one figure in `[0]`): the share of a
    load that goes to walking the heap, which grows with what the process holds (the memory CRM's
    records), not with the engine's own per-batch state."""
    spent, began = [0.0], [0.0]

    def timed(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - began[0]

    gc.callbacks.append(timed)
    try:
        yield spent
    finally:
        gc.callbacks.remove(timed)


def million(timeout: float) -> dict[str, Any]:
    """A 1,000,000-record load in a child process: its peak RSS and time (None if it timed out)."""
    with tempfile.TemporaryDirectory() as tmp:
        child = [sys.executable, __file__, "--child", str(500_000), "--child-url", f"sqlite:///{tmp}/million.db"]
        try:
            done = subprocess.run(child, capture_output=True, text=True, timeout=timeout, check=True)
        except subprocess.TimeoutExpired:
            return {"records": 1_000_000, "peak_rss_mb": None, "timed_out_after_s": timeout}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def machine_loop_s() -> float:
    """Seconds for ten million additions in a Python loop, best of three: how fast this machine
    runs Python today (shared machines differ twofold between days), to compare figures by."""
    best = float("inf")
    for _ in range(3):
        started, total = time.perf_counter(), 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def peak_rss_mb() -> int:
    """This process's peak resident memory since it started its program (VmHWM). Not getrusage's
    ru_maxrss: Linux keeps that across exec, so a child started by a large parent reports the
    parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def child(n: int, url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = run(n, url, Path(tmp), incremental=False, crm_on_disk=True)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def main() -> None:
    logs.configure("json", "warning")  # as the command line runs: per-record events are info, not written
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure every size and store this many times, in rounds; the medians are the figures")
    parser.add_argument("--crm-on-disk", action="store_true",
                        help="the CRM in a SQLite file (as for --million), not in this process: the engine's "
                             "scaling without the memory CRM's growth in its heap")
    parser.add_argument("--million", action="store_true")
    parser.add_argument("--million-timeout", type=float, default=1800)
    parser.add_argument("--profile", help="write the profile of the first run (cProfile) to this file")
    parser.add_argument("--flame", help="write a flame graph (py-spy, SVG) of an extra run of the largest size "
                                        "on the first store to this file")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.child_url)
        return
    stores = [s for s in args.stores.split(",") if s]
    summary: dict[str, Any] = {"full_records_per_s": {s: {} for s in stores},
                               "engine_records_per_s": {s: {} for s in stores}, "runs": [],
                               "machine_loop_s": machine_loop_s()}
    with tempfile.TemporaryDirectory() as tmp:
        if args.flame:  # an extra run in a child process, sampled from outside: no overhead inside
            flame(args.sizes[-1], stores[0], args.flame)
        if args.profile:  # an extra run: the profiler's overhead stays out of the figures
            with store_url(stores[0], Path(tmp), args.sizes[-1]) as url:
                profile(args.sizes[-1], url, Path(tmp), args.profile)
        for _ in range(args.repeat):  # in rounds: a slow minute of the machine falls on one size of each
            for n in args.sizes:
                for kind in stores:
                    with store_url(kind, Path(tmp), n) as url:
                        result = run(n, url, Path(tmp), crm_on_disk=args.crm_on_disk)
                    result["store"] = kind
                    print(json.dumps(result), file=sys.stderr)
                    summary["runs"].append(result)
    for kind in stores:
        for n in args.sizes:
            for figure in ("full_records_per_s", "engine_records_per_s"):
                rates = [r[figure] for r in summary["runs"] if (r["store"], r["n"]) == (kind, n)]
                summary[figure][kind][str(n)] = round(statistics.median(rates))
    largest = max(args.sizes)
    summary["incremental_s"] = {kind: statistics.median(r["incremental_s"] for r in summary["runs"]
                                                        if (r["store"], r["n"]) == (kind, largest)) for kind in stores}
    summary["incremental_changed_of"] = [largest // 1000, largest]
    if args.million:
        summary["million"] = million(args.million_timeout)
        summary["peak_rss_mb"] = summary["million"]["peak_rss_mb"]
    print(json.dumps(summary))


def profile(n: int, url: str, workdir: Path, path: str) -> dict[str, Any]:
    """One run under cProfile; the top functions by cumulative and by own time go to `path`."""
    profiler = cProfile.Profile()
    result = profiler.runcall(run, n, url, workdir)
    with open(path, "w") as out:
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(20)
    return result


def flame(n: int, store: str, path: str) -> None:
    """One full load of `n` on `store`, in a child process that py-spy samples: a flame graph
    of where its time goes (the systems' calls and the store included) in `path`."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    subprocess.run([spy, "record", "--rate", "250", "--format", "flamegraph", "--output", path, "--",
                    sys.executable, __file__, str(n), "--stores", store], check=True, capture_output=True)


if __name__ == "__main__":
    main()
