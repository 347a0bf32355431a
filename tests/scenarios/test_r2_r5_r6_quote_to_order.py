"""R2, R5, R6: a prospect's accepted quote becomes a Tryton sale priced from the ERP; the prospect
becomes an ERP customer with its number written back; later CRM edits to the quote are flagged and
reverted, never applied; order, shipment and invoice status flow back to the quote."""

from __future__ import annotations

from koppel.connectors.base import WriteOp
from koppel.testing.builders import make
from tests.scenarios.conftest import Coupled


def crm_id(c: Coupled, entity: str, erp_id: str) -> str:
    return c.store.links.by_ids(entity, "erp", [erp_id])[erp_id].crm_id


def erp_id(c: Coupled, entity: str, crm_record: str) -> str:
    return c.store.links.by_ids(entity, "crm", [crm_record])[crm_record].erp_id


def stock(c: Coupled, product: str) -> None:
    location = (c.erp.settings.setup or {})["storage_location"]
    [inventory] = c.erp.client.model("stock.inventory", "create", [{
        "location": location, "lines": [["create", [{"product": int(product), "quantity": 500.0}]]]}])
    c.erp.client.model("stock.inventory", "confirm", [inventory])


def prospect_with_quote(c: Coupled) -> tuple[str, str, str]:
    product = make(c.erp, "product", {"name": "Gear motor", "code": "GM-1", "unit": "u",
                                      "list_price": {"amount": "240", "currency": "EUR"}})
    stock(c, product)
    c.engine.sync(["product"])
    account = make(c.crm, "account", {"name": "NewCo Robotics AG", "postcode": "8001", "vat_id": "CHE123456789",
                                      "billing_address": {"street": "Seestr. 1", "postcode": "8001",
                                                          "city": "Zürich", "country": "CH"}})
    contact = make(c.crm, "contact", {"first_name": "Lotte", "last_name": "Kramer", "account": account,
                                      "email": "lotte@newco.example"})
    quote = make(c.crm, "quote", {"title": "Robot cell", "account": account, "contact": contact,
                                  "currency": "EUR", "lines": [{"product": crm_id(c, "product", product),
                                                                "quantity": "4",
                                                                "unit_price": {"amount": "199", "currency": "EUR"}}]})
    return account, quote, product


def test_an_accepted_quote_becomes_a_tryton_sale_and_couples_the_prospect(coupled: Coupled) -> None:
    c = coupled
    account, quote, product = prospect_with_quote(c)
    report = c.engine.sync()
    assert report.total("held") >= 1 and not c.store.links.by_ids("account", "crm", [account])
    c.crm.accept_quote(quote, name="Lotte Kramer", email="lotte@newco.example")
    report = c.engine.sync()
    assert report.status == "ok", report.message
    assert report.total("coupled") == 1
    party = erp_id(c, "account", account)
    sale = erp_id(c, "quote", quote)
    order = c.erp.read("quote", [sale])[0].record.model_dump(mode="json")
    assert order["account"] == party and order["status"] == "accepted" and order["order_number"]
    line = order["lines"][0]
    assert line["product"] == product and line["quantity"] == "4"
    assert line["unit_price"]["amount"] != "199"  # priced from the ERP's price list
    back = c.engine.sync()  # the ERP's customer number and order number come back
    assert back.status == "ok", [e.message for e in c.store.errors.list()]
    crm_account = c.crm.read("account", [account])[0].record
    assert crm_account.number == c.erp.read("account", [party])[0].record.number
    assert crm_account.number and crm_account.status == "customer"
    crm_quote = c.crm.read("quote", [quote])[0].record
    assert crm_quote.order_number == order["order_number"] and crm_quote.erp_link
    # the contact that waited for its account follows it into the ERP
    c.engine.sync()
    assert c.store.links.by_ids("contact", "crm", [_contact_of(c, account)])
    # a retry or a second trigger never creates a second party
    parties = c.erp.find("account", [{"vat_id": "CHE123456789"}])
    c.engine.sync(full=True)
    assert c.erp.find("account", [{"vat_id": "CHE123456789"}]) == parties


def _contact_of(c: Coupled, account: str) -> str:
    return next(r.id for b in c.crm.read_changes("contact", None) for r in b.records
                if getattr(r.record, "account", None) == account)


def test_the_handoff_is_one_shot_and_status_flows_back(coupled: Coupled) -> None:
    c = coupled
    _, quote, _ = prospect_with_quote(c)
    c.crm.accept_quote(quote, name="Lotte Kramer", email="lotte@newco.example")
    c.engine.sync()
    sale = erp_id(c, "quote", quote)
    # sales changes the accepted quote in the CRM: flagged, never applied to the order
    c.crm.write("quote", [WriteOp("edit", {"title": "Robot cell, two more"}, quote)])
    c.engine.sync()
    assert c.erp.read("quote", [sale])[0].record.title == "Robot cell"
    assert any(v.entity == "quote" and v.field == "title" for v in c.store.findings.violations())
    # the warehouse ships and accounting invoices: the CRM quote shows it
    documents = c.erp.sale_documents(sale)
    c.erp.ship(documents["shipments"])
    c.erp.post_invoices(documents["invoices"])
    c.engine.sync()
    shown = c.crm.read("quote", [quote])[0].record
    assert shown.shipment_status == "sent" and shown.invoice_status == "awaiting payment"
    assert shown.planned_ship_date is not None and shown.order_status in ("processing", "done")
