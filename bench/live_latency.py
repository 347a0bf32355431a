"""Live-sync latency between the real Tryton and the real BottleCRM.

Starts both peers, couples M customers (written into Tryton in batches through its connector,
then carried into BottleCRM by one sync run), runs `koppel run` (poll interval P seconds) as a
separate process, then makes N changes one after another — alternately a rename in Tryton
(ERP-owned) and a phone number in BottleCRM (shared), each on another customer — and times each
until the other system shows it. The polls' durations during the changes come from the store's
runs; how BottleCRM's changes were found (its activity feed, or a scan of the accounts list)
from the live process's log. `--scan` switches the feed off: every poll lists every account,
as before the feed was read. `--keep NAME` keeps both peers (SQLite) and koppel's store under
NAME when it ends, and starts from them when they exist: the coupling is paid once, and runs
may be repeated. Prints one JSON line last with the median and 95th percentile.

Usage: live_latency.py [N] [P] [--accounts M] [--backend sqlite|postgresql] [--scan] [--keep NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from koppel.config import load_settings
from koppel.connectors.base import WriteOp
from koppel.engine import provisioning
from koppel.engine.runtime import open_runtime
from koppel.testing import peers

#: customers written into Tryton per call while coupling
BATCH = 500


def wait_until(check: Any, timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError(f"change not seen within {timeout:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("changes", nargs="?", type=int, default=50)
    parser.add_argument("poll", nargs="?", type=float, default=1.0)
    parser.add_argument("--accounts", type=int, default=20, help="coupled customers (default 20)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--scan", action="store_true", help="no activity feed: every poll scans BottleCRM's lists")
    parser.add_argument("--keep", metavar="NAME", help="keep the peers and the store under NAME; reuse them if there")
    args = parser.parse_args()
    if args.keep:
        if args.backend != "sqlite":
            parser.error("--keep needs --backend sqlite (the peers keep SQLite databases only)")
        workdir = Path(tempfile.gettempdir()) / f"koppel-latency-{args.keep}"
        workdir.mkdir(exist_ok=True)
        try:
            erp_info = peers.start("tryton", args.keep, keep=True)
            crm_info = peers.start("bottlecrm", args.keep, keep=True)
            result = measure(erp_info, crm_info, args.changes, args.poll, args.accounts, feed=not args.scan,
                             workdir=workdir)
        finally:
            peers.stop("tryton", args.keep)
            peers.stop("bottlecrm", args.keep)
    else:
        with peers.both(f"latency-{os.getpid()}", backend=args.backend) as (erp_info, crm_info):
            result = measure(erp_info, crm_info, args.changes, args.poll, args.accounts, feed=not args.scan)
    print(json.dumps({**result, "backend": args.backend}))


def couple(config: Path, accounts: int) -> tuple[list[tuple[str, str]], dict[str, float]]:
    """`accounts` customers made in Tryton and carried into BottleCRM: (erp id, crm id) pairs;
    those of the store where it has that many coupled already (`--keep`)."""
    seconds: dict[str, float] = {}
    with open_runtime(load_settings(config)) as rt:
        kept = [(link.erp_id, link.crm_id) for link in rt.store.links.all("account")]
        if len(kept) >= accounts:
            return kept[:accounts], {"kept": float(len(kept))}
        assert not kept, f"the store under --keep holds {len(kept)} coupled customers, not {accounts}"
        provisioning.setup(rt.connectors, rt.settings.policy, rt.engine.entities())
        erp = rt.connectors["erp"]
        began = time.monotonic()
        ids: list[str] = []
        for start in range(0, accounts, BATCH):
            outcomes = erp.write("account", [WriteOp(str(i), {"name": f"Latency {i:05d} GmbH"})
                                             for i in range(start, min(start + BATCH, accounts))])
            assert all(o.ok and o.id for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
            ids += [str(o.id) for o in outcomes]
        seconds["erp_create_s"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        report = rt.engine.sync(["account"])
        seconds["couple_s"] = round(time.monotonic() - began, 1)
        assert report.status == "ok", (report.status, report.message)
        links = rt.store.links.by_ids("account", "erp", ids)
        assert len(links) == accounts, f"{len(links)} of {accounts} coupled"
        return [(e, links[e].crm_id) for e in ids], seconds


def measure(erp_info: dict[str, Any], crm_info: dict[str, Any], changes: int, poll: float,
            accounts: int, *, feed: bool = True, workdir: Path | None = None) -> dict[str, Any]:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="koppel-latency-"))
    text, secrets = peers.config_text(erp_info, crm_info, workdir, poll_interval=poll)
    if not feed:
        text += "change_feed = false\n"  # the last section of the file is [systems.crm.settings]
    (workdir / "koppel.toml").write_text(text)
    (workdir / "koppel.secrets.toml").write_text(secrets)
    config = workdir / "koppel.toml"
    pairs, result = couple(config, accounts)
    print(f"coupled {accounts} customers: {result}", file=sys.stderr)
    log = workdir / "live.log"
    live = None
    try:
        with log.open("w") as out:
            live = subprocess.Popen([sys.executable, "-m", "koppel", "--log-format", "json", "run",
                                     "-c", str(config)], stdout=subprocess.DEVNULL, stderr=out)
        with open_runtime(load_settings(config)) as rt:
            first = rt.store.runs.last(1)[0]["id"]
            settled = wait_until(lambda: _finished_since(rt, first) >= 2, timeout=600)  # the live polls run
            print(f"live mode polling after {settled:.1f} s", file=sys.stderr)
            began = rt.store.runs.last(1)[0]["id"]
            erp, crm = rt.connectors["erp"], rt.connectors["crm"]
            seconds = []
            step = max(1, len(pairs) // max(changes, 1))
            token = f"{int(time.time()) % 1000:03d}"  # values new to a kept peer's records too
            for n in range(changes):
                erp_id, crm_id = pairs[(n * step) % len(pairs)]
                if n % 2 == 0:
                    value = f"Latency {n} renamed {token} GmbH"
                    erp.write("account", [WriteOp("c", {"name": value}, erp_id)])
                    seconds.append(wait_until(lambda c=crm_id, v=value: crm.read("account", [c])[0].record.name == v))
                else:
                    value = f"+49 30 {token}{n:04d}"
                    crm.write("account", [WriteOp("c", {"phone": value}, crm_id)])
                    seconds.append(wait_until(lambda e=erp_id, v=value: erp.read("account", [e])[0].record.phone == v))
                print(f"change {n}: {seconds[-1]:.2f} s", file=sys.stderr)
            polls = [(r["finished_at"] - r["started_at"]).total_seconds() for r in rt.store.runs.last(100_000)
                     if r["id"] > began and r["finished_at"] is not None and r["kind"] == "incremental"]
    finally:
        if live is not None:
            live.terminate()
            live.wait(timeout=60)
    cuts = statistics.quantiles(seconds, n=20)
    events = [json.loads(line).get("event") for line in log.read_text().splitlines() if line.startswith("{")]
    return {"changes": changes, "accounts": accounts, "poll_interval_s": poll, "change_feed": feed, **result,
            "median_s": round(statistics.median(seconds), 2), "p95_s": round(cuts[18], 2),
            "max_s": round(max(seconds), 2), "polls": len(polls),
            "poll_median_s": round(statistics.median(polls), 2) if polls else None,
            "poll_max_s": round(max(polls), 2) if polls else None,
            "feed_overflows": events.count("change feed overflowed: scanning the list")}


def _finished_since(rt: Any, run_id: int) -> int:
    return sum(1 for r in rt.store.runs.last(20) if r["id"] > run_id and r["finished_at"] is not None)


if __name__ == "__main__":
    main()
