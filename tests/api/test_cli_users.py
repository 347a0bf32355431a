"""`koppel users` and `koppel tokens`: the token is printed once and only its hash is kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from koppel.store import Store
from koppel.store.workspace import hash_token


def koppel(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "koppel", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "USER": "lead"})


def test_users_and_tokens_from_the_command_line(tmp_path: Path) -> None:
    assert koppel("init", cwd=tmp_path).returncode == 0
    added = koppel("users", "add", "anna", "--role", "operator", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert koppel("users", "add", "anna", cwd=tmp_path).returncode == 2
    assert koppel("users", "add", "bert", "--role", "king", cwd=tmp_path).returncode == 2
    assert koppel("tokens", "create", "nobody", cwd=tmp_path).returncode == 2
    created = koppel("tokens", "create", "anna", "--label", "laptop", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("kp_") and len(secret) > 40 and "shown only now" in created.stderr
    listed = koppel("tokens", "list", "--json", cwd=tmp_path)
    [token] = json.loads(listed.stdout)
    assert (token["user"], token["label"], token["revoked"]) == ("anna", "laptop", False)
    assert secret not in listed.stdout + koppel("tokens", "list", cwd=tmp_path).stdout
    users = json.loads(koppel("users", "list", "--json", cwd=tmp_path).stdout)
    assert [(u["name"], u["role"]) for u in users] == [("anna", "operator")]
    store = Store.open(f"sqlite:///{tmp_path}/.koppel/koppel.db")
    try:
        db = b"".join(p.read_bytes() for p in (tmp_path / ".koppel").glob("koppel.db*"))
        assert secret.encode() not in db and hash_token(secret).encode() in db
        assert store.tokens.user_for(secret) is not None
        assert koppel("tokens", "revoke", str(token["id"]), cwd=tmp_path).returncode == 0
        assert store.tokens.user_for(secret) is None
        assert koppel("tokens", "revoke", "99", cwd=tmp_path).returncode == 2
        actions = [(a["actor"], a["action"]) for a in store.audit.entries()]
        assert {("lead", "add-user"), ("lead", "create-token"), ("lead", "revoke-token")} <= set(actions)
    finally:
        store.close()


def test_serve_is_a_command(tmp_path: Path) -> None:
    result = koppel("serve", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "--port" in result.stdout
