"""The account 360° with A accounts and I invoices: read by the account's id vs by full scans.

Both systems are memory connectors: the ERP holds A accounts with a contact, two orders (each
with a shipment) and I / A invoices each; the CRM holds the A accounts, coupled through links in
a SQLite store, with a contact, a quote and a case each. The view of one account is timed as
koppel reads it now (`read_related`, the connectors' own filters: the memory connector's index)
and as it was read before (every record of each related entity read and filtered, the test kit's
`ScanningAccountView`), in the same run; the first read by id is reported apart (it builds the
memory connector's index). Both views must show the same.

The account search is timed the same way, with U more accounts in each system that are not
coupled: as koppel searches now (the links in the store's SQL, each system's own search a page
at a time: `search_records`), as it searched before (every link loaded and filtered, every
account of each system read: `ScanningAccountView.accounts`) and with connectors that cannot
search (`search_records` falls back to a scan); with the records each read from the systems.
All three must list the same. `--store postgresql` keeps the links in a fresh database on the
local PostgreSQL instead of SQLite.
Prints a line per measure and the summary as JSON, last.

Usage: python bench/account_view.py [--accounts A] [--invoices I] [--uncoupled U] [--repeat R]
                                    [--store sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict
from functools import partial
from typing import Any

from koppel.config.policy import default_policy_data, load_policy
from koppel.config.settings import SyncSettings
from koppel.connectors.base import ChangeBatch, RemoteRecord
from koppel.connectors.memory import MemoryConnector
from koppel.engine import Engine
from koppel.processes.account_view import AccountView
from koppel.store import Store
from koppel.testing.postgres import fresh_database
from koppel.testing.scans import ScanningAccountView

GOAL_S = 1.0


def money(amount: int) -> dict[str, str]:
    return {"amount": str(amount), "currency": "EUR"}


def build(accounts: int, invoices: int, uncoupled: int = 0, url: str = "sqlite://") -> tuple[Engine, list[str]]:
    erp, crm = CountingConnector("erp"), CountingConnector("crm")
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
    for n in range(uncoupled):
        erp.put("account", {"name": f"Neukunde {n} AG", "number": f"N{n}", "currency": "EUR"})
        crm.put("account", {"name": f"Interessent {n} Ltd", "status": "prospect"})
    store = Store.open(url)
    store.links.add("account", links)
    engine = Engine(store, {"erp": erp, "crm": crm}, load_policy(default_policy_data()), SyncSettings())
    return engine, erp_ids


class CountingConnector(MemoryConnector):
    """A memory connector that counts the records its full reads and its searches deliver."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.delivered = 0

    def read_changes(self, entity: str, cursor: str | None, *, batch_size: int = 500) -> Iterator[ChangeBatch]:
        for batch in super().read_changes(entity, cursor, batch_size=batch_size):
            self.delivered += len(batch.records)
            yield batch

    def search(self, entity: str, text: str, *, page_size: int, fields: Any = None) -> Iterator[list[RemoteRecord]]:
        for page in super().search(entity, text, page_size=page_size, fields=fields):
            self.delivered += len(page)
            yield page


class Unsearchable:
    """The same system behind the contract alone: no `search`, so `search_records` scans it."""

    def __init__(self, inner: CountingConnector) -> None:
        self.inner, self.name = inner, inner.name

    def __getattr__(self, name: str) -> Any:
        if name == "search":
            raise AttributeError(name)
        return getattr(self.inner, name)


#: (what, search text, include_uncoupled, uncoupled_from, limit): the callers' searches
SEARCHES: list[tuple[str, str | None, bool, tuple[str, ...], int]] = [
    ("one coupled account by its full name (API)", "kunde 4711 gmbh", False, ("erp", "crm"), 100),
    ("coupled accounts by a piece of their name, over the limit (API)", "KUNDE 47", False, ("erp", "crm"), 100),
    ("uncoupled accounts by a piece of their name (API ?uncoupled)", "neukunde 77", True, ("erp", "crm"), 100),
    ("a CRM prospect by its name (workspace 'every')", "interessent 123 ltd", True, ("erp", "crm"), 200),
    ("the list without a text (workspace 'every')", None, True, ("erp", "crm"), 200),
    ("order entry's customer list (CRM only)", None, True, ("crm",), 5000),
]


def search_figures(engine: Engine, repeat: int) -> list[dict[str, Any]]:
    """Each of SEARCHES as koppel runs it now, as it ran before, and against connectors that
    cannot search: median seconds and the records read from the two systems per call."""
    systems = [engine.connectors["erp"], engine.connectors["crm"]]
    plain = Engine(engine.store, {"erp": Unsearchable(systems[0]), "crm": Unsearchable(systems[1])},  # type: ignore[dict-item]
                   engine.policy, engine.settings)
    views = {"native": AccountView(engine), "before": ScanningAccountView(engine), "fallback": AccountView(plain)}
    figures = []
    for what, text, uncoupled, sides, limit in SEARCHES:
        row: dict[str, Any] = {"search": what, "text": text, "limit": limit}
        listed: dict[str, object] = {}
        for name, view in views.items():
            times = []
            for _ in range(repeat if name == "native" else max(1, repeat // 2)):
                before = sum(getattr(s, "delivered", 0) for s in systems)
                took, listed[name] = timed(partial(view.accounts, text, include_uncoupled=uncoupled,
                                                   uncoupled_from=sides, limit=limit))
                times.append(took)
                row[f"{name}_read"] = sum(getattr(s, "delivered", 0) for s in systems) - before
            row[f"{name}_s"] = round(statistics.median(times), 4)
        assert listed["native"] == listed["before"] == listed["fallback"], f"the lists differ: {what}"
        row["found"] = len(listed["native"])  # type: ignore[arg-type]
        row["ratio"] = round(row["before_s"] / max(row["native_s"], 1e-6), 1)
        print(f"{what}: {row['found']} found; now {row['native_s']:.4f} s reading {row['native_read']:,} records, "
              f"before {row['before_s']:.3f} s reading {row['before_read']:,} ({row['ratio']:,}x); "
              f"without a native search {row['fallback_s']:.3f} s reading {row['fallback_read']:,}", file=sys.stderr)
        figures.append(row)
    return figures


def timed(call: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--uncoupled", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = stack.enter_context(fresh_database("koppel_bench")) if args.store == "postgresql" else "sqlite://"
        return run(args, url)


def run(args: argparse.Namespace, url: str) -> int:
    built, (engine, erp_ids) = timed(lambda: build(args.accounts, args.invoices, args.uncoupled, url))
    print(f"built {args.accounts:,} accounts, {args.invoices:,} invoices, {args.uncoupled:,} uncoupled accounts "
          f"in each system in {built:.1f} s (links on {args.store})", file=sys.stderr)
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
    searches = search_figures(engine, args.repeat)
    engine.store.close()
    print(json.dumps({"accounts": args.accounts, "invoices": args.invoices,
                      "invoices_shown": len(getattr(shown, "invoices", [])), "view_s": round(view_s, 4),
                      "view_first_s": round(first, 3), "scan_s": round(scan_s, 3),
                      "ratio": round(scan_s / view_s, 1), "goal_s": GOAL_S,
                      "met": view_s <= GOAL_S and all(f["native_s"] <= GOAL_S for f in searches),
                      "uncoupled": args.uncoupled, "store": args.store, "searches": searches}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
