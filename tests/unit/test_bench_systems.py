"""The systems bench/engine.py measures the engine with must behave as systems do: a generated
record is the validated one, a write is kept and read back, a changed record comes again, a
natural key finds its record, and an engine run couples them with every link consistent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from koppel.config.policy import default_policy_data, load_policy
from koppel.config.settings import SyncSettings
from koppel.connectors.base import WriteOp
from koppel.engine import Engine
from koppel.model import entity_class
from koppel.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from systems import DiskCRM, GeneratedERP, account_values, contact_values


def test_generated_records_are_the_validated_ones_and_changes_come_again() -> None:
    erp = GeneratedERP(50)
    for i in (0, 7, 49):
        assert erp.read("account", [f"A{i}"])[0].record == entity_class("account").model_validate(account_values(i))
        assert erp.read("contact", [f"P{i}"])[0].record == entity_class("contact").model_validate(contact_values(i))
    assert erp.read("account", ["A50", "X1"]) == []
    batches = list(erp.read_changes("account", None, batch_size=20))
    assert [len(b.records) for b in batches] == [20, 20, 10] and batches[-1].cursor == "50"
    erp.put("account", {"name": "Renamed"}, "A3")
    [again] = [b for b in erp.read_changes("account", "50") if b.records]
    assert [(r.id, r.record.name, r.version) for r in again.records] == [("A3", "Renamed", "51")]
    assert erp.find("account", [{"number": "C0000003"}, {"number": "C9999999"}]) == ["A3", None]


def test_the_disk_crm_keeps_validates_and_finds_what_it_is_sent(tmp_path: Path) -> None:
    crm = DiskCRM(tmp_path / "crm.db")
    made = crm.write("account", [WriteOp("a", account_values(1)), WriteOp("b", {"name": None})])
    assert made[0].ok and made[0].version and made[0].stored is not None
    assert not made[1].ok and "name" in str(made[1].error)
    record_id = made[0].id
    assert record_id is not None
    assert crm.get("account", record_id)["number"] == "C0000001"
    assert crm.find("account", [{"number": "C0000001"}, {"name": "Customer 1", "postcode": "10115"},
                                {"email": None}, {"number": "nope"}]) == [record_id, record_id, None, None]
    [changed] = crm.write("account", [WriteOp("u", {"name": "New name"}, record_id)])
    assert changed.ok and int(changed.version or 0) > int(made[0].version or 0)
    feed = [r for b in crm.read_changes("account", None) for r in b.records]
    assert [(r.id, r.record.name) for r in feed] == [(record_id, "New name")]
    crm.close()
    assert DiskCRM(tmp_path / "crm.db").count("account") == 1  # on disk, not in memory


@pytest.mark.parametrize("n", [25])
def test_an_engine_run_between_them_couples_every_record(tmp_path: Path, n: int) -> None:
    erp, crm = GeneratedERP(n), DiskCRM(tmp_path / "crm.db")
    store = Store.open(f"sqlite:///{tmp_path}/store.db")
    engine = Engine(store, {"erp": erp, "crm": crm}, load_policy(default_policy_data()), SyncSettings(batch_size=10))
    report = engine.sync(["account", "contact"])
    assert report.status == "ok" and report.total("created") == 2 * n
    assert report.total("skipped") == 2 * n  # the creates read back from the CRM: known by their stamp
    assert crm.count("account") == n and crm.count("contact") == n
    links = {link.erp_id: link for link in store.links.all("contact")}
    accounts = {link.erp_id: link.crm_id for link in store.links.all("account")}
    for i in range(n):  # each contact in the CRM points at the CRM copy of its account
        assert crm.get("contact", links[f"P{i}"].crm_id)["account"] == accounts[f"A{i}"]
    again = engine.sync(["account", "contact"])
    assert again.status == "ok" and again.writes == 0
    store.close()
