"""Stories of the engine between two in-memory systems under the default policy."""

from __future__ import annotations

import pytest

from koppel.connectors.base import WriteOp
from koppel.engine.executor import Executor
from koppel.store import NewLink
from koppel.testing.builders import Pair, customer, make_pair, policy_with, twin


def test_erp_customers_appear_in_the_crm_with_their_contacts(pair: Pair) -> None:
    account = customer(pair)
    pair.erp.put("contact", {"last_name": "Muster", "email": "m@acme.example", "account": account,
                             "invoice_recipient": True})
    report = pair.engine.sync()
    assert report.status == "ok"
    [crm_account] = pair.crm.ids("account")
    assert pair.crm.get("account", crm_account)["number"] == "C1"
    [crm_contact] = pair.crm.ids("contact")
    contact = pair.crm.get("contact", crm_contact)
    assert contact["account"] == crm_account and contact["invoice_recipient"] is True
    assert pair.engine.sync().writes == 0


def test_an_erp_owned_field_edited_in_the_crm_is_reverted_and_reported(pair: Pair) -> None:
    account = customer(pair)
    pair.engine.sync()
    crm_id = twin(pair.store, account)
    pair.crm.put("account", {"name": "Renamed in CRM", "industry": "retail"}, crm_id)
    report = pair.engine.sync()
    assert report.total("reverted") == 1
    assert pair.crm.get("account", crm_id)["name"] == "Acme 1 GmbH"
    assert pair.crm.get("account", crm_id)["industry"] == "retail"  # CRM-owned, kept
    [violation] = pair.store.findings.violations()
    assert (violation.system, violation.field, violation.attempted) == ("crm", "name", "Renamed in CRM")
    assert violation.restored == "Acme 1 GmbH"


def test_crm_owned_fields_are_never_overwritten_by_the_erp(pair: Pair) -> None:
    account = customer(pair)
    pair.engine.sync()
    crm_id = twin(pair.store, account)
    pair.crm.put("account", {"industry": "retail", "owner": "eva"}, crm_id)
    pair.engine.sync()
    pair.erp.put("account", {"name": "Acme One GmbH", "industry": "mining"}, account)
    pair.engine.sync()
    crm = pair.crm.get("account", crm_id)
    assert (crm["name"], crm["industry"], crm["owner"]) == ("Acme One GmbH", "retail", "eva")


def test_a_shared_field_flows_from_the_crm_to_the_erp(pair: Pair) -> None:
    account = customer(pair)
    pair.engine.sync()
    pair.crm.put("account", {"phone": "+49 30 1"}, twin(pair.store, account))
    pair.engine.sync()
    assert pair.erp.get("account", account)["phone"] == "+49 30 1"


def test_both_sides_changing_a_shared_field_is_a_conflict_until_resolved(pair: Pair) -> None:
    account = customer(pair)
    pair.engine.sync()
    crm_id = twin(pair.store, account)
    pair.erp.put("account", {"phone": "111"}, account)
    pair.crm.put("account", {"phone": "222"}, crm_id)
    report = pair.engine.sync()
    assert report.total("conflicts") == 1
    assert (pair.erp.get("account", account)["phone"], pair.crm.get("account", crm_id)["phone"]) == ("111", "222")
    [conflict] = pair.store.findings.conflicts()
    assert (conflict.erp_value, conflict.crm_value) == ("111", "222")
    assert pair.engine.sync().total("conflicts") == 0  # not reported twice
    pair.engine.resolve_conflict(conflict.id, "crm")
    assert pair.erp.get("account", account)["phone"] == "222"
    assert pair.store.findings.conflicts() == []
    assert pair.engine.sync().writes == 0


def test_a_rejected_record_waits_in_the_error_queue_and_the_run_goes_on(pair: Pair) -> None:
    customer(pair, 1)
    customer(pair, 2, name="Bad Name Ltd")
    pair.crm.rejecters.append(lambda e, v: "name: may not contain 'Bad'" if "Bad" in (v.get("name") or "") else None)
    report = pair.engine.sync(["account"])
    assert report.status == "partial" and report.total("created") == 1
    [error] = pair.store.errors.list()
    assert error.message == "name: may not contain 'Bad'"
    assert (error.source, error.target, error.operation) == ("erp", "crm", "create")
    assert error.payload["name"] == "Bad Name Ltd"
    pair.crm.rejecters.clear()
    retry = pair.engine.retry_errors([error.id])
    assert retry.status == "ok" and retry.total("created") == 1
    assert pair.store.errors.list() == []
    assert len(pair.crm.ids("account")) == 2


def test_transient_failures_are_retried(pair: Pair) -> None:
    customer(pair)
    pair.crm.transient_failures = 2
    report = pair.engine.sync(["account"])
    assert report.status == "ok" and report.total("created") == 1


def test_a_system_that_stays_down_stops_the_run_and_nothing_is_lost(pair: Pair) -> None:
    customer(pair)
    pair.crm.transient_failures = 10
    report = pair.engine.sync(["account"])
    assert report.status == "failed" and "crm still failing" in (report.message or "")
    pair.crm.transient_failures = 0
    assert pair.engine.sync(["account"]).total("created") == 1


def test_a_system_down_at_its_first_read_fails_the_run_once_links_and_cursors_exist(pair: Pair) -> None:
    customer(pair)
    assert pair.engine.sync().status == "ok"
    for side in (pair.erp, pair.crm):
        side.transient_failures = 1000  # nothing answers
        report = pair.engine.sync()
        assert report.status == "failed" and "still failing" in (report.message or ""), report
        assert pair.store.runs.last(1)[0]["status"] == "failed"
        seen = pair.store.runs.systems()[side.name]
        assert not seen["up"] and "still failing" in seen["last_error"] and seen["last_success_at"] < seen["down_since"]
        side.transient_failures = 0
    assert pair.engine.sync().status == "ok"
    assert all(row["up"] for row in pair.store.runs.systems().values())


def test_a_failed_run_shows_both_systems_as_they_are_not_as_they_were(pair: Pair) -> None:
    """A run that stops at the first system it cannot reach never tries the other: that one is
    asked once before the run is closed, so status does not show it up from an older run."""
    customer(pair)
    assert pair.engine.sync().status == "ok"
    pair.erp.transient_failures = 1000  # the ERP stops answering; the CRM still does
    assert pair.engine.sync().status == "failed"
    seen = pair.store.runs.systems()
    assert not seen["erp"]["up"] and seen["crm"]["up"] and seen["crm"]["checked_at"] >= seen["erp"]["down_since"]

    def broken() -> None:
        raise RuntimeError("the check itself broke")

    pair.crm.check = broken  # type: ignore[method-assign]  # a check that fails in an unforeseen way
    assert pair.engine.sync().status == "failed"
    assert pair.store.runs.last(1)[0]["status"] == "failed", "the run is closed all the same"
    seen = pair.store.runs.systems()
    assert not seen["erp"]["up"] and not seen["crm"]["up"], seen
    assert seen["crm"]["last_error"] == "crm cannot be reached: the check itself broke"
    del pair.crm.check
    pair.crm.transient_failures = 1000  # the CRM gone as well: the run stops at it now
    assert pair.engine.sync().status == "failed"
    seen = pair.store.runs.systems()
    assert not seen["erp"]["up"] and not seen["crm"]["up"], seen
    assert "busy" in seen["erp"]["last_error"] and "busy" in seen["crm"]["last_error"], seen
    pair.erp.transient_failures = pair.crm.transient_failures = 0
    assert pair.engine.sync().status == "ok"
    assert all(row["up"] for row in pair.store.runs.systems().values())


def test_a_retry_after_a_crash_between_create_and_link_does_not_duplicate(pair: Pair) -> None:
    account = customer(pair)
    # the previous run created the record in the CRM, then died before recording the link
    pair.crm.put("account", {"name": "Acme 1 GmbH", "number": "C1", "postcode": "10115"})
    report = pair.engine.sync(["account"])
    assert report.total("matched") == 1 and report.total("created") == 0
    assert len(pair.crm.ids("account")) == 1
    assert pair.crm.get("account", twin(pair.store, account))["vat_id"] == "DE000000001"


def test_a_prospect_stays_out_of_the_erp_until_its_coupling_trigger(pair: Pair) -> None:
    prospect = pair.crm.put("account", {"name": "NewCo AG", "status": "prospect"})
    pair.crm.put("contact", {"last_name": "Neu", "account": prospect})
    report = pair.engine.sync()
    assert report.total("held") == 2 and pair.erp.ids("account") == []
    pair.engine.sync_record("crm", "account", prospect, couple=True)
    [erp_account] = pair.erp.ids("account")
    assert pair.erp.get("account", erp_account)["name"] == "NewCo AG"
    pair.engine.sync()  # the contact waited for its account and follows now
    [erp_contact] = pair.erp.ids("contact")
    assert pair.erp.get("contact", erp_contact)["account"] == erp_account
    assert [e for e in pair.store.errors.list("held") if e.entity == "contact"] == []


def test_a_record_the_erp_deletes_disappears_from_the_crm(pair: Pair) -> None:
    product = pair.erp.put("product", {"name": "Widget", "code": "W1"})
    pair.engine.sync()
    pair.erp.remove("product", product)
    assert pair.engine.sync().total("deleted") == 1
    assert pair.crm.ids("product") == []


def test_an_erp_customer_deleted_in_the_crm_is_restored(pair: Pair) -> None:
    account = customer(pair)
    pair.engine.sync()
    pair.crm.remove("account", twin(pair.store, account))
    report = pair.engine.sync(["account"])
    assert report.total("restored") == 1
    assert pair.crm.get("account", twin(pair.store, account))["name"] == "Acme 1 GmbH"
    assert [v.attempted for v in pair.store.findings.violations()] == ["deleted"]


def test_a_crm_created_product_is_reported_not_copied(pair: Pair) -> None:
    pair.crm.put("product", {"name": "Homemade"})
    report = pair.engine.sync(["product"])
    assert pair.erp.ids("product") == [] and report.total("violations") == 1


def test_dry_run_changes_nothing(pair: Pair) -> None:
    customer(pair)
    report = pair.engine.sync(dry_run=True)
    assert any(line.startswith("create account in crm") for line in report.plan)
    assert pair.crm.ids("account") == [] and pair.store.cursors.get("erp", "account") is None
    assert pair.engine.sync().total("created") >= 1


def test_value_maps_translate_between_vocabularies() -> None:
    p = make_pair(policy_with(policy={"account": {"fields": {"payment_term": {"map": "terms"}}}},
                              maps={"terms": {"Net 30 days": "NET_30"}}))
    account = customer(p)
    p.engine.sync()
    crm_id = twin(p.store, account)
    assert p.crm.get("account", crm_id)["payment_term"] == "NET_30"
    assert p.engine.sync().writes == 0  # the mapped value is no change


def test_a_per_record_override_changes_ownership_for_that_record_only() -> None:
    p = make_pair()
    first, second = customer(p, 1), customer(p, 2)
    p.engine.sync()
    twin1, twin2 = twin(p.store, first), twin(p.store, second)
    p.engine.policy = policy_with(overrides=[{"entity": "account", "record": f"crm:{twin1}",
                                              "fields": {"credit_limit": {"owner": "crm"}}}])
    limit = {"amount": "99", "currency": "EUR"}
    p.crm.put("account", {"credit_limit": limit}, twin1)
    p.crm.put("account", {"credit_limit": limit}, twin2)
    p.engine.sync()
    assert p.erp.get("account", first)["credit_limit"] == limit
    assert p.erp.get("account", second)["credit_limit"] is None
    assert p.crm.get("account", twin2)["credit_limit"] is None


def test_on_demand_sync_of_one_record(pair: Pair) -> None:
    account = customer(pair)
    customer(pair, 2)
    report = pair.engine.sync_record("erp", "account", account)
    assert report.status == "ok" and len(pair.crm.ids("account")) == 1


def _sync_until_quiet(pair: Pair, limit: int) -> int:
    for rounds in range(1, limit + 1):
        if pair.engine.sync().writes == 0:
            return rounds
    return limit + 1


def test_echo_suppression_stops_ping_pong() -> None:
    """Without echo suppression every write comes back as a change and is written again."""
    for suppress, expect_quiet in ((True, True), (False, False)):
        p = make_pair(suppress_echo=suppress)
        account = customer(p)
        p.erp.put("contact", {"last_name": "Muster", "account": account})
        rounds = _sync_until_quiet(p, limit=6)
        assert (rounds <= 2) is expect_quiet, f"suppress={suppress} took {rounds} rounds"


def test_writes_carry_only_the_changed_fields(pair: Pair) -> None:
    account = customer(pair)
    pair.engine.sync()
    seen: list[dict[str, object]] = []
    original = pair.crm.write

    def spy(entity: str, ops: list[WriteOp]) -> object:
        seen.extend(dict(op.values) for op in ops)
        return original(entity, ops)

    pair.crm.write = spy  # type: ignore[method-assign]
    pair.erp.put("account", {"name": "Acme Renamed"}, account)
    pair.engine.sync()
    assert seen == [{"name": "Acme Renamed"}]


def test_an_accepted_quote_is_the_first_order_of_a_prospect(pair: Pair) -> None:
    widget = pair.erp.put("product", {"name": "Widget", "code": "W1",
                                      "list_price": {"amount": "10", "currency": "EUR"}})
    pair.engine.sync(["product"])
    crm_widget = pair.store.links.by_ids("product", "erp", [widget])[widget].crm_id
    prospect = pair.crm.put("account", {"name": "NewCo AG", "status": "prospect", "postcode": "1000"})
    line = {"product": crm_widget, "quantity": "5", "unit_price": {"amount": "10", "currency": "EUR"}}
    quote = pair.crm.put("quote", {"number": "Q-1", "account": prospect, "status": "draft", "lines": [line]})
    pair.engine.sync()
    assert pair.erp.ids("account") == [] and pair.erp.ids("quote") == []  # a draft is no order
    pair.crm.put("quote", {"status": "accepted"}, quote)
    plan = pair.engine.sync(dry_run=True).plan  # the plan says what the trigger will do
    assert f"trigger account crm:{prospect}: its first order (quote crm:{quote}) creates it in erp, then the quote" in plan
    report = pair.engine.sync()
    [erp_account] = pair.erp.ids("account")
    [erp_quote] = pair.erp.ids("quote")
    handed = pair.erp.get("quote", erp_quote)
    assert handed["account"] == erp_account and handed["lines"][0]["product"] == widget
    assert report.total("coupled") == 1
    pair.erp.put("quote", {"order_number": "SO-7", "order_status": "confirmed"}, erp_quote)
    pair.engine.sync()
    assert pair.crm.get("quote", quote)["order_number"] == "SO-7"
    pair.crm.put("quote", {"lines": [{**line, "quantity": "50"}]}, quote)  # edited after the handoff
    pair.engine.sync()
    assert pair.erp.get("quote", erp_quote)["lines"][0]["quantity"] == "5"  # never applied
    [flag] = [v for v in pair.store.findings.violations() if v.field == "lines"]
    assert flag.system == "crm" and flag.attempted[0]["quantity"] == "50"
    assert pair.engine.sync().total("violations") == 0  # flagged once


def test_only_complaints_go_to_the_erp_and_their_state_comes_back(pair: Pair) -> None:
    account = customer(pair)
    order = pair.erp.put("order", {"number": "SO1", "account": account, "currency": "EUR"})
    pair.engine.sync()
    crm_id = twin(pair.store, account)
    pair.crm.put("case", {"subject": "How do I log in?", "account": crm_id})
    complaint = pair.crm.put("case", {"subject": "Broken widget", "kind": "complaint", "account": crm_id})
    pair.engine.sync()
    [erp_case] = pair.erp.ids("case")
    assert pair.erp.get("case", erp_case)["subject"] == "Broken widget"
    assert pair.erp.get("case", erp_case)["order"] == order  # the account's one order
    pair.erp.put("case", {"erp_state": "approved", "number": "CMP-1"}, erp_case)
    pair.engine.sync()
    assert pair.crm.get("case", complaint)["erp_state"] == "approved"
    assert pair.crm.get("case", complaint)["number"] == "CMP-1"


def test_an_operator_corrects_the_payload_and_the_retry_writes_it(pair: Pair) -> None:
    customer(pair, 1, name="Acme <invalid> GmbH")
    pair.crm.rejecters.append(lambda e, v: "name: no angle brackets" if "<" in (v.get("name") or "") else None)
    assert pair.engine.sync(["account"]).status == "partial"
    [error] = pair.store.errors.list()
    pair.store.errors.set_payload(error.id, {**error.payload, "name": "Acme GmbH"})
    report = pair.engine.retry_errors([error.id])
    assert report.status == "ok" and report.total("created") == 1
    [crm_account] = pair.crm.ids("account")
    assert pair.crm.get("account", crm_account)["name"] == "Acme GmbH"
    assert pair.store.errors.list() == [] and pair.store.links.counts()["account"] == 1


def test_a_complaint_without_an_order_waits_naming_the_field_to_fill(pair: Pair) -> None:
    account = customer(pair)
    for n in (1, 2):
        pair.erp.put("order", {"number": f"SO{n}", "account": account, "currency": "EUR"})
    pair.engine.sync()
    complaint = pair.crm.put("case", {"subject": "Dented", "kind": "complaint", "account": twin(pair.store, account)})
    pair.engine.sync()
    assert pair.erp.ids("case") == []
    [held] = pair.store.errors.list("held")
    assert held.source_id == complaint and "fill the case's quote" in held.message


def test_a_record_read_with_the_values_its_system_keeps_reaches_the_engine_as_a_copy(pair: Pair) -> None:
    account = customer(pair)
    [record] = pair.erp.read("account", [account])
    assert record.values is not None  # the memory connector hands over the JSON it keeps
    assert record.canonical() == record.record.model_dump(mode="json")
    [change] = pair.engine.translator.records("account", "erp", [record])
    change.values["name"] = "changed by the engine"  # as the engine does with an alias
    assert pair.erp.get("account", account)["name"] == "Acme 1 GmbH"
    assert pair.erp.read("account", [account])[0].canonical()["name"] == "Acme 1 GmbH"


def test_batches_with_nothing_to_do_move_the_cursor_once_and_are_read_again_after_a_stop(pair: Pair) -> None:
    """koppel's own creates read back (echoes) cost no write of the store per batch: the CRM's
    cursor moves once, at the end of the read; a run stopped before reads them again and skips
    them again, and a change among them is not lost."""
    pair.engine.settings.batch_size = 2
    for n in range(1, 7):
        customer(pair, n)
    moved: list[tuple[str, str]] = []
    cursors = pair.store.cursors
    original = cursors.set
    cursors.set = lambda system, entity, value: (moved.append((system, entity)), original(system, entity, value))[1]  # type: ignore[method-assign]
    report = pair.engine.sync(["account"])
    assert report.total("created") == 6 and report.total("skipped") == 6  # the echoes, in 3 batches
    assert moved.count(("erp", "account")) == 3 and moved.count(("crm", "account")) == 1
    assert pair.engine.sync(["account"]).stats["account"]["read"] == 0  # the cursor stands after them
    # a run stopped after its first batch of echoes has not saved where it was: the next one reads
    # them again and skips them again
    cursors.set = original  # type: ignore[method-assign]
    for n in range(7, 11):
        customer(pair, n)

    def stop(entity: str, side: str, count: int) -> None:
        if side == "crm":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pair.engine.sync(["account"], progress=stop)
    report = pair.engine.sync(["account"])
    assert report.stats["account"]["read"] == 4 and report.total("skipped") == 4 and report.writes == 0
    assert len(pair.crm.ids("account")) == 10


@pytest.mark.parametrize("first", ["the same pair", "another record"])
def test_a_merge_another_job_coupled_first_does_not_fail_the_run(pair: Pair, monkeypatch: pytest.MonkeyPatch,
                                                                   first: str) -> None:
    """Two jobs (shards of one load, a load and a sync on demand) can match the same records at once.
    The one that records its coupling second is refused by the links' unique keys: where the
    first coupled the same pair there is nothing left to do; where it coupled the record to
    another one, the record waits in the error queue saying so. Neither fails the run."""
    account = customer(pair)
    existing = pair.crm.put("account", {"name": "Acme 1 GmbH", "number": "C1", "postcode": "10115"})
    other = pair.crm.put("account", {"name": "Other AG", "status": "prospect"})
    theirs = existing if first == "the same pair" else other
    merge = Executor._write_merge

    def racing(self: Executor, *args: object) -> object:  # the other job links while this one merges
        pair.store.links.add("account", [NewLink(account, theirs, {"number": "C1"})])
        return merge(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Executor, "_write_merge", racing)
    report = pair.engine.sync(["account"])
    assert report.status == ("ok" if first == "the same pair" else "partial"), report.message
    assert twin(pair.store, account) == theirs and len(pair.store.links.all("account")) == 1
    queued = [(e.source_id, e.message) for e in pair.store.errors.list()]
    if first == "the same pair":
        assert report.total("matched") == 0 and queued == []
    else:
        assert queued == [(account, f"matched crm:{existing}, but meanwhile erp:{account} is coupled to crm:{other} "
                                    "(by another koppel job); couple the right pair by hand (`koppel match`) "
                                    "or keep them apart")], queued
    assert sorted(pair.crm.ids("account")) == sorted([existing, other])  # nothing created
