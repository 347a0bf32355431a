"""Prometheus metrics from the store and the API's own traffic; the drift report and its repair."""

from __future__ import annotations

from koppel.testing.builders import customer, twin
from tests.api.conftest import Api


def test_metrics_carry_the_store_state_and_request_counters(api: Api) -> None:
    account = customer(api.pair)
    api.pair.engine.sync()
    api.pair.crm.put("account", {"name": "Renamed"}, twin(api.pair.store, account))
    api.pair.engine.sync()
    api.get("/api/v1/runs")
    api.get("/api/v1/runs", role=None)
    response = api.client.get("/metrics")  # open: it holds counts only
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    for line in ('koppel_runs{status="ok"} 2.0', 'koppel_links{entity="account"} 1.0',
                 "koppel_violations_open 1.0", "koppel_conflicts_open 0.0",
                 'koppel_api_requests_total{method="GET",route="/api/v1/runs",status="200"} 1.0',
                 'koppel_api_requests_total{method="GET",route="/api/v1/runs",status="401"} 1.0'):
        assert line in text, line
    assert "koppel_last_run_duration_seconds " in text and "koppel_errors" in text
    assert "Acme" not in text and account not in text


def test_reconcile_reports_drift_and_an_operator_repairs_it(api: Api) -> None:
    account = customer(api.pair)
    api.pair.engine.sync()
    crm_id = twin(api.pair.store, account)
    assert api.get("/api/v1/reconcile", params={"entity": "account"}).json() == {"drift": [], "repaired": None}
    api.pair.crm.put("account", {"name": "Drifted"}, crm_id)
    [line] = api.get("/api/v1/reconcile", params={"entity": "account"}).json()["drift"]
    assert (line["kind"], line["side"], line["record_id"]) == ("differs", "crm", crm_id)
    repaired = api.post("/api/v1/reconcile/apply", json={"entities": ["account"]})
    assert repaired.status_code == 200 and repaired.json()["repaired"] == {"repaired": 1}
    assert api.pair.crm.get("account", crm_id)["name"] == "Acme 1 GmbH"
    assert api.get("/api/v1/reconcile").json()["drift"] == []
    [entry] = [a for a in api.audit() if a["action"] == "reconcile"]
    assert entry["actor"] == "operator" and entry["after"] == {"drift": 1, "repaired": {"repaired": 1}}
    assert api.get("/api/v1/reconcile", params={"entity": "spaceship"}).status_code == 400
