"""Sync on demand through the API (R11): one record now, or a job for the worker; runs and jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from koppel.engine.jobs import Worker
from koppel.services import sync as sync_service
from koppel.testing.builders import customer
from tests.api.conftest import Api
from tests.store.test_one_process import start_holder, wait_for_holder


def test_an_operator_syncs_one_record_now_and_gets_the_report(api: Api) -> None:
    account = customer(api.pair)
    response = api.post("/api/v1/sync/record", json={"system": "erp", "entity": "account", "id": account})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["queued"] is False and body["report"]["status"] == "ok"
    assert body["report"]["stats"]["account"]["created"] == 1
    assert len(api.pair.crm.ids("account")) == 1
    [entry] = [a for a in api.audit() if a["action"] == "sync"]
    assert (entry["actor"], entry["record"], entry["entity"]) == ("operator", f"erp:{account}", "account")
    runs = api.get("/api/v1/runs").json()
    assert runs[0]["id"] == body["report"]["run_id"] and runs[0]["kind"] == "record"


def test_a_record_sync_is_queued_when_asked_or_when_a_worker_is_busy(api: Api) -> None:
    account = customer(api.pair)
    queued = api.post("/api/v1/sync/record", json={"system": "erp", "entity": "account", "id": account,
                                                   "wait": False})
    assert queued.status_code == 202 and queued.json()["queued"] is True
    [job] = api.get("/api/v1/jobs").json()
    assert (job["id"], job["kind"], job["status"]) == (queued.json()["job_id"], "record", "queued")
    Worker(api.pair.engine).run_one()
    assert api.get("/api/v1/jobs", params={"status": "done"}).json()[0]["id"] == job["id"]
    assert len(api.pair.crm.ids("account")) == 1


def test_a_record_sync_waits_for_another_process_run_on_sqlite_then_is_queued(
        api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`koppel serve` beside `koppel run` on one SQLite store: a sync asked for while the other
    process runs waits for it a while, then goes to the queue (that process runs it)."""
    monkeypatch.setattr(sync_service, "WAIT_FOR_RUN_S", 0.5)
    account = customer(api.pair)
    log = tmp_path / "holder.log"
    holder = start_holder(str(api.pair.store.engine.url), log, "run", 60)
    try:
        wait_for_holder(holder, log, "run")
        busy = api.post("/api/v1/sync/record", json={"system": "erp", "entity": "account", "id": account})
        assert busy.status_code == 202 and busy.json()["queued"] is True, busy.text
        assert api.pair.crm.ids("account") == []  # nothing written beside the other process's run
    finally:
        holder.kill()
        holder.communicate()
    now = api.post("/api/v1/sync/record", json={"system": "erp", "entity": "account", "id": account})
    assert now.status_code == 200 and now.json()["report"]["status"] == "ok", now.text
    assert len(api.pair.crm.ids("account")) == 1


def test_bad_sync_requests_are_clear_4xx(api: Api) -> None:
    unknown = api.post("/api/v1/sync/record", json={"system": "erp", "entity": "spaceship", "id": "1"})
    assert unknown.status_code == 400 and "spaceship" in unknown.json()["error"]
    assert unknown.json()["hint"]
    for body in ({"system": "sap", "entity": "account", "id": "1"}, {"system": "erp", "entity": "account"},
                 {"system": "erp", "entity": "account", "id": ""}, {"system": "erp", "entity": "account",
                                                                    "id": "1", "extra": 1}):
        response = api.post("/api/v1/sync/record", json=body)
        assert response.status_code == 422 and set(response.json()) >= {"error", "hint"}, body
    broken = api.client.post("/api/v1/sync/record", content=b"{not json", headers={
        "Authorization": f"Bearer {api.tokens['operator']}", "Content-Type": "application/json"})
    assert broken.status_code == 422 and "{not json" not in broken.text  # input never echoed


def test_a_missing_record_synced_on_demand_is_not_an_error(api: Api) -> None:
    response = api.post("/api/v1/sync/record", json={"system": "erp", "entity": "account", "id": "nope"})
    assert response.status_code == 200 and response.json()["report"]["status"] == "ok"


def test_an_operator_queues_an_incremental_sync(api: Api) -> None:
    customer(api.pair)
    first = api.post("/api/v1/sync", json={"entities": ["account"]})
    assert first.status_code == 202 and first.json() == {"job_id": first.json()["job_id"], "coalesced": False}
    again = api.post("/api/v1/sync", json={"entities": ["account"]})
    assert again.json() == {"job_id": None, "coalesced": True}
    assert api.post("/api/v1/sync").status_code == 202  # no body: every entity
    assert api.post("/api/v1/sync", json={"entities": ["spaceship"]}).status_code == 400
    report = Worker(api.pair.engine).run_one()
    assert report is not None and report.total("created") == 1
    assert [a["action"] for a in api.audit()].count("enqueue-sync") == 3


def test_runs_and_jobs_validate_their_filters(api: Api) -> None:
    api.pair.engine.sync()
    assert api.get("/api/v1/runs", params={"limit": 1}).json()[0]["status"] == "ok"
    assert api.get("/api/v1/runs", params={"limit": 0}).status_code == 422
    assert api.get("/api/v1/jobs", params={"status": "bogus"}).status_code == 422
