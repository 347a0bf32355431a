"""The API against its own OpenAPI spec, fuzzed by schemathesis: every operation, requests it
generates from the spec (valid and invalid ones), sent as an admin; no answer is a server error,
every answer keeps to the spec (status, content type, schema), and every 4xx carries
`{error, hint}`. schemathesis's pytest plugin does not load on our pytest, so its strategies are
driven by hypothesis here, through the test client of the in-memory API. The stateful test
chains operations along the links schemathesis infers from the spec (a proposal listed, then
coupled or kept apart; an error listed, then edited or skipped)."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, Response
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from koppel.testing.builders import customer
from tests.api.conftest import Api, open_api, settings_in

EXAMPLES = int(os.environ.get("KOPPEL_FUZZ_EXAMPLES", "400"))
STATEFUL_EXAMPLES = int(os.environ.get("KOPPEL_FUZZ_STATEFUL", "60"))
#: our admin token rides on every request, so "accepts invalid authentication" would be about our
#: own header (authentication is tested in test_auth.py); and rules across fields (a period that
#: ends before it starts) are 400s the spec cannot express
EXCLUDED = [ignored_auth, positive_data_acceptance]


def send(api: Api, case: Case) -> Any:
    """One generated request through the API's test client, as an admin."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=api.headers("admin"))
    kwargs.pop("cookies", None)
    if isinstance(kwargs.get("data"), bytes | str):  # raw bodies go as content to httpx
        kwargs["content"] = kwargs.pop("data")
    return api.client.request(**kwargs)


def check(case: Case, response: Any) -> None:
    case.validate_response(response, excluded_checks=EXCLUDED)
    if 400 <= response.status_code < 500:
        body = response.json()
        assert {"error", "hint"} <= set(body), (case.method, case.path, body)


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
        response = send(api, case)
        seen.add((case.method, case.path))
        check(case, response)

    call()
    assert len(seen) >= len(operations) * 3 // 4, f"only {len(seen)} of {len(operations)} operations tried"


def test_chains_of_operations_along_the_spec_links_keep_to_it(api: Api) -> None:
    """Sequences of calls where each takes its ids from an earlier answer. Each sequence starts
    from the same state (hypothesis replays them), with open work to chain: a queued error, a
    match proposal, tokens."""
    schema = schemathesis.openapi.from_dict(api.client.get("/openapi.json").json())
    schema.config.generation.update(modes=[GenerationMode.POSITIVE])  # invalid requests: the test above
    steps = Counter[tuple[str, str, int]]()

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            self.stack = ExitStack()
            self.api = self.stack.enter_context(open_api(settings_in(Path(self.stack.enter_context(
                tempfile.TemporaryDirectory())))))
            with_open_work(self.api)

        def teardown(self) -> None:
            self.stack.close()

        def call(self, case: Case, **kwargs: Any) -> Response:
            return Response.from_any(send(self.api, case))

        def validate_response(self, response: Response, case: Case, **kwargs: Any) -> None:
            steps[(case.method, case.path, response.status_code)] += 1
            check(case, response)

    assert len(Machine.bundles) >= 5, "schemathesis found no links to chain"
    Machine.run(settings=settings(max_examples=STATEFUL_EXAMPLES, deadline=None, stateful_step_count=6,
                                  suppress_health_check=list(HealthCheck)))
    linked = {(m, p) for (m, p, status), n in steps.items() if "{" in p and status < 300}
    print(f"\nstateful: {sum(steps.values())} calls, {len(linked)} linked operations answered 2xx: {sorted(linked)}")
    assert not [k for k in steps if k[2] >= 500]
    assert len(linked) >= 2, "calls seldom reached a real record through a link"


def with_open_work(api: Api) -> None:
    customer(api.pair, 1)
    customer(api.pair, 2, name="Zwei AG")  # the CRM refuses it: an error in the queue
    api.pair.crm.rejecters.append(lambda entity, values: "name refused" if values.get("name") == "Zwei AG" else None)
    customer(api.pair, 3, email="info@drei.example")
    api.pair.crm.put("account", {"name": "Drei Handel", "postcode": "20095", "email": "info@drei.example"})
    assert api.post("/api/v1/matches/propose", "admin", json={}).status_code == 200  # a proposal
    api.pair.engine.sync()
    assert api.pair.store.errors.list("open") and api.get("/api/v1/matches", "admin").json()
