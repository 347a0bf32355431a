"""Scenario tests: koppel between a real Tryton and a real BottleCRM, both started fresh per test.

Each test gets its own copies of the peers' template databases (a few seconds each) and its
own koppel store, so every story starts from the same clean state.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from koppel.config.policy import Policy, default_policy_data, load_policy, merge
from koppel.config.settings import SyncSettings
from koppel.connectors.bottlecrm import BottleCrmConnector
from koppel.connectors.bottlecrm import create as create_crm
from koppel.connectors.tryton import TrytonConnector
from koppel.connectors.tryton import create as create_erp
from koppel.engine import Engine, provisioning
from koppel.store import Store
from koppel.testing import peers
from tests.conftest import real_peers

_names = count(1)


@dataclass
class Coupled:
    """Both real systems, koppel between them, and the peers' own descriptions."""

    erp: TrytonConnector
    crm: BottleCrmConnector
    store: Store
    engine: Engine
    erp_info: dict[str, Any]
    crm_info: dict[str, Any]
    workdir: Path

    def settings(self) -> dict[str, dict[str, Any]]:
        return {"erp": erp_settings(self.erp_info), "crm": crm_settings(self.crm_info)}


def erp_settings(info: dict[str, Any]) -> dict[str, Any]:
    return {"url": info["url"], "database": info["database"], "user": info["user"],
            "password": info["password"], "setup": info["setup"], "lag": 2.0}


def crm_settings(info: dict[str, Any]) -> dict[str, Any]:
    return {"url": info["url"], "token": info["token"], "setup": info["setup"], "lag": 2.0}


def policy(**tables: Any) -> Policy:
    return load_policy(merge(default_policy_data(), tables))


@pytest.fixture
def coupled(tmp_path: Path) -> Iterator[Coupled]:
    with real_peers(f"scn-{os.getpid()}-{next(_names)}") as (erp_info, crm_info):
        yield from _coupled(erp_info, crm_info, tmp_path)


def _coupled(erp_info: dict[str, Any], crm_info: dict[str, Any], tmp_path: Path) -> Iterator[Coupled]:
    erp, crm = create_erp("erp", erp_settings(erp_info)), create_crm("crm", crm_settings(crm_info))
    store = Store.open(f"sqlite:///{tmp_path}/koppel.db")
    engine = Engine(store, {"erp": erp, "crm": crm}, policy(),
                    SyncSettings(retry_base_delay=0.2, retry_attempts=3, batch_size=100))
    provisioning.setup(engine.connectors, engine.policy, engine.entities())  # `koppel setup`
    try:
        yield Coupled(erp, crm, store, engine, erp_info, crm_info, tmp_path)
    finally:
        erp.close()
        crm.close()
        store.close()


def write_config(c: Coupled, *, poll_interval: float = 1.0, batch_size: int = 50) -> Path:
    """A koppel.toml for these peers, secrets in koppel.secrets.toml beside it."""
    config, secrets = peers.config_text(c.erp_info, c.crm_info, c.workdir, poll_interval=poll_interval,
                                        batch_size=batch_size)
    (c.workdir / "koppel.secrets.toml").write_text(secrets)
    path = c.workdir / "koppel.toml"
    path.write_text(config.replace("koppel.db", "koppel-run.db"))
    return path
