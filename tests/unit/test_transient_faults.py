"""Transient faults: a system's `Retry-After` is honoured by the backoff; an answer cut short is a
transient failure, retried, never half-used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from koppel.connectors._http import parse_body, retry_after
from koppel.connectors.base import WriteOp, WriteOutcome
from koppel.errors import TransientError
from koppel.testing.builders import Pair, customer


def test_the_backoff_waits_at_least_as_long_as_the_system_asked(pair: Pair) -> None:
    waits: list[float] = []
    pair.engine.sleep = waits.append
    customer(pair)
    pair.crm.transient_failures, pair.crm.retry_after = 2, 7.0
    report = pair.engine.sync(["account"])
    assert report.status == "ok" and report.total("created") == 1
    assert len(waits) == 2 and all(w >= 7.0 for w in waits), waits


def test_a_system_down_asking_for_patience_still_fails_the_run_after_its_attempts(pair: Pair) -> None:
    waits: list[float] = []
    pair.engine.sleep = waits.append
    customer(pair)
    pair.crm.transient_failures, pair.crm.retry_after = 1000, 30.0
    report = pair.engine.sync(["account"])
    assert report.status == "failed" and len(waits) == pair.engine.settings.retry_attempts - 1


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after({"Retry-After": "120"}) == 120.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 80 <= (retry_after({"Retry-After": later}) or 0) <= 91
    assert retry_after({}) is None and retry_after({"Retry-After": "soon"}) is None


def test_an_answer_cut_short_is_transient() -> None:
    assert parse_body(b'{"result": [1, 2]}', system="erp", what="read") == {"result": [1, 2]}
    with pytest.raises(TransientError, match="cut short"):
        parse_body(b'{"result": [1, 2', system="erp", what="read")


def test_a_create_whose_answer_was_lost_is_not_made_twice(pair: Pair) -> None:
    for n in (1, 2, 3):
        customer(pair, n)
    pair.crm.lost_answers = 1  # the CRM made the three, the answer never came back
    report = pair.engine.sync(["account"])
    assert report.status == "ok", report.message
    assert len(pair.crm.ids("account")) == 3
    assert pair.store.links.counts()["account"] == 3 and report.total("matched") == 3


def test_a_system_found_down_is_probed_once_by_the_next_run_not_hammered(pair: Pair) -> None:
    customer(pair)
    assert pair.engine.sync().status == "ok"
    pair.crm.transient_failures = 1000
    assert pair.engine.sync().status == "failed"  # retries with backoff, then gives up
    before = dict(pair.crm.calls)
    again = pair.engine.sync()
    assert again.status == "failed" and "crm is still down" in (again.message or "")
    spent = {k: pair.crm.calls.get(k, 0) - before.get(k, 0) for k in pair.crm.calls}
    assert spent == {**dict.fromkeys(pair.crm.calls, 0), "check": 1}, spent  # one probe, nothing else
    pair.crm.transient_failures = 0
    assert pair.engine.sync().status == "ok" and not pair.engine.down


def test_a_create_without_natural_key_whose_answer_was_lost_is_found_by_its_reference(pair: Pair) -> None:
    """An activity has no natural key: the target keeps koppel's key of the source instead."""
    made = [pair.crm.put("activity", {"subject": f"Call back {n}", "kind": "call"}) for n in (1, 2)]
    pair.erp.lost_answers = 1  # the ERP made both, the answer never came back
    report = pair.engine.sync(["activity"])
    assert report.status == "ok", report.message
    assert sorted(v["subject"] for v in (pair.erp.get("activity", i) for i in pair.erp.ids("activity"))) == [
        "Call back 1", "Call back 2"]
    assert sorted(pair.erp.refs["activity"]) == sorted(f"crm:{i}" for i in made)
    assert pair.store.links.counts()["activity"] == 2 and report.total("matched") == 2


def test_a_run_stopped_by_ctrl_c_or_a_stop_signal_is_recorded_as_interrupted(pair: Pair) -> None:
    customer(pair)

    def stopped(*_args: object) -> None:
        raise KeyboardInterrupt

    pair.crm.write = stopped  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        pair.engine.sync(["account"])
    [run] = pair.store.runs.last(1)
    assert (run["status"], run["message"]) == ("failed", "interrupted (Ctrl-C or a stop signal)")
    assert run["finished_at"] is not None


def test_an_update_a_system_failed_to_take_for_a_passing_reason_closes_its_entry_once_through(pair: Pair) -> None:
    """The entry of an update that timed out is tried again by the next run; once the update went
    through, the queue says so (no open entry is left to be retried for ever)."""
    pair.engine.sleep = lambda _: None
    account = customer(pair)
    assert pair.engine.sync(["account"]).status == "ok"
    pair.erp.put("account", {"name": "Acme Renamed GmbH"}, account)
    write = pair.crm.write

    def timing_out(entity: str, ops: list[WriteOp]) -> list[WriteOutcome]:  # each try of an update
        return [WriteOutcome(op.key, op.id, TransientError("timed out", system="crm")) for op in ops]

    pair.crm.write = timing_out  # type: ignore[method-assign]
    first = pair.engine.sync(["account"])
    pair.crm.write = write  # type: ignore[method-assign]
    [entry] = pair.store.errors.list("open")
    assert (entry.operation, entry.error_class, first.status) == ("update", "transient", "partial")
    second = pair.engine.sync(["account"])
    crm_id = pair.store.links.by_ids("account", "erp", [account])[account].crm_id
    assert pair.crm.get("account", crm_id)["name"] == "Acme Renamed GmbH"  # by value, in the CRM
    assert second.status == "ok" and pair.store.errors.list("open") == []
    assert pair.store.errors.get(entry.id).status == "resolved"
    writes = pair.crm.calls["write"]
    third = pair.engine.sync(["account"])
    assert pair.crm.calls["write"] == writes and third.total("updated") == 0
