"""Wires settings into a running engine: the store, one connector per side, the engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from koppel.config.policy import Side
from koppel.config.settings import Settings
from koppel.connectors import registry
from koppel.connectors.base import Connector
from koppel.engine import caps
from koppel.engine.sync import Engine
from koppel.errors import ConfigError
from koppel.store import Store


@dataclass
class Runtime:
    settings: Settings
    store: Store
    connectors: dict[Side, Connector]
    engine: Engine


@contextmanager
def open_runtime(settings: Settings) -> Iterator[Runtime]:
    """Open the store and both connectors; close them (saving state) on the way out."""
    store = Store.open(settings.store.url)
    connectors: dict[Side, Connector] = {}
    try:
        problems: list[str] = []
        for side in ("erp", "crm"):
            system = settings.systems[side]
            try:
                connectors[side] = registry.create(system.connector, side, system.settings)
            except ConfigError as exc:  # both systems' settings are checked before one is reported
                problems += exc.problems
        if problems:
            raise ConfigError(problems, source=str(settings.path))
        caps.install(connectors, settings, store.locks)  # across every worker, on PostgreSQL
        engine = Engine(store, connectors, settings.policy, settings.sync)
        engine.shards = settings.jobs.shards
        yield Runtime(settings, store, connectors, engine)
    finally:
        for connector in connectors.values():
            connector.close()
        store.close()
