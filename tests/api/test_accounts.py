"""The account 360° (R14) read live from both systems, with provenance; documents linked, not copied (R13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from koppel import clock
from koppel.testing.builders import customer, twin
from tests.api.conftest import Api

EUR = "EUR"


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": EUR}


def coupled_customer(api: Api) -> tuple[str, str, dict[str, str]]:
    """A coupled ERP customer with a contact, an order, a shipment and two invoices; a CRM quote and case."""
    erp, crm = api.pair.erp, api.pair.crm
    account = customer(api.pair, industry=None)
    erp.put("contact", {"first_name": "Eva", "last_name": "Muster", "email": "eva@acme.example",
                        "account": account, "invoice_recipient": True})
    order = erp.put("order", {"number": "SO-1", "account": account, "state": "processing",
                              "total": money("119"), "planned_ship_date": "2026-03-01"})
    shipment = erp.put("shipment", {"number": "SH-1", "order": order, "account": account, "state": "done",
                                    "planned_date": "2026-03-01", "effective_date": "2026-03-02"})
    overdue = erp.put("invoice", {"number": "INV-1", "account": account, "order": order, "state": "posted",
                                  "due_date": "2020-01-31", "total": money("119"),
                                  "amount_to_pay": money("119"), "dunning_level": "1"})
    erp.put("invoice", {"number": "INV-2", "account": account, "state": "paid", "due_date": "2020-01-15",
                        "total": money("50"), "amount_to_pay": money("0")})
    api.pair.engine.sync()
    crm_id = twin(api.pair.store, account)
    crm.put("account", {"industry": "retail"}, crm_id)
    crm.put("quote", {"number": "Q-1", "title": "Widgets", "account": crm_id, "status": "sent"})
    crm.put("case", {"subject": "Scratched widget", "kind": "question", "account": crm_id})
    return account, crm_id, {"order": order, "shipment": shipment, "invoice": overdue}


def by_name(fields: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in fields}


def test_the_360_shows_every_field_with_owner_source_and_last_sync(api: Api) -> None:
    account, crm_id, _ = coupled_customer(api)
    view = api.get(f"/api/v1/accounts/erp:{account}")
    assert view.status_code == 200, view.text
    body = view.json()
    assert (body["erp_id"], body["crm_id"], body["name"]) == (account, crm_id, "Acme 1 GmbH")
    fields = by_name(body["fields"])
    assert fields["name"] | {"synced_at": None} == {
        "name": "name", "value": "Acme 1 GmbH", "owner": "erp", "source": "erp", "erp_value": "Acme 1 GmbH",
        "crm_value": "Acme 1 GmbH", "synced_value": "Acme 1 GmbH", "synced_at": None, "stale": False}
    assert fields["name"]["synced_at"] is not None
    assert (fields["industry"]["owner"], fields["industry"]["source"], fields["industry"]["value"]) == (
        "crm", "crm", "retail")
    assert fields["industry"]["synced_at"] is None and fields["industry"]["stale"] is False  # never synced
    assert fields["phone"]["owner"] == "shared"
    assert api.get(f"/api/v1/accounts/crm:{crm_id}").json()["fields"] == body["fields"]


def test_a_value_that_moved_since_the_last_sync_is_stale(api: Api) -> None:
    account, crm_id, _ = coupled_customer(api)
    api.pair.erp.put("account", {"credit_limit": money("9000")}, account)
    api.pair.crm.put("account", {"phone": "+49 1"}, crm_id)
    fields = by_name(api.get(f"/api/v1/accounts/erp:{account}").json()["fields"])
    assert fields["credit_limit"]["stale"] is True and fields["credit_limit"]["value"] == money("9000")
    assert fields["credit_limit"]["crm_value"] is None
    assert (fields["phone"]["stale"], fields["phone"]["source"], fields["phone"]["value"]) == (True, "crm", "+49 1")
    assert fields["vat_id"]["stale"] is False


def test_a_link_not_synced_for_long_is_stale(api: Api) -> None:
    account, _, _ = coupled_customer(api)
    clock.freeze(datetime.now(UTC) + timedelta(days=3))
    try:
        fields = by_name(api.get(f"/api/v1/accounts/erp:{account}").json()["fields"])
    finally:
        clock.freeze(None)
    assert fields["name"]["stale"] is True and fields["industry"]["stale"] is False


def test_the_360_holds_contacts_quotes_orders_invoices_amounts_and_cases(api: Api) -> None:
    account, _, ids = coupled_customer(api)
    body = api.get(f"/api/v1/accounts/erp:{account}").json()
    [contact] = body["contacts"]
    assert contact["email"] == "eva@acme.example" and contact["erp_id"] and contact["crm_id"]
    assert contact["invoice_recipient"] is True
    [quote] = body["quotes"]
    assert (quote["number"], quote["status"], quote["open"]) == ("Q-1", "sent", True)
    [order] = body["orders"]
    assert (order["number"], order["status"], order["planned_ship_date"], order["shipped_date"]) == (
        "SO-1", "processing", "2026-03-01", "2026-03-02")
    assert order["document"]["href"] == f"/api/v1/documents/erp/order/{ids['order']}"
    invoices = {i["number"]: i for i in body["invoices"]}
    assert invoices["INV-1"]["overdue"] is True and invoices["INV-1"]["paid"] is False
    assert invoices["INV-1"]["dunning_level"] == "1" and invoices["INV-1"]["due_date"] == "2020-01-31"
    assert invoices["INV-2"]["paid"] is True and invoices["INV-2"]["overdue"] is False
    assert body["open_amounts"] == {EUR: "119"} and body["overdue_amounts"] == {EUR: "119"}
    [case] = body["complaints"]
    assert (case["subject"], case["kind"]) == ("Scratched widget", "question")


def test_a_prospect_has_a_360_from_the_crm_alone(api: Api) -> None:
    prospect = api.pair.crm.put("account", {"name": "Newco", "status": "prospect", "industry": "retail"})
    body = api.get(f"/api/v1/accounts/crm:{prospect}").json()
    assert (body["erp_id"], body["synced_at"], body["orders"], body["invoices"]) == (None, None, [], [])
    fields = by_name(body["fields"])
    assert fields["name"]["source"] == "crm" and fields["name"]["stale"] is False


def test_accounts_are_listed_and_searched(api: Api) -> None:
    account, crm_id, _ = coupled_customer(api)
    customer(api.pair, 2, name="Beta AG")
    api.pair.engine.sync(["account"])
    prospect = api.pair.crm.put("account", {"name": "Newco", "status": "prospect"})
    listed = api.get("/api/v1/accounts").json()
    assert {a["name"] for a in listed} == {"Acme 1 GmbH", "Beta AG"}
    [acme] = api.get("/api/v1/accounts", params={"search": "acme"}).json()
    assert acme == {"key": f"erp:{account}", "name": "Acme 1 GmbH", "number": "C1", "erp_id": account,
                    "crm_id": crm_id, "coupled": True}
    everything = api.get("/api/v1/accounts", params={"uncoupled": True}).json()
    assert {"key": f"crm:{prospect}", "name": "Newco", "number": None, "erp_id": None, "crm_id": prospect,
            "coupled": False} in everything
    assert len(api.get("/api/v1/accounts", params={"limit": 1}).json()) == 1
    assert api.get("/api/v1/accounts", params={"limit": 0}).status_code == 422


def test_unknown_and_malformed_account_keys(api: Api) -> None:
    missing = api.get("/api/v1/accounts/erp:nope")
    assert missing.status_code == 404 and missing.json()["hint"]
    for key in ("nope:1", "erp:", "justtext"):
        response = api.get(f"/api/v1/accounts/{key}")
        assert response.status_code in (400, 422), key
        assert set(response.json()) >= {"error", "hint"}


def test_documents_are_fetched_live_from_their_system(api: Api) -> None:
    _, _, ids = coupled_customer(api)
    reads = api.pair.erp.calls["read"]
    doc = api.get(f"/api/v1/documents/erp/invoice/{ids['invoice']}")
    assert doc.status_code == 200 and api.pair.erp.calls["read"] == reads + 1
    assert doc.json()["record"]["number"] == "INV-1" and doc.json()["entity"] == "invoice"
    api.pair.erp.put("invoice", {"state": "paid", "amount_to_pay": money("0")}, ids["invoice"])
    assert api.get(f"/api/v1/documents/erp/invoice/{ids['invoice']}").json()["record"]["state"] == "paid"
    shipment = api.get(f"/api/v1/documents/erp/shipment/{ids['shipment']}").json()
    assert shipment["record"]["effective_date"] == "2026-03-02"
    assert api.get("/api/v1/documents/erp/invoice/nope").status_code == 404
    assert api.get("/api/v1/documents/sap/invoice/1").status_code == 400
    assert api.get("/api/v1/documents/erp/spaceship/1").status_code == 400
    assert api.get(f"/api/v1/documents/erp/invoice/{ids['invoice']}", role=None).status_code == 401
