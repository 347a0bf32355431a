"""Starts and stops the real peer systems (Tryton, BottleCRM) through the scripts in peers/.

Used by the scenario tests and by `koppel demo`. The scripts install each peer into its own
venv, keep a template database, and print one JSON line describing the running server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from koppel.errors import KoppelError

KINDS = ("tryton", "bottlecrm")


class PeerUnavailable(KoppelError):
    """A peer cannot run on this machine (for example no Python 3.12 for BottleCRM)."""


def peers_dir() -> Path:
    """peers/ of the checkout koppel runs from (or $KOPPEL_PEERS)."""
    if "KOPPEL_PEERS" in os.environ:
        return Path(os.environ["KOPPEL_PEERS"])
    for base in (Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents):
        if (base / "peers" / "tryton" / "peer.py").exists():
            return base / "peers"
    raise PeerUnavailable("peers/ not found", hint="run koppel from its source checkout or set KOPPEL_PEERS")


def _script(kind: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"unknown peer {kind!r}")
    return peers_dir() / kind / "peer.py"


def start(kind: str, name: str, *, backend: str = "sqlite", timeout: float = 1200,
          quiet: bool = True, keep: bool = False) -> dict[str, Any]:
    """Start a fresh instance (installing and building its template the first time);
    with `keep`, start the instance's existing database again if it has one."""
    args = ["start", "--name", name, "--backend", backend] + (["--keep"] if keep else [])
    result = subprocess.run([sys.executable, str(_script(kind)), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE if quiet else None,
                            text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        tail = (result.stderr or "").strip().splitlines()[-15:]
        error = PeerUnavailable if result.returncode == 2 else KoppelError
        raise error(f"{kind} did not start: " + "\n".join(tail),
                    hint=f"run `python3 peers/{kind}/peer.py start --name {name}` to see why")
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("{")][-1]
    info: dict[str, Any] = json.loads(line)
    return info


@contextmanager
def running(kind: str, name: str, **start_options: Any) -> Iterator[dict[str, Any]]:
    """A fresh instance of one peer under `name`, stopped and dropped on the way out: the one way
    tests, benchmarks and the demo's checks start a peer."""
    info = start(kind, name, **start_options)
    try:
        yield info
    finally:
        stop(kind, name, drop=True)


@contextmanager
def both(name: str, *, backend: str = "sqlite") -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """A fresh Tryton and BottleCRM under `name` (their databases on `backend`), stopped and
    dropped on the way out."""
    with running("tryton", name, backend=backend) as erp, running("bottlecrm", name, backend=backend) as crm:
        yield erp, crm


def stop(kind: str, name: str, *, drop: bool = False) -> None:
    args = [sys.executable, str(_script(kind)), "stop", "--name", name] + (["--drop"] if drop else [])
    subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def config_text(erp: dict[str, Any], crm: dict[str, Any], workdir: Path, *, poll_interval: float = 2.0,
                batch_size: int = 100, peer_setup: bool = True) -> tuple[str, str]:
    """koppel.toml and koppel.secrets.toml for a running Tryton and BottleCRM (from `start`).

    With `peer_setup`, the connectors also get the peer scripts' description of what they built
    (defaults such as the product category); without it, only what any user's koppel.toml holds."""
    erp_setup = crm_setup = ""
    if peer_setup:
        (workdir / "erp-setup.json").write_text(json.dumps(erp["setup"]))
        (workdir / "crm-setup.json").write_text(json.dumps(crm["setup"]))
        erp_setup, crm_setup = (f'setup = "{workdir / "erp-setup.json"}"\n',
                                f'setup = "{workdir / "crm-setup.json"}"\n')
    # Tryton on SQLite writes one transaction at a time: one writer across all of koppel's workers
    erp_cap = "max_parallel = 1\n" if erp.get("backend", "sqlite") == "sqlite" else ""
    config = f"""# written by koppel for the peers started in {workdir}
[store]
url = "sqlite:///{workdir / 'koppel.db'}"

[sync]
poll_interval = {poll_interval}
batch_size = {batch_size}

[systems.erp]
connector = "tryton"
{erp_cap}[systems.erp.settings]
url = "{erp['url']}"
database = "{erp['database']}"
user = "{erp['user']}"
{erp_setup}
[systems.crm]
connector = "bottlecrm"
[systems.crm.settings]
url = "{crm['url']}"
{crm_setup}"""
    secrets = (f'[systems.erp.settings]\npassword = "{erp["password"]}"\n\n'
               f'[systems.crm.settings]\ntoken = "{crm["token"]}"\n')
    return config, secrets
