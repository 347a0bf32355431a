"""The account 360° with A accounts and I invoices: read by the account's id vs by full scans.

Both systems are memory connectors: the ERP holds A accounts with a contact, two orders (each
with a shipment) and I / A invoices each; the CRM holds the A accounts, coupled through links in
a SQLite store, with a contact, a quote and a case each. The view of one account is timed as
koppel reads it now (`read_related`, the connectors' own filters: the memory connector's index)
and as it was read before (every record of each related entity read and filtered, the test kit's
`ScanningAccountView`), in the same run; the first read by id is reported apart (it builds the
memory connector's index). Both views must show the same.
Prints a line per measure and the summary as JSON, last.

Usage: python bench/account_view.py [--accounts A] [--invoices I] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from koppel.config.policy import default_policy_data, load_policy
from koppel.config.settings import SyncSettings
from koppel.connectors.memory import MemoryConnector
from koppel.engine import Engine
from koppel.processes.account_view import AccountView
from koppel.store import Store
from koppel.testing.scans import ScanningAccountView

GOAL_S = 1.0


def money(amount: int) -> dict[str, str]:
    return {"amount": str(amount), "currency": "EUR"}


def build(accounts: int, invoices: int) -> tuple[Engine, list[str]]:
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm")
    links: list[tuple[str, str, dict[str, Any]]] = []
    erp_ids = []
    for n in range(accounts):
        values = {"name": f"Kunde {n} GmbH", "number": f"C{n}", "postcode": "10115", "currency": "EUR"}
        erp_id, crm_id = erp.put("account", values), crm.put("account", values)
        erp_ids.append(erp_id)
        links.append((erp_id, crm_id, values))
        erp.put("contact", {"last_name": f"Muster {n}", "email": f"m{n}@example.com", "account": erp_id})
        crm.put("contact", {"last_name": f"Muster {n}", "email": f"m{n}@example.com", "account": crm_id})
        crm.put("quote", {"number": f"Q{n}", "title": "Pumps", "account": crm_id, "status": "sent"})
        crm.put("case", {"subject": f"Leak {n}", "account": crm_id})
        for k in range(2):
            order = erp.put("order", {"number": f"SO{n}-{k}", "account": erp_id, "state": "confirmed",
                                      "total": money(100)})
            erp.put("shipment", {"number": f"SH{n}-{k}", "order": order, "account": erp_id})
    for i in range(invoices):
        erp.put("invoice", {"number": f"INV{i}", "account": erp_ids[i % accounts], "state": "posted",
                            "due_date": "2026-01-31", "amount_to_pay": money(119), "total": money(119)})
    store = Store.open("sqlite://")
    store.links.add("account", links)
    engine = Engine(store, {"erp": erp, "crm": crm}, load_policy(default_policy_data()), SyncSettings())
    return engine, erp_ids


def timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    built, (engine, erp_ids) = timed(lambda: build(args.accounts, args.invoices))
    print(f"built {args.accounts:,} accounts, {args.invoices:,} invoices in {built:.1f} s", file=sys.stderr)
    keys = [f"erp:{erp_ids[(k * 7919 + 10) % len(erp_ids)]}" for k in range(args.repeat)]
    view, scanning = AccountView(engine), ScanningAccountView(engine)
    first, _ = timed(lambda: view.account(keys[0]))
    by_id = [timed(lambda key=key: view.account(key)) for key in keys]
    scans = [timed(lambda key=key: scanning.account(key)) for key in keys[:max(1, args.repeat // 2)]]
    for (_, new), (_, old) in zip(by_id, scans, strict=False):
        assert new is not None and old is not None and asdict(new) == asdict(old), "the views differ"
    view_s = statistics.median(t for t, _ in by_id)
    scan_s = statistics.median(t for t, _ in scans)
    shown = by_id[0][1]
    print(f"by id: first {first:.3f} s (builds the index), median {view_s:.4f} s of {len(by_id)}; "
          f"by scans: median {scan_s:.2f} s of {len(scans)}; {scan_s / view_s:,.0f}x", file=sys.stderr)
    print(json.dumps({"accounts": args.accounts, "invoices": args.invoices,
                      "invoices_shown": len(getattr(shown, "invoices", [])), "view_s": round(view_s, 4),
                      "view_first_s": round(first, 3), "scan_s": round(scan_s, 3),
                      "ratio": round(scan_s / view_s, 1), "goal_s": GOAL_S, "met": view_s <= GOAL_S}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
