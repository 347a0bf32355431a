"""Loading customers into a real Tryton: through koppel's engine against raw batched JSON-RPC.

Starts a fresh Tryton (peers/tryton), then loads N customers, each with a billing address, an
email and one contact person, twice into the same server (different names):
  koppel: a memory CRM holds them; `Engine.sync(["account", "contact"])` couples them into
          Tryton (account coupling_trigger "always"), i.e. change read, planning, matching by
          natural key, the connector's batched writes, links and audit in a SQLite store;
  raw:    plain httpx `party.party.create` calls with the same nested values, same batch size.
Prints one JSON line last: {"n", "koppel_s", "raw_s", "ratio", ...}.
Usage: python bench/tryton_load.py [N] [--batch 200] [--repeat K]  (K runs on fresh Tryton
databases, for a noisy machine: the median ratio is the figure)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from koppel.cli import logs
from koppel.config.policy import default_policy_data, load_policy, merge
from koppel.config.settings import SyncSettings
from koppel.connectors.memory import MemoryConnector
from koppel.connectors.tryton import TrytonConnector, create
from koppel.connectors.tryton.client import TrytonClient
from koppel.engine import Engine, provisioning
from koppel.store import Store
from koppel.testing import peers


def populate(crm: MemoryConnector, n: int) -> None:
    for i in range(n):
        account = crm.put("account", {
            "name": f"Koppel Customer {i}", "postcode": "10115", "email": f"k{i}@example.com",
            "billing_address": {"street": f"Street {i}", "postcode": "10115", "city": "Berlin",
                                "country": "DE"}})
        crm.put("contact", {"first_name": "Anna", "last_name": f"Koppel {i}", "account": account,
                            "email": f"anna.k{i}@example.com"})


def via_koppel(tryton: TrytonConnector, n: int, batch: int, workdir: str) -> float:
    crm = MemoryConnector("crm")
    populate(crm, n)
    policy = load_policy(merge(default_policy_data(),
                               {"policy": {"account": {"coupling_trigger": "always"}}}))
    store = Store.open(f"sqlite:///{workdir}/tryton-bench.db")
    engine = Engine(store, {"erp": tryton, "crm": crm}, policy, SyncSettings(batch_size=batch))
    provisioning.setup(engine.connectors, engine.policy, engine.entities())  # `koppel setup`, not timed
    started = time.perf_counter()
    report = engine.sync(["account", "contact"])
    elapsed = time.perf_counter() - started
    store.close()
    assert report.status == "ok" and report.total("created") == 2 * n, (report.status, report.message,
                                                                        report.total("created"))
    [found] = tryton.find("account", [{"name": "Koppel Customer 0", "postcode": "10115"}])
    [record] = tryton.read("account", [found or ""])
    assert record.record.email and record.record.billing_address, "the engine wrote less than raw"
    [person] = tryton.find("contact", [{"email": "anna.k0@example.com"}])
    assert person and tryton.read("contact", [person])[0].record.account == found
    return elapsed


def via_raw(client: TrytonClient, n: int, batch: int, country: int, relation: int) -> float:
    started = time.perf_counter()
    for start in range(0, n, batch):
        numbers = range(start, min(n, start + batch))
        parties = client.model("party.party", "create", [{
            "name": f"Raw Customer {i}",
            "addresses": [["create", [{"street": f"Street {i}", "postal_code": "10115",
                                       "city": "Berlin", "country": country}]]],
            "contact_mechanisms": [["create", [{"type": "email", "value": f"r{i}@example.com"}]]],
        } for i in numbers])
        client.model("party.party", "create", [{
            "name": f"Raw {i}, Anna",
            "contact_mechanisms": [["create", [{"type": "email", "value": f"anna.r{i}@example.com"}]]],
            "relations": [["create", [{"to": party, "type": relation}]]],
        } for i, party in zip(numbers, parties, strict=True)])
    return time.perf_counter() - started


def main() -> None:
    logs.configure("json", "warning")  # as the command line runs: per-record events are info, not written
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure this many times, each on a fresh Tryton; the median ratio is the figure")
    args = parser.parse_args()
    runs = []
    for number in range(args.repeat):
        with peers.running("tryton", f"bench-{os.getpid()}-{number}") as info:
            runs.append(measure(info, args.n, args.batch))
        print(json.dumps(runs[-1]), file=sys.stderr)
    ratios = sorted(r["ratio"] for r in runs)
    print(json.dumps({**runs[0], "koppel_s": [r["koppel_s"] for r in runs], "raw_s": [r["raw_s"] for r in runs],
                      "ratios": [r["ratio"] for r in runs], "ratio": statistics.median(ratios)}
                     if args.repeat > 1 else runs[0]))


def measure(info: dict[str, Any], n: int, batch: int) -> dict[str, Any]:
    """Both loads into one fresh Tryton, after a warm-up that neither is timed for."""
    settings = {k: info[k] for k in ("url", "database", "user", "password")}
    tryton = create("erp", {**settings, "setup": info["setup"], "batch_size": batch})
    client = TrytonClient(info["url"], info["database"], info["user"], info["password"])
    country = info["setup"]["countries"]["DE"]
    try:
        warm_up(client, country)
        with tempfile.TemporaryDirectory() as tmp:  # first, so the engine reads no raw records
            koppel_s = via_koppel(tryton, n, batch, tmp)
        relation = tryton.lookups.contact_relation  # made by `koppel setup`
        raw_s = via_raw(client, n, batch, country, relation)
    finally:
        client.close()
        tryton.close()
    return {"n": n, "batch": batch, "records": 4 * n, "path": "engine (memory CRM -> Tryton ERP)",
            "koppel_s": round(koppel_s, 2), "raw_s": round(raw_s, 2), "ratio": round(koppel_s / raw_s, 3)}


def warm_up(client: TrytonClient, country: int) -> None:
    """A customer created, read and deleted, untimed: a fresh server fills its caches on its
    first requests, which would otherwise count against whichever load comes first (koppel's).
    Deleted, so that the engine's read of Tryton finds nothing to couple."""
    ids = client.model("party.party", "create", [{
        "name": "Warm-up", "addresses": [["create", [{"street": "Street", "postal_code": "10115",
                                                      "city": "Berlin", "country": country}]]],
        "contact_mechanisms": [["create", [{"type": "email", "value": "warm-up@example.com"}]]]}])
    client.model("party.party", "read", ids, ["name", "addresses.street", "contact_mechanisms.value"])
    client.model("party.party", "delete", ids)

if __name__ == "__main__":
    main()
