"""BottleCRM change capture: how long an incremental read takes to find k changed accounts among N.

Starts a fresh BottleCRM (peers/bottlecrm/peer.py), creates N accounts through the connector
in parallel, reads them all once (full scan, builds the cursor), changes k by PATCH and times
the incremental read that finds them. Prints one JSON line last.
Usage: python bench/crm_scan.py [N] [k]
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from koppel.connectors.base import WriteOp
from koppel.connectors.bottlecrm import BottleCrmConnector, create
from koppel.connectors.bottlecrm.specs import SPECS
from koppel.testing import peers


def drain(crm: BottleCrmConnector, cursor: str | None) -> tuple[int, str | None]:
    found = 0
    for batch in crm.read_changes("account", cursor, batch_size=500):
        found += len(batch.records)
        cursor = batch.cursor
    return found, cursor


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    began = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - began


def run(crm: BottleCrmConnector, n: int, k: int) -> dict[str, Any]:
    ops = [WriteOp(str(i), {"name": f"Bench {i:05d} GmbH", "number": f"C{i:07d}", "postcode": "10115",
                            "currency": "EUR", "credit_limit": {"amount": "5000", "currency": "EUR"}})
           for i in range(n)]
    outcomes, create_s = timed(crm.write, "account", ops)
    ids = [o.id for o in outcomes if o.ok]
    (total, cursor), full_scan_s = timed(drain, crm, None)
    # a field BottleCRM has without `koppel setup` (the peer is as bare as a user's)
    changes = [WriteOp(f"u{i}", {"phone": f"+49 30 {i:06d}"}, record_id) for i, record_id in enumerate(ids[:k])]
    changed = crm.write("account", changes)
    assert all(o.ok for o in changed), [o.error for o in changed if not o.ok]
    (found, _), incremental_s = timed(drain, crm, cursor)
    spec = SPECS["account"]
    _, list_s = timed(lambda: list(crm.client.pages(spec.path, spec.rows)))
    return {"n": n, "k": k, "created": len(ids), "create_s": round(create_s, 2),
            "creates_per_s": round(len(ids) / create_s, 1), "full_scan_records": total,
            "full_scan_s": round(full_scan_s, 2), "incremental_read_s": round(incremental_s, 2),
            "found": found, "list_fetch_s": round(list_s, 2), "cursor_bytes": len(cursor or ""),
            "concurrency": crm.settings.concurrency}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with peers.running("bottlecrm", f"bench-{os.getpid()}") as info:
        crm = create("crm", {"url": info["url"], "token": info["token"], "setup": info["setup"]})
        try:
            result = run(crm, n, k)
        finally:
            crm.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
