"""Reconcile: compare the two real systems against the links, print the drift with the action that
repairs each line, and repair it with --apply."""

from __future__ import annotations

import json
import subprocess
import sys

from koppel.connectors.base import WriteOp
from koppel.store import Store
from tests.scenarios.conftest import Coupled, write_config


def test_reconcile_reports_and_repairs_drift(coupled: Coupled) -> None:
    c = coupled
    ops = [WriteOp(str(i), {"name": f"Maas Handel {i} B.V.", "postcode": "3011"}) for i in range(3)]
    erp_ids = [o.id or "" for o in c.erp.write("account", ops)]
    config = write_config(c)
    run = [sys.executable, "-m", "koppel"]
    assert subprocess.run([*run, "sync", "-c", str(config)], capture_output=True, timeout=300).returncode == 0
    store = Store.open(f"sqlite:///{c.workdir}/koppel-run.db")
    twins = [store.links.by_ids("account", "erp", [e])[e].crm_id for e in erp_ids]
    store.close()
    c.crm.delete("account", [twins[0]])  # gone from the CRM
    c.crm.write("account", [WriteOp("x", {"name": "Maas Trading"}, twins[1])])  # an ERP-owned field drifted
    report = subprocess.run([*run, "reconcile", "--json", "-c", str(config)], capture_output=True, text=True,
                            timeout=300)
    assert report.returncode == 1, report.stdout + report.stderr  # drift found
    drift = json.loads(report.stdout)["drift"]
    kinds = sorted((d["kind"], d["side"], d["record_id"]) for d in drift)
    assert kinds == sorted([("missing", "crm", twins[0]), ("differs", "crm", twins[1])])
    differs = next(d for d in drift if d["kind"] == "differs")
    assert "Maas Trading" in differs["detail"] and differs["action"].startswith("write erp's name")
    fixed = subprocess.run([*run, "reconcile", "--apply", "--json", "-c", str(config)], capture_output=True,
                           text=True, timeout=300)
    assert fixed.returncode == 0, fixed.stderr
    again = subprocess.run([*run, "reconcile", "--json", "-c", str(config)], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout)["drift"] == []
    names = sorted(r.record.name for b in c.crm.read_changes("account", None) for r in b.records)
    assert names == [f"Maas Handel {i} B.V." for i in range(3)]
