"""Shared fixtures: two in-memory systems coupled through a fresh store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from koppel.testing import peers
from koppel.testing.builders import Pair, make_pair


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = make_pair()
    yield p
    p.store.close()


#: tiers whose every test talks to the real peers (a `pytestmark` in a conftest.py is ignored by
#: pytest, so the marks are given here): `-m "not tryton"` leaves all of them out
PEER_TIERS: dict[str, tuple[str, ...]] = {
    "tryton": ("tryton",), "bottlecrm": ("bottlecrm",), "scenarios": ("tryton", "bottlecrm"),
    "onboarding": ("tryton", "bottlecrm"), "torture": ("tryton", "bottlecrm"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(item.config.rootpath).parts
        for mark in PEER_TIERS.get(parts[1], ()) if len(parts) > 2 and parts[0] == "tests" else ():
            item.add_marker(getattr(pytest.mark, mark))


@contextmanager
def real_peers(name: str, *, backend: str = "sqlite") -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """A fresh Tryton and BottleCRM under `name`, dropped afterwards; the test is skipped where
    they cannot run (no Python 3.12 for BottleCRM)."""
    try:
        with peers.both(name, backend=backend) as both:
            yield both
    except peers.PeerUnavailable as exc:
        pytest.skip(str(exc))
