"""Engine throughput: N accounts with one contact each, full load then an incremental run.

Memory connectors on both sides, SQLite file store, default policy. The full load counts
every record planned, written and linked; the incremental run changes 0.1 % of the accounts.
Prints one JSON line last. Usage: python bench/engine.py [N ...]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from koppel.config.policy import default_policy_data, load_policy
from koppel.config.settings import SyncSettings
from koppel.connectors.memory import MemoryConnector
from koppel.engine import Engine
from koppel.store import Store


def populate(erp: MemoryConnector, n: int) -> list[str]:
    accounts = []
    for i in range(n):
        account = erp.put("account", {
            "name": f"Customer {i}", "number": f"C{i:07d}", "vat_id": f"DE{i:09d}", "postcode": "10115",
            "currency": "EUR", "payment_term": "Net 30 days",
            "billing_address": {"street": f"Street {i}", "postcode": "10115", "city": "Berlin", "country": "DE"}})
        erp.put("contact", {"first_name": "Anna", "last_name": f"Person {i}", "account": account,
                            "email": f"anna{i}@example.com", "invoice_recipient": True})
        accounts.append(account)
    return accounts


def run(n: int, workdir: Path) -> dict[str, float | int]:
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm")
    accounts = populate(erp, n)
    store = Store.open(f"sqlite:///{workdir}/bench-{n}.db")
    engine = Engine(store, {"erp": erp, "crm": crm}, load_policy(default_policy_data()),
                    SyncSettings(batch_size=1000))
    started = time.perf_counter()
    full = engine.sync(["account", "contact"])
    full_s = time.perf_counter() - started
    assert full.status == "ok" and full.total("created") == 2 * n, full.message
    changed = max(1, n // 1000)
    for account in accounts[:: max(1, n // changed)][:changed]:
        erp.put("account", {"name": f"Renamed {account}"}, account)
    started = time.perf_counter()
    incremental = engine.sync(["account", "contact"])
    incremental_s = time.perf_counter() - started
    assert incremental.total("updated") == changed, dict(incremental.stats["account"])
    store.close()
    return {"n": n, "records": 2 * n, "full_s": round(full_s, 3),
            "full_records_per_s": round(2 * n / full_s), "incremental_s": round(incremental_s, 4),
            "incremental_changed": changed}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            result = run(n, Path(tmp))
            print(json.dumps(result), file=sys.stderr)
            results.append(result)
    last = results[-1]
    summary = {"full_records_per_s": last["full_records_per_s"], "incremental_s": last["incremental_s"],
               "incremental_changed": last["incremental_changed"], "total": last["records"],
               "runs": results}
    if len(results) > 1:
        first = results[0]
        summary["incremental_ratio"] = round(float(last["incremental_s"]) / float(first["incremental_s"]), 2)
        summary["size_ratio"] = round(int(last["n"]) / int(first["n"]), 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
