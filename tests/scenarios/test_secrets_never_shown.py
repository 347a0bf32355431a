"""Secrets stay secret: every line koppel logs (at debug level) and prints, and every answer of its
API, over a whole scenario against the real peers, holds no password, token or PAT."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

from koppel.api.app import create_app
from koppel.config import load_settings
from koppel.connectors.base import WriteOp
from koppel.store import Store
from tests.scenarios.conftest import Coupled, write_config

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_no_secret_in_any_log_line_output_or_api_answer(coupled: Coupled) -> None:
    c = coupled
    config = write_config(c)
    c.erp.write("account", [WriteOp("s", {"name": "Secretive GmbH", "postcode": "10115"})])
    env = {**os.environ, "KOPPEL_LOG_LEVEL": "DEBUG", "KOPPEL_LOG_FORMAT": "json", "COLUMNS": "200"}
    said = []
    for args in (["check"], ["setup", "--dry-run"], ["sync", "--json"], ["sync", "--dry-run"], ["status", "--json"],
                 ["errors", "list", "--json"], ["match", "--json"], ["violations", "--json"]):
        run = subprocess.run([sys.executable, "-m", "koppel", *args, "-c", str(config)], capture_output=True,
                             text=True, timeout=600, env=env, check=False)
        said += [run.stdout, run.stderr]
    settings = load_settings(config)
    store = Store.open(settings.store.url)
    store.users.add("auditor", "admin")
    token = store.tokens.create("auditor", "secrets test")[1]
    store.close()
    with TestClient(create_app(settings)) as client:
        spec = client.get("/openapi.json").json()
        headers = {"Authorization": f"Bearer {token}"}
        for path, item in spec["paths"].items():
            if "get" in item and "{" not in path:
                answer = client.get(path, headers=headers)
                said.append(answer.text)
        said.append(client.get("/api/v1/accounts", headers=headers).text)
    secrets = {"Tryton password": c.erp_info["password"], "BottleCRM PAT": c.crm_info["token"],
               "API token": token}
    text = "\n".join(said)
    assert len(text) > 2000  # the scenario said something
    leaked = [name for name, value in secrets.items() if value and value in text]
    assert leaked == [], f"secrets in logs or answers: {leaked}"
