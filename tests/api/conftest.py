"""The API over two in-memory systems and a real SQLite store, with one token per role."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from koppel.api.app import create_app
from koppel.config import load_settings
from koppel.config.settings import Settings
from koppel.engine.runtime import Runtime
from koppel.testing.builders import Pair, make_pair

with warnings.catch_warnings():  # starlette asks for httpx2, which is not among our pins
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CONFIG = """
[store]
url = "sqlite:///koppel.db"
[systems.erp]
connector = "memory"
[systems.crm]
connector = "memory"
"""


@dataclass
class Api:
    client: TestClient
    pair: Pair
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def get(self, path: str, role: str | None = "viewer", **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(role), **kw)

    def post(self, path: str, role: str | None = "operator", **kw: Any) -> Any:
        return self.client.post(path, headers=self.headers(role), **kw)

    def patch(self, path: str, role: str | None = "operator", **kw: Any) -> Any:
        return self.client.patch(path, headers=self.headers(role), **kw)

    def audit(self) -> list[dict[str, Any]]:
        return self.pair.store.audit.entries()






@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_in(tmp_path)


def opener_for(pair: Pair) -> Callable[[Settings], AbstractContextManager[Runtime]]:
    """The app's runtime over two in-memory systems (instead of opening real connectors)."""

    @contextmanager
    def opener(s: Settings) -> Iterator[Runtime]:
        try:
            yield Runtime(s, pair.store, {"erp": pair.erp, "crm": pair.crm}, pair.engine)
        finally:
            pair.store.close()

    return opener


@contextmanager
def open_api(settings: Settings) -> Iterator[Api]:
    """The API over a fresh pair of in-memory systems, with a viewer, an operator and an admin."""
    pair = make_pair(url=settings.store.url)
    with TestClient(create_app(settings, opener=opener_for(pair))) as client:
        found = Api(client, pair)
        for role in ("viewer", "operator", "admin"):
            pair.store.users.add(role, role)
            found.tokens[role] = pair.store.tokens.create(role, "tests")[1]
        yield found


def settings_in(folder: Path) -> Settings:
    (folder / "koppel.toml").write_text(CONFIG)
    return load_settings(folder / "koppel.toml", env={})


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with open_api(settings) as found:
        yield found
