"""The first coupling of two populated systems: proposals with reasons, never a pair whose VAT ids
differ, nothing created for a record while its proposal waits, and coupling by ownership."""

from __future__ import annotations

from koppel.engine import matching
from koppel.testing.builders import Pair, customer, twin


def test_pairs_are_proposed_by_number_vat_email_then_name_and_postcode() -> None:
    erp = {"1": {"number": "C1", "name": "Alpha"}, "2": {"vat_id": "DE 123 456 789", "name": "Beta"},
           "3": {"email": "Info@Gamma.example", "name": "Gamma"},
           "4": {"name": "Délta  GmbH!", "postcode": "10115"}, "5": {"name": "Epsilon", "postcode": "1"}}
    crm = {"a": {"number": "c1", "name": "Alpha AG"}, "b": {"vat_id": "DE123456789", "name": "B"},
           "c": {"email": "info@gamma.example"}, "d": {"name": "délta gmbh", "postcode": "10 115"},
           "e": {"name": "Epsilon"}}
    found = {(c.erp_id, c.crm_id): (c.reason, c.confidence) for c in matching.candidates("account", erp, crm)}
    assert found == {("1", "a"): ("same customer number", 1.0), ("2", "b"): ("same VAT id", 0.95),
                     ("3", "c"): ("same e-mail", 0.8), ("4", "d"): ("same name and postcode", 0.7)}


def test_a_pair_whose_vat_ids_differ_is_never_proposed_and_twins_are_left_to_a_person() -> None:
    erp = {"1": {"name": "Acme", "postcode": "1", "vat_id": "DE1"}, "2": {"email": "x@y.example"}}
    crm = {"a": {"name": "ACME", "postcode": "1", "vat_id": "DE2"},
           "b": {"email": "x@y.example"}, "c": {"email": "X@y.example"}}
    assert matching.candidates("account", erp, crm) == []


def test_a_proposed_record_waits_for_the_decision_then_couples_without_a_duplicate(pair: Pair) -> None:
    account = customer(pair, email="info@acme.example")
    existing = pair.crm.put("account", {"name": "Acme Berlin", "vat_id": "DE000000001", "status": "prospect",
                                        "industry": "retail"})
    [proposal] = matching.propose(pair.engine, ["account"])
    assert (proposal.erp_id, proposal.crm_id, proposal.reason) == (account, existing, "same VAT id")
    waiting = pair.engine.sync(["account"])
    assert waiting.total("created") == 0 and pair.crm.ids("account") == [existing]
    stats = matching.couple(pair.engine, proposal, "tester")
    assert stats["matched"] == 1 and twin(pair.store, account) == existing
    crm = pair.crm.get("account", existing)
    assert (crm["name"], crm["number"], crm["industry"]) == ("Acme 1 GmbH", "C1", "retail")
    report = pair.engine.sync(["account"])
    assert report.status == "ok" and pair.crm.ids("account") == [existing]
    assert pair.store.proposals.list() == [] and pair.store.findings.violations() == []


def test_kept_apart_the_erp_customer_is_created_in_the_crm(pair: Pair) -> None:
    account = customer(pair)
    existing = pair.crm.put("account", {"name": "Someone else", "vat_id": "DE000000001", "status": "prospect"})
    [proposal] = matching.propose(pair.engine, ["account"])
    pair.engine.sync(["account"])
    matching.keep_apart(pair.engine, proposal, "tester")
    assert twin(pair.store, account) != existing
    assert len(pair.crm.ids("account")) == 2


def test_coupling_a_possible_duplicate_from_a_name_collision_drops_the_copy(pair: Pair) -> None:
    pair.crm.unique = {"account": "name"}
    prospect = pair.crm.put("account", {"name": "acme 1 gmbh", "status": "prospect"})
    account = customer(pair)
    pair.engine.sync(["account"])
    [proposal] = pair.store.proposals.list()
    matching.couple(pair.engine, proposal, "tester")
    assert pair.crm.ids("account") == [prospect] and twin(pair.store, account) == prospect
    assert pair.crm.get("account", prospect)["name"] == "Acme 1 GmbH"  # the owner's name restored
    assert pair.engine.sync(["account"]).writes == 0
