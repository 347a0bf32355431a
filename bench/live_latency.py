"""Live-sync latency between the real Tryton and the real BottleCRM.

Starts both peers, couples M customers, runs `koppel run` (poll interval P seconds) as a separate
process, then makes N changes one after another — alternately a rename in Tryton (ERP-owned) and
a phone number in BottleCRM (shared) — and times each until the other system shows it.
Prints one JSON line last with the median and 95th percentile. Usage: live_latency.py [N] [P]
"""

from __future__ import annotations

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


def wait_until(check: Any, timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError("change not seen within 60 s")


def main() -> None:
    changes = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    poll = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    with peers.both(f"latency-{os.getpid()}") as (erp_info, crm_info):
        print(json.dumps(measure(erp_info, crm_info, changes, poll)))


def measure(erp_info: dict[str, Any], crm_info: dict[str, Any], changes: int, poll: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="koppel-latency-"))
    text, secrets = peers.config_text(erp_info, crm_info, workdir, poll_interval=poll)
    (workdir / "koppel.toml").write_text(text)
    (workdir / "koppel.secrets.toml").write_text(secrets)
    config = workdir / "koppel.toml"
    live = None
    try:
        with open_runtime(load_settings(config)) as rt:
            provisioning.setup(rt.connectors, rt.settings.policy, rt.engine.entities())
            erp, crm = rt.connectors["erp"], rt.connectors["crm"]
            ids = [o.id for o in erp.write("account", [WriteOp(str(i), {"name": f"Latency {i} GmbH"})
                                                       for i in range(20)])]
            rt.engine.sync(["account"])
            pairs = [(e, rt.store.links.by_ids("account", "erp", [e])[e].crm_id) for e in ids]
        live = subprocess.Popen([sys.executable, "-m", "koppel", "run", "-c", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3 * poll)
        with open_runtime(load_settings(config)) as rt:
            erp, crm = rt.connectors["erp"], rt.connectors["crm"]
            seconds = []
            for n in range(changes):
                erp_id, crm_id = pairs[n % len(pairs)]
                if n % 2 == 0:
                    value = f"Latency {n} renamed GmbH"
                    erp.write("account", [WriteOp("c", {"name": value}, erp_id)])
                    seconds.append(wait_until(lambda c=crm_id, v=value: crm.read("account", [c])[0].record.name == v))
                else:
                    value = f"+49 30 {n:06d}"
                    crm.write("account", [WriteOp("c", {"phone": value}, crm_id)])
                    seconds.append(wait_until(lambda e=erp_id, v=value: erp.read("account", [e])[0].record.phone == v))
                print(f"change {n}: {seconds[-1]:.2f} s", file=sys.stderr)
        cuts = statistics.quantiles(seconds, n=20)
        return {"changes": changes, "poll_interval_s": poll, "median_s": round(statistics.median(seconds), 2),
                "p95_s": round(cuts[18], 2), "max_s": round(max(seconds), 2)}
    finally:
        if live is not None:
            live.terminate()
            live.wait(timeout=30)


if __name__ == "__main__":
    main()
