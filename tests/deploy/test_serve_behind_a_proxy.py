"""`koppel serve` behind a reverse proxy (`--root-path`, forwarded headers) and `koppel migrate`,
the two commands a deployment leans on."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from koppel.cli import serve as serve_module
from koppel.cli.app import app
from koppel.config import load_settings
from koppel.testing.postgres import fresh_database


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "koppel.toml"
    assert CliRunner().invoke(app, ["init", "-c", str(path)]).exit_code == 0
    path.write_text(path.read_text().replace("seed_accounts = 200", "seed_accounts = 5"))
    return path


def serve_options(config: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, Any]:
    """What `koppel serve ARGS` hands to uvicorn.run (which is not started)."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options, app=app))
    result = CliRunner().invoke(app, ["serve", "-c", str(config), *args])
    assert result.exit_code == 0, result.output
    return seen


def test_serve_passes_the_root_path_and_the_trusted_proxies_to_uvicorn(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = serve_options(config, monkeypatch)
    assert default["root_path"] == "" and default["proxy_headers"] is True
    assert default["forwarded_allow_ips"] == "127.0.0.1,::1"  # only a proxy on this machine by default
    chosen = serve_options(config, monkeypatch, "--host", "0.0.0.0", "--root-path", "koppel/",
                           "--forwarded-allow-ips", "10.0.0.5")
    assert (chosen["host"], chosen["root_path"], chosen["forwarded_allow_ips"]) == ("0.0.0.0", "/koppel", "10.0.0.5")
    monkeypatch.setenv("KOPPEL_ROOT_PATH", "/crm-erp")
    assert serve_options(config, monkeypatch)["root_path"] == "/crm-erp"


@pytest.mark.parametrize(("given", "root"), [("", ""), ("/", ""), ("koppel", "/koppel"),
                                             ("/koppel/", "/koppel"), ("/a/b", "/a/b")])
def test_root_paths_are_written_one_way(given: str, root: str) -> None:
    assert serve_module.normal_root_path(given) == root


@pytest.fixture
def served(config: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The workspace on a free port with the options `koppel serve --root-path /koppel` gives uvicorn,
    as seen by a proxy on this machine."""
    options = serve_options(config, monkeypatch, "--root-path", "/koppel")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options.update(port=port, log_level="warning")
    server = uvicorn.Server(uvicorn.Config(options.pop("app"), **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def test_behind_the_proxy_urls_carry_the_root_path_and_the_forwarded_scheme(served: str) -> None:
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7", "Host": "koppel.example.com"}
    # the proxy strips /koppel: koppel answers its own paths, and /health needs no token
    health = httpx.get(f"{served}/health", headers=proxied, timeout=30)
    assert health.status_code in (200, 503) and "ok" in health.json()
    # a URL koppel builds itself names the public scheme, host and sub-path
    moved = httpx.get(f"{served}/health/", headers=proxied, timeout=30, follow_redirects=False)
    assert moved.status_code == 307
    assert moved.headers["location"] == "https://koppel.example.com/koppel/health"
    spec = httpx.get(f"{served}/openapi.json", headers=proxied, timeout=30).json()
    assert spec["servers"] == [{"url": "/koppel"}]  # the API's clients call it under the sub-path


def test_migrate_says_where_the_store_stands(config: Path) -> None:
    first = CliRunner().invoke(app, ["migrate", "-c", str(config), "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["before"] is None and report["after"] == report["head"] is not None
    assert report["procrastinate_schema"] is None  # SQLite: koppel's own queue, no Procrastinate schema
    again = CliRunner().invoke(app, ["migrate", "-c", str(config)])
    assert again.exit_code == 0 and "nothing to migrate" in again.stdout


@pytest.mark.postgres
def test_migrate_applies_procrastinates_schema_on_postgresql(config: Path) -> None:
    with fresh_database() as url:
        config.write_text(config.read_text().replace('url = "sqlite:///.koppel/koppel.db"', f'url = "{url}"'))
        assert load_settings(config).jobs.runner_for(url) == "procrastinate"
        reports = []
        for _ in range(2):
            result = CliRunner().invoke(app, ["migrate", "-c", str(config), "--json"])
            assert result.exit_code == 0, result.output
            reports.append(json.loads(result.stdout))
        assert [r["procrastinate_schema"] for r in reports] == ["applied", "present"]
        assert reports[0]["before"] is None and reports[1]["before"] == reports[1]["head"]
