"""The planner alone: pure decisions per field from snapshot, change, and policy."""

from __future__ import annotations

from typing import Any

from koppel.config.policy import Side
from koppel.engine.planner import Change, Scope, natural_keys, plan_batch, plan_deletes, plan_merge
from koppel.model import Account
from koppel.store import LinkRow
from koppel.testing.builders import policy_with

FIELDS = frozenset(Account.model_fields)


def scope(source: Side, **policy: Any) -> Scope:
    return Scope("account", source, policy_with(**policy), {"erp": FIELDS, "crm": FIELDS},
                 {"erp": FIELDS, "crm": FIELDS})


def link(**snapshot: Any) -> LinkRow:
    return LinkRow(7, "account", "e1", "c1", {"name": "Acme", "phone": "1", "industry": None, **snapshot})


def test_an_unchanged_record_is_skipped() -> None:
    plan = plan_batch(scope("crm"), [Change("c1", {"name": "Acme", "phone": "1"})], {"c1": link()})
    assert plan.updates == [] and plan.skipped == 1 and plan.snapshots == {}


def test_the_owner_change_propagates_and_moves_the_snapshot() -> None:
    plan = plan_batch(scope("erp"), [Change("e1", {"name": "Acme AG", "phone": "1"})], {"e1": link()})
    [update] = plan.updates
    assert (update.target, update.target_id, update.values, update.revert) == ("crm", "c1", {"name": "Acme AG"}, False)
    assert plan.snapshots[7]["name"] == "Acme AG"


def test_a_non_owner_change_is_reverted_with_a_violation() -> None:
    plan = plan_batch(scope("crm"), [Change("c1", {"name": "Hacked", "phone": "1"})], {"c1": link()})
    [update] = plan.updates
    assert (update.target, update.values, update.revert) == ("crm", {"name": "Acme"}, True)
    [violation] = plan.violations
    assert (violation.field, violation.attempted, violation.restored) == ("name", "Hacked", "Acme")
    assert plan.snapshots == {}


def test_a_local_field_is_ignored() -> None:
    plan = plan_batch(scope("crm"), [Change("c1", {"name": "Acme", "phone": "1", "industry": "x"})],
                      {"c1": link()})
    assert plan.updates == [] and plan.violations == []


def test_both_sides_changing_a_shared_field_is_a_conflict() -> None:
    plan = plan_batch(scope("erp"), [Change("e1", {"name": "Acme", "phone": "2"})], {"e1": link()},
                      current={7: {"phone": "3"}})
    [conflict] = plan.conflicts
    assert (conflict.base, conflict.erp_value, conflict.crm_value) == ("1", "2", "3")
    assert plan.updates == []


def test_both_sides_making_the_same_change_only_moves_the_snapshot() -> None:
    plan = plan_batch(scope("erp"), [Change("e1", {"name": "Acme", "phone": "2"})], {"e1": link()},
                      current={7: {"phone": "2"}})
    assert plan.updates == [] and plan.conflicts == [] and plan.snapshots[7]["phone"] == "2"


def test_a_field_with_an_open_conflict_waits() -> None:
    plan = plan_batch(scope("crm"), [Change("c1", {"name": "Acme", "phone": "9"})], {"c1": link()},
                      open_conflicts={(7, "phone")})
    assert plan.updates == []


def test_a_new_record_is_created_with_defaults_and_natural_keys() -> None:
    s = scope("erp", policy={"account": {"fields": {"currency": {"default": "EUR"}}}})
    plan = plan_batch(s, [Change("e2", {"name": "New", "number": "C2", "vat_id": None})], {})
    [create] = plan.creates
    assert create.values["currency"] == "EUR" and create.values["name"] == "New"
    assert "industry" not in create.values  # local to the CRM
    assert create.keys == [{"number": "C2"}]


def test_a_prospect_is_held_until_triggered() -> None:
    s = scope("crm")
    plan = plan_batch(s, [Change("c9", {"name": "NewCo"})], {})
    assert [h.waiting for h in plan.holds] == [False] and plan.creates == []
    s.triggered = {"c9"}
    assert len(plan_batch(s, [Change("c9", {"name": "NewCo"})], {}).creates) == 1


def test_an_uncoupled_reference_waits() -> None:
    plan = plan_batch(scope("erp"), [Change("e3", {"name": "X"}, missing=(("contact", "c9"),))], {})
    assert [h.waiting for h in plan.holds] == [True]


def test_deletes_follow_the_policy() -> None:
    s = scope("crm")
    plan = plan_deletes(s, ["c1", "c-unknown"], {"c1": link()})
    assert plan.deletes == [] and plan.unlinks == [7] and plan.restores == ["e1"]
    s_erp = scope("erp", policy={"account": {"delete": ["erp"]}})
    [delete] = plan_deletes(s_erp, ["e1"], {"e1": link()}).deletes
    assert (delete.target, delete.target_id) == ("crm", "c1")


def test_a_natural_key_match_merges_by_ownership() -> None:
    s = scope("crm", policy={"account": {"coupling_trigger": "always"}})
    [create] = plan_batch(s, [Change("c5", {"name": "CRM Name", "phone": "5", "postcode": "1"})], {}).creates
    to_erp, to_crm, snapshot = plan_merge(s, create, {"name": "ERP Name", "phone": "4", "postcode": "1"})
    assert to_crm["name"] == "ERP Name" and "name" not in to_erp  # the ERP owns the name
    assert to_erp["phone"] == "5"  # shared: the newcomer's value wins
    assert snapshot["name"] == "ERP Name" and snapshot["phone"] == "5"


def test_natural_keys_skip_incomplete_candidates() -> None:
    assert natural_keys(scope("erp"), {"number": None, "vat_id": "DE1", "name": "A", "postcode": ""}) == [
        {"vat_id": "DE1"}]
