"""A short fuzz of the OpenAPI spec: random path, query and body values never produce a 5xx."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Api, customer

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
VALUE = st.one_of(st.text(max_size=30), st.integers().map(str), st.sampled_from(
    ["erp", "crm", "account", "erp:erp-1", "crm:crm-1", "open", "all", "2026-01-01", "-1", "0", "1e309"]))


def operations(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    spec = api.client.get("/openapi.json").json()
    return [(method, path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def test_no_5xx_under_random_input(api: Api) -> None:
    customer(api.pair)
    api.pair.engine.sync()
    ops = operations(api)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def call(data: st.DataObject) -> None:
        method, path, op = data.draw(st.sampled_from(ops))
        params = op.get("parameters", [])
        for p in (p for p in params if p["in"] == "path"):
            path = path.replace("{" + p["name"] + "}", quote(data.draw(VALUE), safe="") or "x")
        query = {p["name"]: data.draw(VALUE) for p in params if p["in"] == "query" and data.draw(st.booleans())}
        body = data.draw(JSON | st.fixed_dictionaries({}, optional={
            k: JSON | VALUE for k in ("system", "entity", "id", "payload", "winner", "entities", "name",
                                      "role", "user", "account", "lines")}))
        kwargs: dict[str, Any] = {"params": query}
        if method in ("post", "patch"):
            kwargs["json"] = body
        response = api.client.request(method.upper(), path, headers=api.headers("admin"), **kwargs)
        assert response.status_code < 500 or path == "/health", (method, path, query, response.text)
        assert response.headers["content-type"].startswith(("application/json", "text/plain"))

    call()
