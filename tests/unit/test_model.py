"""The canonical model's quick paths give what pydantic's own calls give."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from koppel.model import entity_class

ACCOUNT = {"name": "Acme GmbH", "number": "C1", "billing_address": {"street": "Main St 1", "city": "Berlin",
                                                                    "postcode": "10115", "country": "DE"},
           "credit_limit": {"amount": "5000.00", "currency": "EUR"}, "status": "customer"}


def test_load_and_dump_are_model_validate_and_model_dump() -> None:
    cls = entity_class("account")
    record = cls.load(ACCOUNT)
    assert record == cls.model_validate(ACCOUNT)
    assert record.dump() == record.model_dump(mode="json")
    assert record.dump()["credit_limit"] == {"amount": "5000", "currency": "EUR"}  # normalised money


def test_load_refuses_what_model_validate_refuses() -> None:
    with pytest.raises(ValidationError, match="status"):
        entity_class("account").load({**ACCOUNT, "status": "friend"})
    with pytest.raises(ValidationError, match="colour"):
        entity_class("account").load({**ACCOUNT, "colour": "red"})
