"""R3: contacts, the invoice recipient included, are kept in step both ways.
R4: products and prices flow ERP→CRM and are read-only there."""

from __future__ import annotations

from decimal import Decimal

from koppel.connectors.base import WriteOp
from koppel.testing.builders import make, twin
from tests.scenarios.conftest import Coupled


def test_contacts_and_the_invoice_recipient_are_kept_in_step(coupled: Coupled) -> None:
    c = coupled
    account = make(c.erp, "account", {"name": "Polder Logistiek B.V.", "postcode": "3011"})
    buyer = make(c.erp, "contact", {"first_name": "Sanne", "last_name": "Bakker", "account": account,
                                    "email": "sanne@polder.example", "invoice_recipient": True})
    assert c.engine.sync(["account", "contact"]).status == "ok"
    crm_buyer = c.crm.read("contact", [twin(c.store, buyer, "contact", "erp")])[0].record
    assert (crm_buyer.last_name, crm_buyer.email, crm_buyer.invoice_recipient) == (
        "Bakker", "sanne@polder.example", True)
    assert crm_buyer.account == twin(c.store, account, "account", "erp")
    # sales records a new phone number in the CRM: it reaches the ERP
    c.crm.write("contact", [WriteOp("p", {"phone": "+31 10 4567"}, twin(c.store, buyer, "contact", "erp"))])
    c.engine.sync(["account", "contact"])
    assert c.erp.read("contact", [buyer])[0].record.phone == "+31 10 4567"
    # and a colleague added in the CRM appears in the ERP under the same customer
    crm_account = twin(c.store, account, "account", "erp")
    colleague = make(c.crm, "contact", {"first_name": "Pieter", "last_name": "Visser", "account": crm_account,
                                        "email": "pieter@polder.example"})
    c.engine.sync(["account", "contact"])
    erp_colleague = c.erp.read("contact", [twin(c.store, colleague, "contact", "crm")])[0].record
    assert (erp_colleague.last_name, erp_colleague.account) == ("Visser", account)


def test_products_and_prices_flow_from_the_erp_and_are_read_only_in_the_crm(coupled: Coupled) -> None:
    c = coupled
    product = make(c.erp, "product", {"name": "Pallet Wrap", "code": "PW-100",
                                      "list_price": {"amount": "24.9", "currency": "EUR"}, "unit": "u"})
    assert c.engine.sync(["product"]).status == "ok"
    crm_id = twin(c.store, product, "product", "erp")
    crm_product = c.crm.read("product", [crm_id])[0].record
    assert (crm_product.code, crm_product.name, crm_product.list_price.amount if crm_product.list_price else None) == (
        "PW-100", "Pallet Wrap", Decimal("24.9"))
    # a price typed into the CRM is not the price: the ERP's comes back and the edit is reported
    c.crm.write("product", [WriteOp("p", {"list_price": {"amount": "1", "currency": "EUR"}}, crm_id)])
    report = c.engine.sync(["product"])
    assert report.total("reverted") == 1
    reverted = c.crm.read("product", [crm_id])[0].record.list_price
    assert reverted is not None and str(reverted.amount) == "24.9"
    assert [v.field for v in c.store.findings.violations()] == ["list_price"]
    # a price change in the ERP reaches the CRM
    c.erp.write("product", [WriteOp("p", {"list_price": {"amount": "26.5", "currency": "EUR"}}, product)])
    c.engine.sync(["product"])
    changed = c.crm.read("product", [crm_id])[0].record.list_price
    assert changed is not None and str(changed.amount) == "26.5"
