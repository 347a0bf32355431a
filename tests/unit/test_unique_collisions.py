"""Unique-name collisions: an ERP customer whose name a CRM prospect already holds is created
under a distinguishable name, never merged into the prospect, and the pair is proposed as a
possible duplicate; the copy's other name is no edit of ERP-owned data."""

from __future__ import annotations

from koppel.testing.builders import Pair, customer, make_pair, policy_with, twin


def test_an_erp_customer_whose_name_a_prospect_holds_is_created_under_another_name(pair: Pair) -> None:
    pair.crm.unique = {"account": "name"}
    prospect = pair.crm.put("account", {"name": "ACME 1 gmbh", "vat_id": "DE999999999", "status": "prospect"})
    account = customer(pair)
    report = pair.engine.sync(["account"])
    assert report.status == "ok", report.message
    copy = twin(pair.store, account)
    assert copy != prospect
    stored = pair.crm.get("account", copy)
    assert (stored["name"], stored["number"], stored["vat_id"]) == ("Acme 1 GmbH (C1)", "C1", "DE000000001")
    assert pair.crm.get("account", prospect)["name"] == "ACME 1 gmbh"  # never merged by name
    [proposal] = pair.store.proposals.list("account")
    assert (proposal.erp_id, proposal.crm_id, proposal.copy_id) == (account, prospect, copy)
    assert pair.store.errors.list("open") == []
    again = pair.engine.sync(["account"])  # the copy's name is the alias, not an edit
    assert (again.total("violations"), again.writes) == (0, 0)
    pair.erp.put("account", {"phone": "+49 30 1"}, account)
    assert pair.engine.sync(["account"]).total("errors") == 0
    assert pair.crm.get("account", copy)["phone"] == "+49 30 1"


def test_with_report_the_collision_waits_in_the_error_queue_naming_the_record_in_the_way() -> None:
    pair = make_pair(policy_with(policy={"account": {"on_unique_collision": "report"}}))
    pair.crm.unique = {"account": "name"}
    prospect = pair.crm.put("account", {"name": "Acme 1 GmbH", "status": "prospect"})
    customer(pair)
    assert pair.engine.sync(["account"]).status == "partial"
    [error] = pair.store.errors.list("open")
    assert "already exists" in error.message and prospect in error.message
    assert pair.store.proposals.list("account") == []
    assert len(pair.crm.ids("account")) == 1
