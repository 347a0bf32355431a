"""A record read from canonical values is validated only when its model is asked for."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from koppel.connectors.base import RemoteRecord
from koppel.engine import parallel
from koppel.model import Account
from koppel.testing.builders import Pair, customer

VALUES = {"name": "Acme 1 GmbH", "number": "C1", "postcode": "10115"}


class Counting:
    """Counts the validations of `Account` models (Account.load)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        load = Account.load.__func__  # type: ignore[attr-defined]

        def counted(cls: type[Account], values: object) -> Account:
            self.calls += 1
            return load(cls, values)  # type: ignore[no-any-return]

        monkeypatch.setattr(Account, "load", classmethod(counted))


def test_the_model_is_made_once_when_asked_for_and_equals_a_validated_record(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(monkeypatch)
    lazy = RemoteRecord.of("7", Account, Account.model_validate(VALUES).dump(), version="3")
    assert counting.calls == 0
    assert lazy.canonical()["name"] == "Acme 1 GmbH" and counting.calls == 0  # the values serve the engine
    assert lazy.record.dump()["number"] == "C1" and lazy.record is lazy.record and counting.calls == 1
    eager = RemoteRecord("7", Account.model_validate(VALUES), version="3")
    assert lazy == eager and hash(lazy) == hash(eager)
    assert lazy != RemoteRecord("7", Account.model_validate({**VALUES, "name": "Other"}), version="3")


def test_values_that_are_not_a_valid_record_fail_when_the_model_is_asked_for() -> None:
    broken = RemoteRecord.of("7", Account, {"name": "Acme", "no_such_field": 1})
    with pytest.raises(ValidationError):
        broken.record  # noqa: B018 (the property validates)


def test_a_load_builds_no_model_of_what_it_reads(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ERP's customers and the CRM's echoes of koppel's creates are read as values: the only
    models made are the CRM's own checks of the records it is sent."""
    for n in range(1, 6):
        customer(pair, n)
    counting = Counting(monkeypatch)
    report = pair.engine.sync(["account"])
    assert report.total("created") == 5 and report.total("skipped") == 5  # the CRM's echoes, read
    assert counting.calls == 5, "only the memory CRM's validation of each write"
    assert pair.engine.sync(["account"]).writes == 0 and counting.calls == 5


def test_a_fleet_part_unpacks_to_the_records_packed() -> None:
    records = [RemoteRecord(str(i), Account.model_validate({**VALUES, "number": f"C{i}"}), version=str(i))
               for i in range(3)]
    unpacked = parallel.unpack("account", parallel.pack(records))
    assert unpacked == records
    assert [r.record.dump()["number"] for r in unpacked] == ["C0", "C1", "C2"]
