"""Shared fixtures: two in-memory systems coupled through a fresh store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from koppel.config.policy import Policy, default_policy_data, load_policy, merge
from koppel.config.settings import SyncSettings
from koppel.connectors.memory import MemoryConnector
from koppel.engine import Engine
from koppel.store import Store


@dataclass
class Pair:
    erp: MemoryConnector
    crm: MemoryConnector
    store: Store
    engine: Engine


def policy_with(**tables: dict[str, object]) -> Policy:
    return load_policy(merge(default_policy_data(), dict(tables)))


def make_pair(policy: Policy | None = None, *, suppress_echo: bool = True,
              url: str = "sqlite://") -> Pair:
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm")
    store = Store.open(url)
    settings = SyncSettings(retry_base_delay=0, retry_attempts=3, batch_size=50)
    engine = Engine(store, {"erp": erp, "crm": crm}, policy or policy_with(),
                    settings, suppress_echo=suppress_echo)
    return Pair(erp, crm, store, engine)


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = make_pair()
    yield p
    p.store.close()
