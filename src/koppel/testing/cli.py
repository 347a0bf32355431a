"""Running the `koppel` command as a user or a script would: a subprocess, its output, its exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def koppel(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`koppel ARGS` in `cwd` (which holds koppel.toml), on a wide terminal so tables stay whole."""
    env = {**os.environ, "COLUMNS": "200", "USER": "onboarding"}
    return subprocess.run([sys.executable, "-m", "koppel", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)
