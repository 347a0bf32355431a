"""Finds connector factories through the `koppel.connectors` entry-point group.

A third party adds a connector by declaring an entry point; koppel's own are declared the
same way in pyproject.toml. Factories are imported lazily, only when a system uses them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from koppel.connectors.base import Connector
from koppel.errors import ConfigError

Factory = Callable[[str, Mapping[str, Any]], Connector]
GROUP = "koppel.connectors"


def available() -> list[str]:
    """Names of every installed connector."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


def create(kind: str, system: str, settings: Mapping[str, Any]) -> Connector:
    """Build the connector `kind` for `system` ("erp" or "crm") from its settings table."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == kind]
    if not matches:
        raise ConfigError(
            [f"[systems.{system}] connector = {kind!r} is not installed; "
             f"installed: {', '.join(available()) or 'none'}"])
    factory: Factory = matches[0].load()
    try:
        return factory(system, settings)
    except ValidationError as exc:  # never echo the input: it may be a secret
        raise ConfigError([f"[systems.{system}.settings] {'.'.join(map(str, e['loc']))}: {e['msg']}"
                           for e in exc.errors()]) from None
