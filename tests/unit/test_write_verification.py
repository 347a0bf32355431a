"""Write verification: a value the target silently dropped is an error for that record, never a
success and never a policy violation; once the target can store it, a retry brings it across."""

from __future__ import annotations

from koppel.engine.verify import differences, same
from koppel.testing.builders import Pair, customer, twin


def test_a_value_the_crm_drops_on_create_is_one_error_naming_the_field_and_no_violation(pair: Pair) -> None:
    pair.crm.dropped = {"account.number", "account.credit_limit"}
    account = customer(pair, credit_limit={"amount": "5000", "currency": "EUR"})
    report = pair.engine.sync(["account"])
    assert report.status == "partial"
    crm_id = twin(pair.store, account)
    assert pair.crm.get("account", crm_id)["name"] == "Acme 1 GmbH"
    [error] = pair.store.errors.list("open")
    assert (error.entity, error.source, error.source_id, error.target) == ("account", "erp", account, "crm")
    assert "number: wrote 'C1', it holds None" in error.message
    assert "credit_limit" in error.message and "name" not in error.message.split("(")[1]
    assert pair.store.findings.violations() == []
    again = pair.engine.sync(["account"])  # the CRM's empty fields are no edit of ERP-owned data
    assert (again.total("violations"), again.total("reverted"), again.writes) == (0, 0, 0)
    assert len(pair.store.errors.list("open")) == 1


def test_a_value_dropped_on_update_keeps_the_rest_of_the_update_and_names_the_field(pair: Pair) -> None:
    account = customer(pair)
    pair.engine.sync(["account"])
    crm_id = twin(pair.store, account)
    pair.crm.dropped = {"account.payment_term"}
    pair.erp.put("account", {"name": "Acme Eins GmbH", "payment_term": "Net 60 days"}, account)
    report = pair.engine.sync(["account"])
    [error] = pair.store.errors.list("open")
    assert error.operation == "update" and "payment_term: wrote 'Net 60 days'" in error.message
    assert pair.crm.get("account", crm_id)["name"] == "Acme Eins GmbH"
    assert report.total("violations") == 0
    assert pair.engine.sync(["account"]).total("violations") == 0  # the name that did land is no edit


def test_once_the_field_exists_a_retry_brings_the_dropped_value_across(pair: Pair) -> None:
    pair.crm.dropped = {"account.number"}
    account = customer(pair)
    pair.engine.sync(["account"])
    [error] = pair.store.errors.list("open")
    pair.crm.dropped = set()  # `koppel setup` created the field
    report = pair.engine.retry_errors([error.id])
    assert report.status == "ok", report.message
    assert pair.crm.get("account", twin(pair.store, account))["number"] == "C1"
    assert pair.store.errors.list("open") == []
    assert pair.engine.sync(["account"]).writes == 0


def test_the_normalisation_every_system_may_apply_is_no_difference() -> None:
    assert same(" Acme ", "Acme") and same("", None) and same("10.50", "10.5")
    assert same({"amount": "5000.00", "currency": "EUR"}, {"amount": "5000", "currency": "EUR"})
    assert not same("Acme", "ACME") and not same("C1", None) and not same("10.5", "10.6")
    [diff] = differences({"name": "A", "number": "C1"}, {"name": "A", "number": None}, ["name", "number"])
    assert diff.field == "number"
    assert [d.field for d in differences({"name": "A"}, None, ["name"])] == ["name"]


def test_a_field_written_empty_is_compared_on_update_and_left_to_the_target_on_create() -> None:
    written, stored = {"name": "A", "phone": None}, {"name": "A", "phone": "+49 30 1"}
    [diff] = differences(written, stored, ["name", "phone"])  # clearing a field must land
    assert (diff.field, diff.wrote, diff.stored) == ("phone", None, "+49 30 1")
    assert differences(written, stored, ["name", "phone"], empty=False) == []  # the target's default
    assert [d.field for d in differences({"name": "A", "phone": None}, None, ["name", "phone"], empty=False)] == ["name"]
