"""Browser tests: the workspace served by uvicorn on 127.0.0.1 over a real Tryton and a real
BottleCRM, driven by Debian's Chromium through Playwright. One set of peers per module: the
stories use records of their own, so they share the systems but not their data.

Screenshots of every page land in artifacts/screenshots/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from koppel.config import load_settings
from koppel.config.settings import SyncSettings
from koppel.connectors.bottlecrm import BottleCrmConnector
from koppel.connectors.bottlecrm import create as create_crm
from koppel.connectors.tryton import TrytonConnector
from koppel.connectors.tryton import create as create_erp
from koppel.engine import Engine, provisioning
from koppel.store import Store
from koppel.testing import peers
from tests.conftest import real_peers
from tests.scenarios.conftest import crm_settings, erp_settings, policy

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@dataclass
class Site:
    """The running workspace, the systems behind it, and a token per role."""

    url: str
    erp: TrytonConnector
    crm: BottleCrmConnector
    store: Store
    engine: Engine
    tokens: dict[str, str]




def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's Chromium (`apt-get install chromium`)")
    workdir = tmp_path_factory.mktemp("workspace")
    with real_peers(f"web-{os.getpid()}-{workdir.name}") as (erp_info, crm_info):
        yield from _site(erp_info, crm_info, workdir)


def _site(erp_info: dict[str, Any], crm_info: dict[str, Any], workdir: Path) -> Iterator[Site]:
    erp, crm = create_erp("erp", erp_settings(erp_info)), create_crm("crm", crm_settings(crm_info))
    config, secrets = peers.config_text(erp_info, crm_info, workdir, poll_interval=1.0, batch_size=50)
    (workdir / "koppel.secrets.toml").write_text(secrets)
    (workdir / "koppel.toml").write_text(config)
    settings = load_settings(workdir / "koppel.toml", env={})
    store = Store.open(settings.store.url)  # the same store file the workspace opens
    engine = Engine(store, {"erp": erp, "crm": crm}, policy(),
                    SyncSettings(retry_base_delay=0.2, retry_attempts=3, batch_size=100))
    provisioning.setup(engine.connectors, engine.policy, engine.entities())  # `koppel setup`
    tokens = {}
    for user, role in (("vera", "viewer"), ("otto", "operator")):
        store.users.add(user, role)
        tokens[role] = store.tokens.create(user, "browser tests")[1]
    try:
        with serve(settings) as url:
            yield Site(url, erp, crm, store, engine, tokens)
    finally:
        erp.close()
        crm.close()
        store.close()


class serve:  # noqa: N801 - used as a context manager
    """uvicorn serving the workspace in a thread on a free port of 127.0.0.1."""

    def __init__(self, settings: Any) -> None:
        import uvicorn

        from koppel.web.app import create_workspace

        self.port = free_port()
        config = uvicorn.Config(create_workspace(settings), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        started = time.monotonic()
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() - started > 60:
                raise RuntimeError("the workspace did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(base_url=site.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(60_000)
    found = context.new_page()
    try:
        yield found
    finally:
        context.close()


def sign_in(page: Any, site: Site, role: str = "operator", then: str = "/accounts") -> None:
    page.goto(f"/signin?next={then}")
    page.fill("#token", site.tokens[role])
    page.click("button[type=submit]")
    page.wait_for_url(f"**{then}")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
