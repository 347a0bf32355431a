"""Torture: `koppel run` killed with SIGKILL again and again while records flow both ways (ERP
customers to the CRM, CRM contacts to the ERP), restarted each time; in the end nothing is doubled,
nothing is lost, every link agrees with both systems. KOPPEL_TORTURE_N records each way and
KOPPEL_TORTURE_KILLS kills (small here; `./dev torture` runs the full counts)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from koppel.config import load_settings
from koppel.connectors.base import WriteOp
from koppel.engine import reconcile as rec
from koppel.engine.runtime import open_runtime
from tests.scenarios.conftest import Coupled, write_config

N = int(os.environ.get("KOPPEL_TORTURE_N", "40"))
KILLS = int(os.environ.get("KOPPEL_TORTURE_KILLS", "4"))


def koppel(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "koppel", *args, "-c", str(config)], capture_output=True,
                          text=True, timeout=1800, check=False)


def drift(config: Path) -> int:
    with open_runtime(load_settings(config)) as rt:
        return len(rec.reconcile(rt.engine, ["account", "contact"]))


def test_kill_9_again_and_again_loses_and_doubles_nothing(coupled: Coupled) -> None:
    c = coupled
    rng = random.Random(5)
    config = write_config(c, poll_interval=0.5, batch_size=20)
    home = [o.id or "" for o in c.erp.write("account", [
        WriteOp(str(i), {"name": f"Home {i:03d} GmbH", "postcode": "10115"}) for i in range(5)])]
    assert koppel(config, "sync").returncode == 0
    with open_runtime(load_settings(config)) as rt:  # the store `koppel run` keeps
        crm_homes = [rt.store.links.by_ids("account", "erp", [h])[h].crm_id for h in home]
    # the load: new ERP customers, and CRM contacts of coupled customers
    made = c.erp.write("account", [WriteOp(str(i), {"name": f"Kill {i:05d} GmbH", "postcode": "20095"})
                                   for i in range(N)])
    assert all(o.ok for o in made)
    people = c.crm.write("contact", [WriteOp(str(i), {"first_name": "Kim", "last_name": f"Kill {i:05d}",
                                                      "email": f"kim{i}@kill.example",
                                                      "account": crm_homes[i % len(crm_homes)]})
                                     for i in range(N)])
    assert all(o.ok for o in people)
    started, kills = time.monotonic(), 0
    for _ in range(KILLS):
        process = subprocess.Popen([sys.executable, "-m", "koppel", "run", "-c", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.5, 5.0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
    runs = []
    for _ in range(6):
        result = koppel(config, "sync", "--json")
        runs.append(json.loads(result.stdout)["status"] if result.stdout.startswith("{") else result.returncode)
        if runs[-1] == "ok":
            break
    recovery = time.monotonic() - started
    crm_numbers = Counter(r.record.number for b in c.crm.read_changes("account", None) for r in b.records
                          if (r.record.name or "").startswith("Kill "))
    erp_people = Counter(r.record.email for b in c.erp.read_changes("contact", None) for r in b.records
                         if (r.record.email or "").endswith("@kill.example"))
    figures = {"kills": kills, "runs after": runs, "seconds": round(recovery, 1),
               "crm customers": sum(crm_numbers.values()), "crm doubled": sum(n - 1 for n in crm_numbers.values() if n > 1),
               "erp contacts": sum(erp_people.values()), "erp doubled": sum(n - 1 for n in erp_people.values() if n > 1),
               "drift": drift(config)}
    print(f"\ntorture kills: {N} each way, {figures}")
    assert runs[-1] == "ok"
    assert (figures["crm customers"], figures["crm doubled"]) == (N, 0)
    assert (figures["erp contacts"], figures["erp doubled"]) == (N, 0)
    assert figures["drift"] == 0
