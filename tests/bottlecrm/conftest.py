"""A real BottleCRM for the whole session, started from the peer template, stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from koppel.connectors.bottlecrm import BottleCrmConnector, create
from koppel.testing import peers


@pytest.fixture(scope="session")
def bottlecrm() -> Iterator[dict[str, Any]]:
    """What `peer.py start` prints: url, token, org_id, setup."""
    try:
        with peers.running("bottlecrm", f"test-{os.getpid()}") as info:
            assert info["url"].startswith("http://127.0.0.1:")
            crm = connect(info)  # what `koppel setup` does in a CRM: the custom fields
            crm.provision([r for r in crm.requirements() if not r.present])
            crm.close()
            yield info
    except peers.PeerUnavailable as exc:
        pytest.skip(str(exc))


def connect(info: dict[str, Any], **overrides: Any) -> BottleCrmConnector:
    settings = {"url": info["url"], "token": info["token"], "setup": info["setup"], **overrides}
    return create("crm", settings)


@pytest.fixture
def crm(bottlecrm: dict[str, Any]) -> Iterator[BottleCrmConnector]:
    connector = connect(bottlecrm)
    yield connector
    connector.close()
