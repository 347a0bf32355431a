"""The API against its own OpenAPI spec, fuzzed by schemathesis: every operation, requests it
generates from the spec (valid and invalid ones), sent as an admin; no answer is a server error,
every answer keeps to the spec (status, content type, schema), and every 4xx carries
`{error, hint}`. schemathesis's pytest plugin does not load on our pytest, so its strategies are
driven by hypothesis here, through the test client of the in-memory API."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from tests.api.conftest import Api, customer

EXAMPLES = int(os.environ.get("KOPPEL_FUZZ_EXAMPLES", "400"))


def test_every_operation_keeps_to_the_spec(api: Api) -> None:
    customer(api.pair)
    api.pair.engine.sync()
    spec = api.client.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    strategies = st.one_of([op.as_strategy() for op in operations])
    seen: set[tuple[str, str]] = set()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategies)
    def call(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=api.headers("admin"))
        kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes | str):  # raw bodies go as content to httpx
            kwargs["content"] = kwargs.pop("data")
        response = api.client.request(**kwargs)
        seen.add((case.method, case.path))
        # our admin token rides on every request, so "accepts invalid authentication" would be
        # about our own header (authentication is tested in test_auth.py); and rules across fields
        # (a period that ends before it starts) are 400s the spec cannot express
        case.validate_response(response, excluded_checks=[ignored_auth, positive_data_acceptance])
        if 400 <= response.status_code < 500:
            body = response.json()
            assert {"error", "hint"} <= set(body), (case.method, case.path, body)

    call()
    assert len(seen) >= len(operations) * 3 // 4, f"only {len(seen)} of {len(operations)} operations tried"
