"""A real Tryton for the whole session: started from the peer template, stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from koppel.connectors.tryton import TrytonConnector, create
from koppel.testing import peers


@pytest.fixture(scope="session")
def tryton() -> Iterator[dict[str, Any]]:
    with peers.running("tryton", f"test-{os.getpid()}") as info:
        assert info["url"].startswith("http://127.0.0.1:")
        erp = create("erp", settings_of(info))  # what `koppel setup` does in Tryton
        erp.provision([r for r in erp.requirements() if not r.present])
        erp.close()
        yield info


def settings_of(info: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"url": info["url"], "database": info["database"], "user": info["user"],
            "password": info["password"], "setup": info["setup"], "lag": 2.0, **extra}


@pytest.fixture
def erp(tryton: dict[str, Any]) -> Iterator[TrytonConnector]:
    connector = create("erp", settings_of(tryton))
    yield connector
    connector.close()
