"""`koppel demo`: from nothing to live mode with the real peers in one command; the second start
reuses the demo data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.tryton, pytest.mark.bottlecrm]


def koppel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "koppel", *args], capture_output=True, text=True,
                          timeout=1200, check=False, env={**os.environ, "COLUMNS": "200"})


def _as_from_a_terminal() -> None:
    """Ctrl-C reaches a command started from a terminal. A test run started in the background of
    a non-interactive shell ignores SIGINT, and its children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_demo_until_live(tmp_path: Path, name: str) -> tuple[str, str]:
    """Start `koppel demo`, wait for live mode, use the workspace it prints, stop it with Ctrl-C."""
    process = subprocess.Popen([sys.executable, "-m", "koppel", "demo", "--directory", str(tmp_path),
                                "--customers", "12", "--sales", "2", "--name", name],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "COLUMNS": "200"}, preexec_fn=_as_from_a_terminal)
    seen: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # wait for live mode: the workspace line comes just before it
            seen.append(line)
            if "live: polling every" in line:
                break
        words = next(line for line in seen if "sign in with the token" in line).split()
        address, token = words[1], words[-1]
        answer = httpx.get(f"{address}api/v1/accounts", headers={"Authorization": f"Bearer {token}"},
                           timeout=60)
        assert answer.status_code == 200 and len(answer.json()) >= 12
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # say where it is stuck: every thread's stack, then stop it
            process.send_signal(signal.SIGUSR1)
            time.sleep(2)
            process.kill()
            rest, _ = process.communicate()
            raise AssertionError("koppel demo did not stop within 120 s of Ctrl-C; its last output and "
                                 f"stacks:\n{''.join(seen)[-1500:]}\n{rest[-6000:]}") from None
    return "".join(seen) + rest, address


def test_demo_reaches_live_mode_and_starts_again_on_its_data(tmp_path: Path) -> None:
    name = f"demo-test-{os.getpid()}"
    output, _ = run_demo_until_live(tmp_path, name)
    assert "koppel try accept-quote" in output and "live: polling every" in output
    assert "stopping Tryton and BottleCRM" in output
    status = json.loads(koppel("status", "--json", "-c", str(tmp_path / "koppel.toml")).stdout)
    assert status["links"]["account"] == 12 and status["links"]["product"] == 12
    assert status["errors"].get("held", 0) >= 3  # the CRM's prospects wait for their first order
    started = time.monotonic()
    second = koppel("demo", "--directory", str(tmp_path), "--cycles", "1", "--name", name)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "with the demo data" in second.stderr and time.monotonic() - started < 120
    again = json.loads(koppel("status", "--json", "-c", str(tmp_path / "koppel.toml")).stdout)
    assert again["links"] == status["links"]
