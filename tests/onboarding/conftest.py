"""Onboarding tier: koppel connected to a Tryton and a BottleCRM it did not build.

Both peers come from the vendors' own steps (Tryton: trytond-admin with the modules and a company;
BottleCRM: migrate, an organisation, a user, a token) and hold no field, relation type or complaint
type of koppel's. They are filled with overlapping data through their own APIs before koppel sees
them; koppel gets nothing but their addresses and credentials, as a user's koppel.toml gives.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from koppel.connectors.bottlecrm import BottleCrmConnector
from koppel.connectors.bottlecrm import create as create_crm
from koppel.connectors.tryton import TrytonConnector
from koppel.connectors.tryton import create as create_erp
from koppel.testing import peers
from tests.conftest import real_peers

_names = count(1)


@dataclass
class Bare:
    """Two populated systems koppel has not touched, their own API clients, and a koppel.toml."""

    erp: TrytonConnector
    crm: BottleCrmConnector
    workdir: Path


def _config(erp: dict[str, Any], crm: dict[str, Any], workdir: Path) -> None:
    config, secrets = peers.config_text(erp, crm, workdir, peer_setup=False)
    (workdir / "koppel.toml").write_text(config)
    (workdir / "koppel.secrets.toml").write_text(secrets)


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Bare]:
    with real_peers(f"bare-{os.getpid()}-{next(_names)}") as (erp_info, crm_info):
        _config(erp_info, crm_info, tmp_path)
        erp = create_erp("erp", {"url": erp_info["url"], "database": erp_info["database"],
                                 "user": erp_info["user"], "password": erp_info["password"]})
        crm = create_crm("crm", {"url": crm_info["url"], "token": crm_info["token"]})
        try:
            yield Bare(erp, crm, tmp_path)
        finally:
            erp.close()
            crm.close()
