"""The error queue, conflicts and violations over the API: inspect, edit, retry, skip, settle."""

from __future__ import annotations

import pytest

from koppel.testing.builders import customer, twin
from tests.api.conftest import Api


def rejected(api: Api) -> int:
    customer(api.pair, 1)
    customer(api.pair, 2, name="Bad Name Ltd")
    api.pair.crm.rejecters.append(lambda e, v: "name: may not contain 'Bad'" if "Bad" in (v.get("name") or "") else None)
    api.pair.engine.sync(["account"])
    [error] = api.pair.store.errors.list()
    return error.id


def test_a_rejected_record_is_listed_shown_edited_and_retried(api: Api) -> None:
    error_id = rejected(api)
    [listed] = api.get("/api/v1/errors").json()
    assert listed["id"] == error_id and listed["message"] == "name: may not contain 'Bad'"
    shown = api.get(f"/api/v1/errors/{error_id}").json()
    assert shown["payload"]["name"] == "Bad Name Ltd" and shown["target"] == "crm"
    edited = api.patch(f"/api/v1/errors/{error_id}", json={"payload": {"name": "Good Name Ltd"}})
    assert edited.status_code == 200 and edited.json()["payload"] == {"name": "Good Name Ltd"}
    api.pair.crm.rejecters.clear()
    retried = api.post(f"/api/v1/errors/{error_id}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "ok"
    assert len(api.pair.crm.ids("account")) == 2
    assert api.get("/api/v1/errors").json() == []
    assert api.get("/api/v1/errors", params={"status": "all"}).json()[0]["status"] == "retried"
    edits = [a for a in api.audit() if a["action"] in ("edit-error", "retry")]
    assert {(a["actor"], a["action"], a["record"]) for a in edits} == {
        ("operator", "edit-error", f"error:{error_id}"), ("operator", "retry", f"error:{error_id}")}
    [edit] = [a for a in edits if a["action"] == "edit-error"]
    assert edit["before"]["name"] == "Bad Name Ltd" and edit["after"] == {"name": "Good Name Ltd"}


def test_a_skipped_error_cannot_be_retried(api: Api) -> None:
    error_id = rejected(api)
    skipped = api.post(f"/api/v1/errors/{error_id}/skip")
    assert skipped.status_code == 200 and skipped.json()["status"] == "skipped"
    again = api.post(f"/api/v1/errors/{error_id}/retry")
    assert again.status_code == 409 and "skipped" in again.json()["error"]
    assert [a["action"] for a in api.audit()].count("skip") == 1


@pytest.mark.parametrize(("method", "path", "body"), [
    ("get", "/api/v1/errors/999", None), ("patch", "/api/v1/errors/999", {"payload": {}}),
    ("post", "/api/v1/errors/999/retry", None), ("post", "/api/v1/errors/999/skip", None),
    ("post", "/api/v1/conflicts/999/resolve", {"winner": "erp"}),
    ("post", "/api/v1/violations/999/acknowledge", None),
])
def test_unknown_ids_are_404_json(api: Api, method: str, path: str, body: object) -> None:
    response = getattr(api, method)(path, json=body) if body is not None else getattr(api, method)(path)
    assert response.status_code == 404, response.text
    assert set(response.json()) == {"error", "hint"} and "999" in response.json()["error"]


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "99999999999999999999999"])
def test_ids_out_of_range_are_422_never_500(api: Api, bad: str) -> None:
    assert api.get(f"/api/v1/errors/{bad}").status_code == 422
    assert api.post(f"/api/v1/errors/{bad}/retry").status_code == 422


def test_the_error_status_filter_is_checked(api: Api) -> None:
    assert api.get("/api/v1/errors", params={"status": "nonsense"}).status_code == 422
    assert api.patch("/api/v1/errors/1", json={"payload": "not an object"}).status_code == 422


def conflict(api: Api) -> tuple[int, str, str]:
    account = customer(api.pair)
    api.pair.engine.sync()
    crm_id = twin(api.pair.store, account)
    api.pair.erp.put("account", {"phone": "111"}, account)
    api.pair.crm.put("account", {"phone": "222"}, crm_id)
    api.pair.engine.sync()
    [row] = api.pair.store.findings.conflicts()
    return row.id, account, crm_id


def test_an_operator_settles_a_conflict(api: Api) -> None:
    conflict_id, account, _ = conflict(api)
    [listed] = api.get("/api/v1/conflicts").json()
    assert (listed["field"], listed["erp_value"], listed["crm_value"]) == ("phone", "111", "222")
    bad = api.post(f"/api/v1/conflicts/{conflict_id}/resolve", json={"winner": "both"})
    assert bad.status_code == 422 and "winner" in bad.json()["error"]
    resolved = api.post(f"/api/v1/conflicts/{conflict_id}/resolve", json={"winner": "crm"})
    assert resolved.status_code == 200 and resolved.json()["resolved_by"] == "operator"
    assert api.pair.erp.get("account", account)["phone"] == "222"
    assert api.get("/api/v1/conflicts").json() == []
    assert api.get("/api/v1/conflicts", params={"status": "all"}).json()[0]["resolution"] == "crm"
    again = api.post(f"/api/v1/conflicts/{conflict_id}/resolve", json={"winner": "erp"})
    assert again.status_code == 409
    assert any(a["actor"] == "operator" and a["action"] == "resolve" for a in api.audit())


def test_an_operator_acknowledges_a_violation(api: Api) -> None:
    account = customer(api.pair)
    api.pair.engine.sync()
    api.pair.crm.put("account", {"name": "Renamed in CRM"}, twin(api.pair.store, account))
    api.pair.engine.sync()
    [violation] = api.get("/api/v1/violations").json()
    assert (violation["system"], violation["field"], violation["attempted"]) == ("crm", "name", "Renamed in CRM")
    done = api.post(f"/api/v1/violations/{violation['id']}/acknowledge")
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    assert api.get("/api/v1/violations").json() == []
    assert api.get("/api/v1/violations", params={"status": "acknowledged"}).json()[0]["id"] == violation["id"]
    latest = api.audit()[0]
    assert (latest["actor"], latest["action"]) == ("operator", "acknowledge")
