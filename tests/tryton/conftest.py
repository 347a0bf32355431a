"""A real Tryton for the whole session: started from the peer template, stopped at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from koppel.connectors.tryton import TrytonConnector, create

ROOT = Path(__file__).resolve().parents[2]


def _peer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "peers/tryton/peer.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="session")
def tryton() -> Iterator[dict[str, Any]]:
    name = f"test-{os.getpid()}"
    started = _peer("start", "--name", name)
    if started.returncode != 0:
        pytest.fail(f"could not start Tryton: {started.stderr[-2000:]}")
    info: dict[str, Any] = json.loads(started.stdout.strip().splitlines()[-1])
    assert info["url"].startswith("http://127.0.0.1:")
    erp = create("erp", settings_of(info))  # what `koppel setup` does in Tryton
    erp.provision([r for r in erp.requirements() if not r.present])
    erp.close()
    try:
        yield info
    finally:
        _peer("stop", "--name", name, "--drop")


def settings_of(info: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"url": info["url"], "database": info["database"], "user": info["user"],
            "password": info["password"], "setup": info["setup"], "lag": 2.0, **extra}


@pytest.fixture
def erp(tryton: dict[str, Any]) -> Iterator[TrytonConnector]:
    connector = create("erp", settings_of(tryton))
    yield connector
    connector.close()
