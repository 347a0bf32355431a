"""Match proposals over the API: find pairs both systems hold, couple one, keep another apart."""

from __future__ import annotations

import pytest

from koppel.testing.builders import Pair
from tests.api.conftest import Api


def pair_of(pair: Pair, n: int) -> tuple[str, str]:
    """An ERP customer and a CRM prospect with the same VAT id, neither coupled."""
    vat = f"DE{n:09d}"
    erp_id = pair.erp.put("account", {"name": f"Acme {n} GmbH", "number": f"C{n}", "vat_id": vat,
                                      "postcode": "10115"})
    crm_id = pair.crm.put("account", {"name": f"Acme Berlin {n}", "vat_id": vat, "status": "prospect"})
    return erp_id, crm_id


def test_a_viewer_lists_but_cannot_propose_or_decide(api: Api) -> None:
    pair_of(api.pair, 1)
    assert api.get("/api/v1/matches").json() == []
    assert api.post("/api/v1/matches/propose", role="viewer").status_code == 403
    [row] = api.post("/api/v1/matches/propose").json()
    assert api.get("/api/v1/matches", role="viewer").json() == [row]
    for verb in ("couple", "apart"):
        refused = api.post(f"/api/v1/matches/{row['id']}/{verb}", role="viewer")
        assert refused.status_code == 403 and set(refused.json()) == {"error", "hint"}
    assert api.post("/api/v1/matches/propose", role=None).status_code == 401
    assert api.get("/api/v1/matches", params={"status": "nonsense"}).status_code == 422


def test_an_operator_finds_a_pair_and_couples_it(api: Api) -> None:
    erp_id, crm_id = pair_of(api.pair, 1)
    found = api.post("/api/v1/matches/propose")
    assert found.status_code == 200, found.text
    [row] = found.json()
    assert (row["entity"], row["erp_id"], row["crm_id"]) == ("account", erp_id, crm_id)
    assert (row["reason"], row["confidence"], row["status"], row["copy_id"]) == ("same VAT id", 0.95, "open", None)
    coupled = api.post(f"/api/v1/matches/{row['id']}/couple")
    assert coupled.status_code == 200, coupled.text
    assert coupled.json()["status"] == "coupled" and coupled.json()["decided_by"] == "operator"
    assert api.pair.crm.get("account", crm_id)["number"] == "C1"  # the ERP owns the customer number
    assert api.pair.store.links.by_ids("account", "erp", [erp_id])[erp_id].crm_id == crm_id
    assert api.get("/api/v1/matches").json() == []
    assert [m["status"] for m in api.get("/api/v1/matches", params={"status": "coupled"}).json()] == ["coupled"]
    again = api.post(f"/api/v1/matches/{row['id']}/couple")
    assert again.status_code == 409 and "coupled" in again.json()["error"]
    assert api.post(f"/api/v1/matches/{row['id']}/apart").status_code == 409
    actions = {(a["actor"], a["action"]) for a in api.audit()}
    assert {("operator", "propose"), ("operator", "couple")} <= actions
    assert len(api.pair.crm.ids("account")) == 1  # koppel created no second CRM record


def test_proposing_again_keeps_one_proposal_per_pair(api: Api) -> None:
    pair_of(api.pair, 1)
    first = api.post("/api/v1/matches/propose").json()
    assert api.post("/api/v1/matches/propose", json={"entities": ["account"]}).json() == first
    assert api.post("/api/v1/matches/propose", json={"entities": ["order"]}).status_code == 422
    assert api.post("/api/v1/matches/propose", json={"entities": ["account"], "x": 1}).status_code == 422


def test_an_operator_keeps_another_pair_apart(api: Api) -> None:
    pair_of(api.pair, 1)
    erp_id, crm_id = pair_of(api.pair, 2)
    rows = {r["erp_id"]: r for r in api.post("/api/v1/matches/propose").json()}
    assert len(rows) == 2
    kept = api.post(f"/api/v1/matches/{rows[erp_id]['id']}/apart")
    assert kept.status_code == 200, kept.text
    assert kept.json()["status"] == "apart"
    assert not api.pair.store.links.by_ids("account", "crm", [crm_id])  # never coupled to the ERP record
    assert [r["erp_id"] for r in api.get("/api/v1/matches").json()] == [next(iter(rows))]
    assert api.get("/api/v1/matches", params={"status": "apart"}).json()[0]["crm_id"] == crm_id
    assert any(a["actor"] == "operator" and a["action"] == "keep apart" for a in api.audit())
    assert api.post(f"/api/v1/matches/{rows[erp_id]['id']}/couple").status_code == 409


def test_a_refused_write_leaves_the_pair_open_and_points_at_the_error_queue(api: Api) -> None:
    pair_of(api.pair, 1)
    [row] = api.post("/api/v1/matches/propose").json()
    api.pair.crm.rejecters.append(lambda e, v: "number: read-only")
    refused = api.post(f"/api/v1/matches/{row['id']}/couple")
    assert refused.status_code == 409 and "error queue" in refused.json()["hint"]
    assert api.get("/api/v1/matches").json()[0]["status"] == "open"
    assert api.get("/api/v1/errors").json()[0]["message"] == "number: read-only"


def test_a_pair_whose_erp_record_is_gone_is_a_409(api: Api) -> None:
    erp_id, _ = pair_of(api.pair, 1)
    [row] = api.post("/api/v1/matches/propose").json()
    api.pair.erp.delete("account", [erp_id])
    gone = api.post(f"/api/v1/matches/{row['id']}/couple")
    assert gone.status_code == 409 and "no longer exists" in gone.json()["error"]
    assert "apart" in gone.json()["hint"]


@pytest.mark.parametrize("verb", ["couple", "apart"])
def test_unknown_proposals_are_404_json(api: Api, verb: str) -> None:
    response = api.post(f"/api/v1/matches/999/{verb}")
    assert response.status_code == 404, response.text
    assert set(response.json()) == {"error", "hint"} and "999" in response.json()["error"]
    assert api.post(f"/api/v1/matches/0/{verb}").status_code == 422
