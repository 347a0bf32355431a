"""A real BottleCRM for the whole session, started by peers/bottlecrm/peer.py and stopped at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from koppel.connectors.bottlecrm import BottleCrmConnector, create

ROOT = Path(__file__).resolve().parents[2]
PEER = ROOT / "peers" / "bottlecrm" / "peer.py"



@pytest.fixture(scope="session")
def bottlecrm() -> Iterator[dict[str, Any]]:
    """The JSON line `peer.py start` prints: url, token, org_id, setup."""
    name = f"test-{os.getpid()}"
    started = subprocess.run([sys.executable, str(PEER), "start", "--name", name],
                             cwd=ROOT, capture_output=True, text=True, timeout=900)
    if started.returncode == 2:
        pytest.skip(f"BottleCRM cannot run here: {started.stderr.strip()}")
    if started.returncode != 0:
        raise RuntimeError(f"peer.py start failed:\n{started.stderr}")
    info: dict[str, Any] = json.loads(started.stdout.strip().splitlines()[-1])
    assert info["url"].startswith("http://127.0.0.1:")
    crm = connect(info)  # what `koppel setup` does in a CRM: the custom fields
    crm.provision([r for r in crm.requirements() if not r.present])
    crm.close()
    try:
        yield info
    finally:
        subprocess.run([sys.executable, str(PEER), "stop", "--name", name, "--drop"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def connect(info: dict[str, Any], **overrides: Any) -> BottleCrmConnector:
    settings = {"url": info["url"], "token": info["token"], "setup": info["setup"], **overrides}
    return create("crm", settings)


@pytest.fixture
def crm(bottlecrm: dict[str, Any]) -> Iterator[BottleCrmConnector]:
    connector = connect(bottlecrm)
    yield connector
    connector.close()
