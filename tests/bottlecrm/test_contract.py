"""The BottleCRM connector passes the connector contract suite against a real server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from koppel.connectors.base import Connector, WriteOp
from koppel.connectors.bottlecrm import BottleCrmConnector
from koppel.model import DocumentLine
from koppel.testing.contract import ConnectorContract
from tests.bottlecrm.conftest import connect

pytestmark = pytest.mark.bottlecrm


def new_account(connector: Connector, n: int) -> str:
    [outcome] = connector.write("account", [WriteOp("a", {"name": f"Owner {n} GmbH"})])
    assert outcome.ok and outcome.id, outcome.error
    return outcome.id


def new_contact(connector: Connector, n: int, account: str) -> str:
    [outcome] = connector.write("contact", [WriteOp("c", {
        "first_name": "Bo", "last_name": f"Buyer {n}", "email": f"buyer{n}@example.com", "account": account})])
    assert outcome.ok and outcome.id, outcome.error
    return outcome.id


class TestBottleCrmConnector(ConnectorContract):
    entities = ("account", "contact", "product", "quote")
    mutable_field = {"account": "name", "contact": "last_name", "product": "name", "quote": "title"}

    @pytest.fixture
    def connector(self, bottlecrm: dict[str, Any]) -> Iterator[BottleCrmConnector]:
        connector = connect(bottlecrm)
        yield connector
        connector.close()

    def make(self, connector: Connector, entity: str, n: int) -> dict[str, Any]:
        if entity == "account":
            return {"name": f"Account {n} GmbH", "number": f"C{n}", "postcode": "10115",
                    "vat_id": f"DE{n}", "currency": "EUR",
                    "credit_limit": {"amount": "5000.5", "currency": "EUR"}}
        if entity == "product":
            return {"name": f"Widget {n}", "code": f"P{n}",
                    "list_price": {"amount": "9.5", "currency": "EUR"}}
        account = new_account(connector, n)
        if entity == "contact":
            return {"last_name": f"Person {n}", "first_name": "Eva", "email": f"p{n}@example.com",
                    "account": account, "invoice_recipient": True}
        contact = new_contact(connector, n, account)
        return {"title": f"Quote {n}", "account": account, "contact": contact, "currency": "EUR",
                "valid_until": "2030-12-31", "order_number": f"SO-{n}",
                "lines": [{"description": "Widget", "quantity": "5",
                           "unit_price": {"amount": "50.5", "currency": "EUR"}, "discount": "10"}]}

    def comparable(self, entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
        if entity != "quote":
            return dict(values)
        lines = [DocumentLine.model_validate(li).model_dump(mode="json") for li in values["lines"]]
        return {**values, "lines": lines}

    def invalid(self, connector: Connector, entity: str) -> dict[str, Any] | None:
        return {
            "account": {"name": "", "email": "not-an-email"},
            "contact": {"last_name": "X", "email": "not-an-email"},
            "product": {"name": "", "code": "no-name"},
            "quote": {"title": "No account or contact"},
        }[entity]
