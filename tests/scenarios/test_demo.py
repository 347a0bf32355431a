"""`koppel demo`: from nothing to live mode with the real peers in one command; the second start
reuses the demo data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tryton, pytest.mark.bottlecrm]


def koppel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "koppel", *args], capture_output=True, text=True,
                          timeout=1200, check=False)


def test_demo_reaches_live_mode_and_starts_again_on_its_data(tmp_path: Path) -> None:
    name = f"demo-test-{os.getpid()}"
    first = koppel("demo", "--directory", str(tmp_path), "--customers", "12", "--sales", "2",
                   "--cycles", "1", "--name", name)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "live: polling every" in first.stdout and "koppel try accept-quote" in first.stdout
    status = json.loads(koppel("status", "--json", "-c", str(tmp_path / "koppel.toml")).stdout)
    assert status["links"]["account"] == 12 and status["links"]["product"] == 12
    assert status["errors"].get("held", 0) >= 3  # the CRM's prospects wait for their first order
    started = time.monotonic()
    second = koppel("demo", "--directory", str(tmp_path), "--cycles", "1", "--name", name)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "with the demo data" in second.stderr and time.monotonic() - started < 120
    again = json.loads(koppel("status", "--json", "-c", str(tmp_path / "koppel.toml")).stdout)
    assert again["links"] == status["links"]
