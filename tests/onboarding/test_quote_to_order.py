"""R5, R6 on systems koppel did not build: a quote typed the way people type it (product names, a
code, one product link) becomes a Tryton sale the ERP can ship and invoice, priced and taxed by
Tryton, and the order's life comes back to the CRM quote step by step."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from koppel.testing.builders import make
from koppel.testing.cli import koppel
from tests.onboarding.conftest import Bare
from tests.onboarding.test_bare_peers import crm_products, sync


def catalogue(b: Bare) -> dict[str, str]:
    """Two goods in stock and a service, as the ERP's own catalogue holds them."""
    goods = {key: make(b.erp, "product", {"name": name, "code": code, "unit": "u",
                                          "list_price": {"amount": price, "currency": "EUR"}})
             for key, name, code, price in (("pump", "Hydraulic pump", "HP-1", "90"),
                                            ("motor", "Gear motor", "GM-2", "240"))}
    client = b.erp.client
    [storage] = client.model("stock.location", "search", [("code", "=", "STO")], 0, 1, None)
    [inventory] = client.model("stock.inventory", "create", [{"location": storage, "lines": [
        ["create", [{"product": int(p), "quantity": 100.0} for p in goods.values()]]]}])
    client.model("stock.inventory", "confirm", [inventory])
    [unit] = client.model("product.uom", "search", [("symbol", "=", "u")], 0, 1, None)
    [template] = client.model("product.template", "create", [{
        "name": "Installation service", "type": "service", "default_uom": unit, "sale_uom": unit, "salable": True,
        "list_price": Decimal("150"), "account_category": b.erp.lookups.goods.category,
        "products": [["create", [{"suffix_code": "SV-3"}]]]}])
    [service] = client.model("product.product", "search", [("template", "=", template)], 0, 1, None)
    return {**goods, "service": str(service)}


def prospect_quote(b: Bare, lines: list[dict[str, Any]], name: str) -> str:
    account = b.crm.client.post("accounts/", {"name": name, "postcode": "60311", "city": "Frankfurt",
                                              "country": "DE", "currency": "EUR"})["id"]
    contact = b.crm.client.post("contacts/", {"first_name": "Ida", "last_name": "Kunde", "account": account,
                                              "email": f"ida@{account[:8]}.example"})["id"]
    quote = b.crm.client.post("invoices/estimates/", {"title": "Pumps and installation", "account_id": account,
                                                      "contact_id": contact, "currency": "EUR",
                                                      "line_items": lines})
    quote_id = str((quote.get("estimate") or quote)["id"])
    b.crm.accept_quote(quote_id, name="Ida Kunde", email="ida@example.org")
    return quote_id


def sale_of(b: Bare, quote_id: str) -> dict[str, Any]:
    """The Tryton sale a CRM quote became, found by the quote number it carries as reference."""
    estimate = b.crm.client.get(f"invoices/estimates/{quote_id}/")
    number = (estimate.get("estimate") or estimate)["estimate_number"]
    found = b.erp.client.model("sale.sale", "search_read", [("reference", "=", number)], 0, None, None,
                               ["state", "number", "payment_term", "untaxed_amount", "tax_amount", "lines",
                                "shipments", "invoices", "comment"])
    assert len(found) <= 1, found
    return found[0] if found else {}


def quote_fields(b: Bare, quote_id: str) -> dict[str, Any]:
    estimate = b.crm.client.get(f"invoices/estimates/{quote_id}/")
    fields: dict[str, Any] = (estimate.get("estimate") or estimate).get("custom_fields") or {}
    return fields


def test_an_accepted_quote_becomes_an_order_tryton_can_ship_and_invoice(bare: Bare) -> None:
    b = bare
    config = b.workdir / "koppel.toml"  # the term of a new customer's sale, as Tryton has no default
    config.write_text(config.read_text().replace('[systems.erp.settings]\n',
                                                 '[systems.erp.settings]\ndefault_payment_term = "Net 30 days"\n'))
    assert koppel("setup", cwd=b.workdir).returncode == 0
    products = catalogue(b)
    sync(b)  # the catalogue reaches the CRM
    [service] = [p for p in crm_products(b) if p.get("sku") == "SV-3"]
    quote = prospect_quote(b, [
        {"name": "Hydraulic pump", "quantity": "10", "unit_price": "85"},  # the exact name only
        {"name": "GM-2", "quantity": "2", "unit_price": "240"},  # the code only
        {"product": service["id"], "name": "Installation", "quantity": "1", "unit_price": "150"}],  # a link
        "Kundenwerk Frankfurt GmbH")
    assert sync(b)["status"] == "ok"
    sale = sale_of(b, quote)
    assert sale["state"] in ("confirmed", "processing")
    lines = b.erp.client.model("sale.line", "read", sale["lines"], ["product", "quantity", "amount", "taxes"])
    assert sorted(str(line["product"]) for line in lines) == sorted(products.values())
    rates = {t["id"]: Decimal(str(t["rate"])) for t in b.erp.client.model(
        "account.tax", "read", sorted({t for line in lines for t in line["taxes"]}), ["rate"])}
    expected = sum((Decimal(str(line["amount"])) * rates[t] for line in lines for t in line["taxes"]), Decimal(0))
    assert rates and Decimal(str(sale["tax_amount"])) == expected.quantize(Decimal("0.01")) > 0
    [term] = b.erp.client.model("account.invoice.payment_term", "read", [sale["payment_term"]], ["name"])
    assert term["name"] == "Net 30 days"
    assert sale["shipments"], "the goods must ship"
    assert "line 1 'Hydraulic pump': 90" in (sale["comment"] or "")  # quoted 85: said, not silent
    sync(b)
    back = quote_fields(b, quote)
    assert back["erp_order_no"] == sale["number"] and "instead of 85" in back["erp_note"]

    # Tryton's own workflow, step by step, each step on the CRM quote
    b.erp.ship([str(i) for i in sale["shipments"]])
    sync(b)
    assert "done" in quote_fields(b, quote)["erp_history"]
    invoices = [str(i) for i in sale_of(b, quote)["invoices"]]
    b.erp.post_invoices(invoices)
    sync(b)
    history = quote_fields(b, quote)["erp_history"]
    assert f"order {sale['number']}" in history and "invoice" in history and "posted" in history
    b.erp.pay(invoices[0])
    sync(b)
    back = quote_fields(b, quote)
    assert back["invoice_status"] == "paid" and "settled" in back["erp_history"], back
    assert back["shipment_status"] == "sent"

    # a complaint about the motor: the account's one order, and the order's line of that product
    estimate = b.crm.client.get(f"invoices/estimates/{quote}/")
    account = (estimate.get("estimate") or estimate)["account"]
    b.crm.client.post("cases/", {"name": "Gear motor GM-2 runs hot", "status": "New", "priority": "High",
                                 "account": account["id"] if isinstance(account, dict) else account,
                                 "contacts": [], "teams": [], "assigned_to": [],
                                 "custom_fields": {"case_kind": "complaint"}})
    assert sync(b)["status"] == "ok"
    [complaint] = b.erp.client.model("sale.complaint", "search_read", [], 0, None, None, ["origin", "description"])
    model, line_id = complaint["origin"].split(",")
    [line] = b.erp.client.model("sale.line", "read", [int(line_id)], ["sale", "product"])
    assert (model, line["sale"], str(line["product"])) == ("sale.line", sale["id"], products["motor"])
    assert sync(b)["status"] == "ok"  # the complaint read back is the case it came from: no error


def test_a_line_no_product_matches_holds_the_handoff_and_nothing_is_ordered(bare: Bare) -> None:
    b = bare
    assert koppel("setup", cwd=b.workdir).returncode == 0
    catalogue(b)
    sync(b)
    quote = prospect_quote(b, [{"name": "Hydraulic pump", "quantity": "1", "unit_price": "90"},
                               {"name": "Hydraulic pump XL", "quantity": "1", "unit_price": "120"}], "Typo Werk AG")
    run = koppel("sync", "--json", cwd=b.workdir)
    assert run.returncode == 0, run.stderr
    assert sale_of(b, quote) == {}
    held = json.loads(koppel("errors", "list", "--status", "held", "--json", cwd=b.workdir).stdout)
    [error] = [e for e in held if e["entity"] == "quote"]
    assert "line 2 'Hydraulic pump XL' matches no ERP product" in error["message"]
    assert not b.erp.find("account", [{"name": "Typo Werk AG", "postcode": "60311"}])[0]  # still a prospect
    # the ERP's catalogue gets the product the customer accepted; the retry orders it once
    make(b.erp, "product", {"name": "Hydraulic pump XL", "code": "HP-XL", "unit": "u",
                            "list_price": {"amount": "120", "currency": "EUR"}})
    retried = koppel("errors", "retry", str(error["id"]), "--json", cwd=b.workdir)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    sync(b)
    sale = sale_of(b, quote)
    assert sale and len(sale["lines"]) == 2
