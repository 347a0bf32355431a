"""A user's path onto two populated systems koppel did not build: `koppel setup`, `koppel match
--apply`, `koppel sync` (twice and more), asserted by value through the peers' own APIs.

The ERP and the CRM overlap: a customer under the same VAT id, one under the same customer number,
one under the same name and postcode; a CRM prospect holds an ERP customer's name with another VAT
id; umlauts, accents, an emoji, a 120-character name; a prospect whose quote the customer accepts.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from koppel.config.policy import default_policy_data as policy_data
from koppel.config.policy import load_policy, merge
from koppel.connectors.base import WriteOp
from koppel.engine.verify import same
from koppel.testing.builders import make
from koppel.testing.cli import koppel
from tests.onboarding.conftest import Bare

LONG = ("Internationale Gesellschaft für Präzisionsmaschinenbau, Antriebstechnik und industrielle "
        "Automatisierung mbH & Co. KG")[:120]
VAT = {"rhein": "DE136695909", "mueller": "DE136695917", "acme": "DE136695925", "zeta": "DE136695933"}




def address(street: str, postcode: str, city: str) -> dict[str, str]:
    return {"street": street, "postcode": postcode, "city": city, "country": "DE"}


def fill_erp(b: Bare) -> dict[str, str]:
    """The ERP's customers, a product, and a posted invoice: data of the company, not of koppel."""
    customers = {
        "rhein": {"name": "Rheinwerk Werkzeuge GmbH", "vat_id": VAT["rhein"], "postcode": "50667",
                  "billing_address": address("Domstr. 1", "50667", "Köln"), "payment_term": "Net 30 days",
                  "credit_limit": {"amount": "25000", "currency": "EUR"}, "email": "info@rheinwerk.example"},
        "mueller": {"name": "Bäckerei Müller & Söhne", "vat_id": VAT["mueller"], "postcode": "80331",
                    "billing_address": address("Marienplatz 8", "80331", "München"), "payment_term": "Upon Receipt"},
        "nord": {"name": "Nordlicht Café 🌟", "postcode": "20095",
                 "billing_address": address("Jungfernstieg 3", "20095", "Hamburg")},
        "acme": {"name": "Acme Industrie AG", "vat_id": VAT["acme"], "postcode": "10115",
                 "billing_address": address("Invalidenstr. 5", "10115", "Berlin")},
        "long": {"name": LONG, "postcode": "70173", "billing_address": address("Königstr. 1", "70173", "Stuttgart")},
        "creme": {"name": "Crème Brûlée Manufaktur", "postcode": "04109",
                  "billing_address": address("Markt 2", "04109", "Leipzig")},
        "delta": {"name": "Delta Systems GmbH", "postcode": "01067",
                  "billing_address": address("Altmarkt 1", "01067", "Dresden")},
        "delta2": {"name": "DELTA  systems gmbh", "postcode": "01069",
                   "billing_address": address("Prager Str. 9", "01069", "Dresden")},
    }
    ids = {key: make(b.erp, "account", {"currency": "EUR", **values}) for key, values in customers.items()}
    product = make(b.erp, "product", {"name": "Hydraulic pump", "code": "HP-1", "unit": "u",
                                      "list_price": {"amount": "90", "currency": "EUR"}})
    [sale] = b.erp.write("order", [WriteOp("s", {"account": ids["rhein"], "payment_term": "Net 30 days",
                                                 "lines": [{"product": product, "quantity": "10"}]})])
    b.erp.quote([sale.id or ""])
    b.erp.confirm([sale.id or ""])
    invoices = b.erp.sale_documents(sale.id or "")["invoices"]
    b.erp.client.model("account.invoice", "write", [int(i) for i in invoices], {"invoice_date": date.today()})
    b.erp.post_invoices(invoices)
    return ids


def fill_crm(b: Bare, numbers: dict[str, str]) -> dict[str, str]:
    """The CRM as sales kept it: its own VAT and ERP-number fields, prospects, one name taken."""
    for key, label in (("vat_id", "USt-IdNr."), ("erp_customer_no", "Kundennummer")):
        b.crm.client.post("custom-fields/", {"target_model": "Account", "key": key, "label": label,
                                             "field_type": "text", "is_filterable": True})
    accounts = {
        "rhein": {"name": "Rheinwerk Werkzeuge", "postcode": "50667", "city": "Köln",
                  "custom_fields": {"vat_id": "DE 136 695 909"}},
        "mueller": {"name": "Müller Backwaren", "custom_fields": {"erp_customer_no": numbers["mueller"]}},
        "nord": {"name": "nordlicht   café 🌟", "postcode": "20095", "industry": "FOOD & BEVERAGE"},
        "acme": {"name": "ACME INDUSTRIE AG", "postcode": "10117", "custom_fields": {"vat_id": "DE136695941"}},
        "zeta": {"name": "Zeta Robotik GmbH", "postcode": "60311", "city": "Frankfurt",
                 "custom_fields": {"vat_id": VAT["zeta"]}},
    }
    return {key: str(b.crm.client.post("accounts/", {"currency": "EUR", **body})["id"])
            for key, body in accounts.items()}


def crm_account(b: Bare, crm_id: str) -> dict[str, Any]:
    answer = b.crm.client.get(f"accounts/{crm_id}/")
    row: dict[str, Any] = answer.get("account_obj") or answer
    return row


def crm_accounts(b: Bare) -> list[dict[str, Any]]:
    return list(b.crm.client.pages("accounts/", lambda p: [
        list((p.get("active_accounts") or {}).get("open_accounts") or []),
        list((p.get("closed_accounts") or {}).get("close_accounts") or [])]))


def links(b: Bare) -> dict[str, str]:
    """erp id -> crm id of every coupled account, as `koppel status`'s store holds them."""
    from koppel.store import Store

    store = Store.open(f"sqlite:///{b.workdir / 'koppel.db'}")
    try:
        return {link.erp_id: link.crm_id for link in store.links.all("account")}
    finally:
        store.close()


def accept_quote_of_prospect(b: Bare, account: str) -> str:
    [product] = [r for r in crm_products(b) if r.get("sku") == "HP-1"]
    contact = b.crm.client.post("contacts/", {"first_name": "Zora", "last_name": "Zeta", "account": account,
                                              "email": "zora@zeta.example"})["id"]
    quote = b.crm.client.post("invoices/estimates/", {
        "title": "Pumps for the new line", "account_id": account, "contact_id": contact, "currency": "EUR",
        "line_items": [{"product": product["id"], "name": "Hydraulic pump", "quantity": "4",
                        "unit_price": "90"}]})
    quote_id = str((quote.get("estimate") or quote)["id"])
    b.crm.accept_quote(quote_id, name="Zora Zeta", email="zora@zeta.example")
    return quote_id


def crm_products(b: Bare) -> list[dict[str, Any]]:
    return list(b.crm.client.pages("invoices/products/", lambda p: [list(p.get("results") or [])]))


def sync(b: Bare) -> dict[str, Any]:
    run = koppel("sync", "--json", cwd=b.workdir)
    assert run.returncode == 0, run.stdout + run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report


def test_setup_match_and_sync_onto_two_populated_systems(bare: Bare) -> None:
    b = bare
    erp = fill_erp(b)
    numbers = {k: b.erp.read("account", [i])[0].record.number or "" for k, i in erp.items()}
    crm = fill_crm(b, numbers)

    setup = koppel("setup", "--json", cwd=b.workdir)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    done = json.loads(setup.stdout)
    assert any("Account.vat_id" in line for line in done["already_there"])  # the CRM's own field
    assert any("Account.payment_terms" in line for line in done["created"])
    assert any("relation type" in line for line in done["created"])
    assert done["still_missing"] == []
    again = json.loads(koppel("setup", "--json", cwd=b.workdir).stdout)
    assert again["created"] == [] and again["still_missing"] == []  # idempotent
    assert koppel("check", cwd=b.workdir).returncode == 0

    matched = koppel("match", "--apply", "--min-confidence", "0.7", "--json", cwd=b.workdir)
    assert matched.returncode == 0, matched.stdout + matched.stderr
    proposals = {(p["erp"], p["crm"]): p["reason"] for p in json.loads(matched.stdout)["proposals"]}
    assert proposals == {(erp["rhein"], crm["rhein"]): "same VAT id",
                         (erp["mueller"], crm["mueller"]): "same customer number",
                         (erp["nord"], crm["nord"]): "same name and postcode"}  # never ACME: other VAT
    assert len(json.loads(matched.stdout)["coupled"]) == 3

    first = sync(b)
    assert first["status"] == "ok", first
    quote = accept_quote_of_prospect(b, crm["zeta"])
    second = sync(b)
    assert second["status"] == "ok", second
    third = sync(b)
    assert third["status"] == "ok", third

    coupled = links(b)
    # the matched pairs are one record each; every ERP customer is in the CRM exactly once
    for key in ("rhein", "mueller", "nord"):
        assert coupled[erp[key]] == crm[key]
    assert set(erp.values()) <= set(coupled)
    rows = crm_accounts(b)
    assert len(rows) == len(crm) + len(erp) - 3 and len({r["id"] for r in rows}) == len(rows)
    by_number: dict[str, int] = {}
    for row in rows:
        number = (row.get("custom_fields") or {}).get("erp_customer_no")
        if number:
            by_number[number] = by_number.get(number, 0) + 1
    assert all(n == 1 for n in by_number.values()), by_number

    # every ERP fact the policy sends is stored in the CRM, custom fields included
    policy = load_policy(merge(policy_data(), {})).rules("account").fields
    sent = [f for f, rule in policy.items() if rule.flows("erp")
            and f in b.crm.discover()["account"].writable and f in b.erp.discover()["account"].readable]
    for erp_id, crm_id in coupled.items():
        mine = b.erp.read("account", [erp_id])[0].record.model_dump(mode="json")
        theirs = b.crm.read("account", [crm_id])[0].record.model_dump(mode="json")
        if erp_id == erp["acme"]:
            assert theirs["name"] == f"Acme Industrie AG ({numbers['acme']})"  # the prospect holds the name
            mine["name"] = theirs["name"]
        wrong = {f: (mine.get(f), theirs.get(f)) for f in sent if not same(mine.get(f), theirs.get(f))}
        assert not wrong, (erp_id, wrong)
        raw = crm_account(b, crm_id)["custom_fields"]
        assert raw["erp_customer_no"] == mine["number"]
        assert raw.get("payment_terms") == mine["payment_term"]
    rhein = crm_account(b, crm["rhein"])["custom_fields"]
    assert rhein["vat_id"] == VAT["rhein"] and rhein["payment_terms"] == "Net 30 days"
    assert Decimal(str(rhein["open_amount"])) > 0 and Decimal(str(rhein["credit_limit"])) == 25000
    assert crm_account(b, crm["nord"])["industry"] == "FOOD & BEVERAGE"  # CRM-owned, kept
    assert crm_account(b, crm["acme"])["name"] == "ACME INDUSTRIE AG"  # never merged by name

    # the prospect's accepted quote made it an ERP customer; its number and the order number came back
    zeta = coupled_erp_id(coupled, crm["zeta"])
    zeta_number = b.erp.read("account", [zeta])[0].record.number
    assert crm_account(b, crm["zeta"])["custom_fields"]["erp_customer_no"] == zeta_number
    assert b.erp.find("account", [{"vat_id": VAT["zeta"]}]) == [zeta]
    estimate = b.crm.client.get(f"invoices/estimates/{quote}/")
    order_no = ((estimate.get("estimate") or estimate).get("custom_fields") or {}).get("erp_order_no")
    assert order_no and order_no == b.erp.read("quote", [koppel_link(b, "quote", quote)])[0].record.order_number

    # nothing was reported that nobody did
    status = json.loads(koppel("status", "--json", cwd=b.workdir).stdout)
    assert status["violations"] == 0 and status["errors"].get("open", 0) == 0, status

    # a CRM edit of an ERP-owned field is reverted and recorded once
    b.crm.client.patch(f"accounts/{crm['rhein']}/", {"name": "Rheinwerk (renamed by sales)"})
    assert sync(b)["stats"]["account"]["reverted"] == 1
    sync(b)
    assert crm_account(b, crm["rhein"])["name"] == "Rheinwerk Werkzeuge GmbH"
    violations = json.loads(koppel("violations", "--json", cwd=b.workdir).stdout)
    assert [(v["field"], v["attempted"]) for v in violations] == [("name", "Rheinwerk (renamed by sales)")]


def coupled_erp_id(coupled: dict[str, str], crm_id: str) -> str:
    [erp_id] = [e for e, c in coupled.items() if c == crm_id]
    return erp_id


def koppel_link(b: Bare, entity: str, crm_id: str) -> str:
    from koppel.store import Store

    store = Store.open(f"sqlite:///{b.workdir / 'koppel.db'}")
    try:
        return store.links.by_ids(entity, "crm", [crm_id])[crm_id].erp_id
    finally:
        store.close()


def test_a_field_not_provisioned_is_named_by_check_and_sync_refuses(bare: Bare) -> None:
    b = bare
    check = koppel("check", cwd=b.workdir)
    assert check.returncode == 2
    assert "Account.erp_customer_no" in check.stdout and "koppel setup" in check.stderr
    refused = koppel("sync", cwd=b.workdir)
    assert refused.returncode == 2
    assert "Account.erp_customer_no" in refused.stderr and "koppel setup" in refused.stderr
    assert crm_accounts(b) == []  # nothing was written
    assert koppel("sync", "--dry-run", cwd=b.workdir).returncode == 0  # a plan only writes nothing


def test_values_a_bare_crm_drops_are_errors_naming_the_field_never_violations(bare: Bare) -> None:
    """The engine run without the start check, as before provisioning existed: BottleCRM drops
    the values of custom fields nobody defined, and koppel says so per record."""
    from koppel.config import load_settings
    from koppel.engine.runtime import open_runtime

    b = bare
    make(b.erp, "account", {"name": "Dropped Values GmbH", "vat_id": VAT["rhein"], "payment_term": "Net 30 days"})
    with open_runtime(load_settings(b.workdir / "koppel.toml")) as rt:
        rt.connectors["erp"].provision([r for r in rt.connectors["erp"].requirements()  # type: ignore[attr-defined]
                                        if not r.present and r.creatable])
        report = rt.engine.sync(["account"])
        assert report.status == "partial"
        [error] = rt.store.errors.list("open")
        assert "number: wrote" in error.message and "vat_id: wrote" in error.message
        assert rt.store.findings.violations() == []
        again = rt.engine.sync(["account"])
        assert (again.total("violations"), again.total("reverted")) == (0, 0)
        assert len(rt.store.errors.list("open")) == 1
