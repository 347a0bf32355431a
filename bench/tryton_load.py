"""Loading customers into a real Tryton: through koppel's engine against raw batched JSON-RPC.

Starts two fresh Tryton servers (peers/tryton), the same build, and loads N customers, each with a
billing address, an email and one contact person:
  koppel: into the first: a memory CRM holds them; `Engine.sync(["account", "contact"])` couples
          them into Tryton (account coupling_trigger "always"), i.e. change read, planning,
          matching by natural key, the connector's batched writes with their read-back, links and
          audit in a SQLite store; `koppel setup` and the connector's first load of the ids it
          looks up (countries, the contact relation type …) are not timed, as the raw load takes
          its country and relation type before it starts;
  raw:    into the second: plain httpx `party.party.create` calls with the same nested values,
          the same batch size.
The two loads take turns batch by batch: after each batch koppel writes, the raw load writes its
next batch (that time is taken out of koppel's). A shared machine's slow minutes then fall on
both alike; run one after the other, the two loads differed by ±15 % from that alone. Both
servers get an untimed warm-up first (a fresh server fills its caches on its first requests).
Prints one JSON line last: {"n", "koppel_s", "raw_s", "ratio", ...}.
Usage: python bench/tryton_load.py [N] [--batch 200] [--repeat K]  (K runs on fresh Tryton
databases: the median ratio is the figure)
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

#: customers made in the CRM reach Tryton at once (not at their first order)
POLICY = load_policy(merge(default_policy_data(), {"policy": {"account": {"coupling_trigger": "always"}}}))


def populate(crm: MemoryConnector, n: int) -> None:
    for i in range(n):
        account = crm.put("account", {
            "name": f"Koppel Customer {i}", "postcode": "10115", "email": f"k{i}@example.com",
            "billing_address": {"street": f"Street {i}", "postcode": "10115", "city": "Berlin",
                                "country": "DE"}})
        crm.put("contact", {"first_name": "Anna", "last_name": f"Koppel {i}", "account": account,
                            "email": f"anna.k{i}@example.com"})


def via_koppel(tryton: TrytonConnector, n: int, batch: int, workdir: str, between: RawLoad) -> float:
    """koppel's load; `between` runs after each batch the engine wrote, and its time is taken out."""
    crm = MemoryConnector("crm")
    populate(crm, n)
    store = Store.open(f"sqlite:///{workdir}/tryton-bench.db")
    engine = Engine(store, {"erp": tryton, "crm": crm}, POLICY, SyncSettings(batch_size=batch))
    provisioning.setup(engine.connectors, engine.policy, engine.entities())  # `koppel setup`, not timed
    tryton.lookups  # noqa: B018  what setup made, loaded untimed: as for the raw load (`measure`)
    started = time.perf_counter()
    report = engine.sync(["account", "contact"], progress=between)
    elapsed = time.perf_counter() - started - between.spent
    store.close()
    assert report.status == "ok" and report.total("created") == 2 * n, (report.status, report.message,
                                                                        report.total("created"))
    [found] = tryton.find("account", [{"name": "Koppel Customer 0", "postcode": "10115"}])
    [record] = tryton.read("account", [found or ""])
    assert record.record.email and record.record.billing_address, "the engine wrote less than raw"
    [person] = tryton.find("contact", [{"email": "anna.k0@example.com"}])
    assert person and tryton.read("contact", [person])[0].record.account == found
    return elapsed


class RawLoad:
    """The raw load, a batch at a time: called after each batch the engine wrote to Tryton (from
    the CRM), it writes as many customers (the account phase) or their contact persons (the
    contact phase) with plain `create` calls, and adds up their time."""

    def __init__(self, client: TrytonClient, country: int, relation: int) -> None:
        self.client, self.country, self.relation = client, country, relation
        self.spent, self.customers, self.persons = 0.0, 0, 0
        self.parties: list[int] = []  # the customers made, for their contact persons

    def __call__(self, entity: str, side: str, count: int) -> None:
        if side != "crm" or not count:  # only the batches koppel writes into Tryton
            return
        started = time.perf_counter()
        if entity == "account":
            numbers = range(self.customers, self.customers + count)
            self.parties += self.client.model("party.party", "create", [{
                "name": f"Raw Customer {i}",
                "addresses": [["create", [{"street": f"Street {i}", "postal_code": "10115",
                                           "city": "Berlin", "country": self.country}]]],
                "contact_mechanisms": [["create", [{"type": "email", "value": f"r{i}@example.com"}]]],
            } for i in numbers])
            self.customers += count
        else:
            numbers = range(self.persons, self.persons + count)
            self.client.model("party.party", "create", [{
                "name": f"Raw {i}, Anna",
                "contact_mechanisms": [["create", [{"type": "email", "value": f"anna.r{i}@example.com"}]]],
                "relations": [["create", [{"to": self.parties[i], "type": self.relation}]]],
            } for i in numbers])
            self.persons += count
        self.spent += time.perf_counter() - started


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
        name = f"bench-{os.getpid()}-{number}"
        with peers.running("tryton", name) as info, peers.running("tryton", f"{name}-raw") as raw_info:
            runs.append(measure(info, raw_info, args.n, args.batch))
        print(json.dumps(runs[-1]), file=sys.stderr)
    ratios = sorted(r["ratio"] for r in runs)
    print(json.dumps({**runs[0], "koppel_s": [r["koppel_s"] for r in runs], "raw_s": [r["raw_s"] for r in runs],
                      "ratios": [r["ratio"] for r in runs], "ratio": statistics.median(ratios)}
                     if args.repeat > 1 else runs[0]))


def measure(info: dict[str, Any], raw_info: dict[str, Any], n: int, batch: int) -> dict[str, Any]:
    """koppel's load into the Tryton of `info`, the raw load into that of `raw_info`, in turns."""
    tryton, raw = (create("erp", {**{k: i[k] for k in ("url", "database", "user", "password")},
                                  "setup": i["setup"], "batch_size": batch}) for i in (info, raw_info))
    client = TrytonClient(raw_info["url"], raw_info["database"], raw_info["user"], raw_info["password"])
    warmer = TrytonClient(info["url"], info["database"], info["user"], info["password"])
    try:
        provisioning.setup({"erp": raw, "crm": MemoryConnector("crm")}, POLICY, ["account", "contact"])
        warm_up(warmer, info["setup"]["countries"]["DE"])
        warm_up(client, raw_info["setup"]["countries"]["DE"])
        load = RawLoad(client, raw_info["setup"]["countries"]["DE"], raw.lookups.contact_relation)
        with tempfile.TemporaryDirectory() as tmp:
            koppel_s = via_koppel(tryton, n, batch, tmp, load)
        assert (load.customers, load.persons) == (n, n), (load.customers, load.persons)
    finally:
        for done in (client, warmer, tryton, raw):
            done.close()
    return {"n": n, "batch": batch, "records": 4 * n, "path": "engine (memory CRM -> Tryton ERP)",
            "koppel_s": round(koppel_s, 2), "raw_s": round(load.spent, 2), "ratio": round(koppel_s / load.spent, 3)}


def warm_up(client: TrytonClient, country: int) -> None:
    """A customer created, read and deleted, untimed: a fresh server fills its caches on its
    first requests, which would otherwise count against the load that makes them.
    Deleted, so that the engine's read of Tryton finds nothing to couple."""
    ids = client.model("party.party", "create", [{
        "name": "Warm-up", "addresses": [["create", [{"street": "Street", "postal_code": "10115",
                                                      "city": "Berlin", "country": country}]]],
        "contact_mechanisms": [["create", [{"type": "email", "value": "warm-up@example.com"}]]]}])
    client.model("party.party", "read", ids, ["name", "addresses.street", "contact_mechanisms.value"])
    client.model("party.party", "delete", ids)

if __name__ == "__main__":
    main()
