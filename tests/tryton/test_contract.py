"""The Tryton connector passes the connector contract suite against a real Tryton 8.2."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from koppel.connectors.base import Connector, WriteOp
from koppel.connectors.tryton import TrytonConnector
from koppel.testing.contract import ConnectorContract

pytestmark = pytest.mark.tryton


class TestTrytonConnector(ConnectorContract):
    entities = ("account", "contact", "product", "order")
    mutable_field = {"account": "name", "contact": "last_name", "product": "name",
                     "order": "reference"}

    @pytest.fixture
    def connector(self, erp: TrytonConnector) -> TrytonConnector:
        return erp

    def make(self, connector: Connector, entity: str, n: int) -> dict[str, Any]:
        if entity == "account":
            return {"name": f"Account {n}", "number": f"C{n}", "postcode": "10115",
                    "email": f"info{n}@example.com", "payment_term": "Net 30 days",
                    "billing_address": {"street": f"Hauptstr. {n % 100}", "postcode": "10115",
                                        "city": "Berlin", "country": "DE"}}
        if entity == "product":
            return {"name": f"Widget {n}", "code": f"P{n}", "unit": "u",
                    "list_price": {"amount": "9.5", "currency": "EUR"},
                    "cost_price": {"amount": "4.25", "currency": "EUR"}}
        [account] = connector.write("account", [WriteOp("a", self.make(connector, "account", n))])
        if entity == "order":
            [product] = connector.write("product", [WriteOp("p", self.make(connector, "product", n))])
            line = {"product": product.id, "description": f"Line {n}", "quantity": "2",
                    "unit_price": {"amount": "9.5", "currency": "EUR"}, "discount": None}
            return {"account": account.id, "reference": f"Q-{n}", "currency": "EUR",
                    "payment_term": "Net 14 days", "order_date": "2026-01-15", "lines": [line]}
        return {"first_name": "Anna", "last_name": f"Person {n}", "email": f"p{n}@example.com",
                "phone": "+49 30 555", "account": account.id, "invoice_recipient": True}

    def invalid(self, connector: Connector, entity: str) -> dict[str, Any] | None:
        if entity == "account":
            return {"name": "Bad VAT", "vat_id": "DE000"}
        if entity == "product":
            return {"name": "Bad unit", "code": f"X{self.unique()}", "unit": "parsec"}
        if entity == "order":
            return {"reference": "no price", "lines": [{"description": "free text", "quantity": "1"}]}
        return {"last_name": "Nobody's"}  # no account: not a contact person in Tryton

    def comparable(self, entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if not (entity == "account" and k == "billing_address")}
