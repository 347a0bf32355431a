"""Who may do what: tokens, roles, and the routes that need none."""

from __future__ import annotations

import pytest

from koppel.store.workspace import hash_token
from tests.api.conftest import Api

READS = ["/api/v1/accounts", "/api/v1/runs", "/api/v1/jobs", "/api/v1/errors", "/api/v1/conflicts",
         "/api/v1/violations", "/api/v1/reconcile"]


@pytest.mark.parametrize("path", READS)
def test_every_read_needs_a_token_and_a_viewer_may_read(api: Api, path: str) -> None:
    missing = api.get(path, role=None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert set(missing.json()) == {"error", "hint"}
    assert api.get(path).status_code == 200


def test_a_wrong_token_is_401(api: Api) -> None:
    response = api.client.get("/api/v1/runs", headers={"Authorization": "Bearer kp_not-a-token"})
    assert response.status_code == 401 and "unknown" in response.json()["error"]
    assert api.client.get("/api/v1/runs", headers={"Authorization": "Basic abc"}).status_code == 401


def test_a_revoked_token_is_401(api: Api) -> None:
    [row] = api.pair.store.tokens.list("viewer")
    assert api.get("/api/v1/runs").status_code == 200
    api.pair.store.tokens.revoke(row.id)
    assert api.get("/api/v1/runs").status_code == 401


def test_a_disabled_user_is_401(api: Api) -> None:
    api.pair.store.users.set_disabled("viewer", True)
    assert api.get("/api/v1/runs").status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/api/v1/sync/record", {"system": "erp", "entity": "account", "id": "x"}),
    ("post", "/api/v1/sync", {}),
    ("patch", "/api/v1/errors/1", {"payload": {}}),
    ("post", "/api/v1/errors/1/retry", None),
    ("post", "/api/v1/errors/1/skip", None),
    ("post", "/api/v1/conflicts/1/resolve", {"winner": "erp"}),
    ("post", "/api/v1/violations/1/acknowledge", None),
    ("post", "/api/v1/reconcile/apply", None),
])
def test_a_viewer_cannot_change_anything(api: Api, method: str, path: str, body: object) -> None:
    response = getattr(api, method)(path, role="viewer", json=body)
    assert response.status_code == 403, response.text
    assert "operator" in response.json()["error"]
    assert getattr(api, method)(path, role=None, json=body).status_code == 401


def test_tokens_are_stored_as_hashes_only_and_touched_on_use(api: Api) -> None:
    secret = api.tokens["viewer"]
    with api.pair.store.connection() as conn:
        rows = [tuple(r) for r in conn.exec_driver_sql("SELECT token_hash FROM api_tokens")]
    assert (hash_token(secret),) in rows and all(secret not in str(r) for r in rows)
    api.get("/api/v1/runs")
    [row] = api.pair.store.tokens.list("viewer")
    assert row.last_used_at is not None


def test_health_needs_no_token_and_reports_each_system(api: Api) -> None:
    body = api.client.get("/health").json()
    assert body["ok"] and body["store"] is True
    never = {"last_success_at": None, "down_since": None, "last_run_error": None}  # no run yet
    assert body["systems"] == {"erp": {"ok": True, "connector": "memory", "error": None, **never},
                               "crm": {"ok": True, "connector": "memory", "error": None, **never}}


def test_health_is_503_when_a_system_fails(api: Api) -> None:
    from koppel.errors import FatalError

    def down() -> None:
        raise FatalError("crm is unreachable")

    api.pair.crm.check = down  # type: ignore[method-assign]
    response = api.client.get("/health")
    assert response.status_code == 503
    assert response.json()["systems"]["crm"] == {"ok": False, "connector": "memory", "error": "crm is unreachable",
                                                 "last_success_at": None, "down_since": None, "last_run_error": None}


def test_openapi_is_served_and_no_docs_page_loads_from_a_cdn(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "/api/v1/accounts/{key}" in spec["paths"] and "/api/v1/sync/record" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert api.client.get("/docs").status_code == 404 and api.client.get("/redoc").status_code == 404


def test_unknown_routes_and_methods_answer_json(api: Api) -> None:
    missing = api.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and set(missing.json()) == {"error", "hint"}
    assert api.client.delete("/api/v1/runs").status_code == 405


def test_admins_manage_users_and_tokens(api: Api) -> None:
    assert api.get("/api/v1/users", role="operator").status_code == 403
    created = api.post("/api/v1/users", role="admin", json={"name": "eva", "role": "operator"})
    assert created.status_code == 201 and created.json()["role"] == "operator"
    assert api.post("/api/v1/users", role="admin", json={"name": "eva", "role": "viewer"}).status_code == 400
    assert api.post("/api/v1/users", role="admin", json={"name": "x", "role": "god"}).status_code == 422
    token = api.post("/api/v1/tokens", role="admin", json={"user": "eva", "label": "laptop"})
    assert token.status_code == 201
    secret = token.json()["token"]
    assert api.client.get("/api/v1/runs", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listed = api.get("/api/v1/tokens", role="admin").json()
    assert all("token" not in t and secret not in str(t) for t in listed)
    assert [u["name"] for u in api.get("/api/v1/users", role="admin").json()][-1] == "eva"
    revoked = api.post(f"/api/v1/tokens/{token.json()['id']}/revoke", role="admin")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert api.client.get("/api/v1/runs", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert api.post("/api/v1/tokens/999/revoke", role="admin").status_code == 404
    actions = [(a["actor"], a["action"]) for a in api.audit()]
    assert {("admin", "add-user"), ("admin", "create-token"), ("admin", "revoke-token")} <= set(actions)
    assert secret not in str(api.audit())
