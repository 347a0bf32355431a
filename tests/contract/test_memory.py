"""The memory connector passes the connector contract suite."""

from __future__ import annotations

from typing import Any

import pytest

from koppel.connectors.base import Connector, WriteOp
from koppel.connectors.memory import MemoryConnector
from koppel.testing.contract import ConnectorContract


class TestMemoryConnector(ConnectorContract):
    entities = ("account", "contact", "product")
    mutable_field = {"account": "name", "contact": "last_name", "product": "name"}

    @pytest.fixture
    def connector(self) -> MemoryConnector:
        memory = MemoryConnector("erp")
        memory.rejecters.append(lambda entity, values: "name must not be empty"
                                if entity == "account" and values.get("name") == "" else None)
        return memory

    def make(self, connector: Connector, entity: str, n: int) -> dict[str, Any]:
        if entity == "account":
            return {"name": f"Account {n}", "number": f"C{n}", "postcode": "10115"}
        if entity == "product":
            return {"name": f"Widget {n}", "code": f"P{n}",
                    "list_price": {"amount": "9.5", "currency": "EUR"}}
        [account] = connector.write("account", [WriteOp("a", self.make(connector, "account", n))])
        return {"last_name": f"Person {n}", "email": f"p{n}@example.com", "account": account.id}

    def invalid(self, connector: Connector, entity: str) -> dict[str, Any] | None:
        return {"name": ""} if entity == "account" else {"last_name": None}
