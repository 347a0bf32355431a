"""The workspace in a real browser, over the real Tryton and BottleCRM: a user signs in with a
token, opens an account's 360° view and syncs it on demand, places an order through order entry
and sees Tryton's order number, and retries a record from the error queue after fixing it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from koppel.connectors.base import WriteOp
from koppel.testing.builders import make
from tests.browser.conftest import Site, shot, sign_in

pytestmark = [pytest.mark.tryton, pytest.mark.bottlecrm]
BERLIN = {"street": "Invalidenstr. 1", "postcode": "10115", "city": "Berlin", "country": "DE"}


def expect(page: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(page)


def product(site: Site, name: str, code: str, *, stocked: bool = True) -> str:
    """An ERP product, stocked with 500 and synced to the CRM; its ERP id."""
    found = make(site.erp, "product", {"name": name, "code": code, "unit": "u",
                                       "list_price": {"amount": "100", "currency": "EUR"},
                                       "cost_price": {"amount": "40", "currency": "EUR"}})
    if stocked:
        location = (site.erp.settings.setup or {})["storage_location"]
        [inventory] = site.erp.client.model("stock.inventory", "create", [{
            "location": location, "lines": [["create", [{"product": int(found), "quantity": 500.0}]]]}])
        site.erp.client.model("stock.inventory", "confirm", [inventory])
    site.engine.sync(["product"])
    return found


def invoiced_sale(site: Site, party: str, item: str, quantity: int, number: str) -> str:
    """A confirmed Tryton sale with its invoice posted; the invoice id."""
    sale = make(site.erp, "quote", {"number": number, "account": party, "currency": "EUR",
                                    "lines": [{"product": item, "quantity": str(quantity)}]})
    [invoice] = site.erp.sale_documents(sale)["invoices"]
    site.erp.post_invoices([invoice])
    return invoice


def crm_id(site: Site, entity: str, erp_id: str) -> str:
    return site.store.links.by_ids(entity, "erp", [erp_id])[erp_id].crm_id


def test_an_operator_signs_in_opens_an_account_360_and_syncs_it_now(page: Any, site: Site) -> None:
    item = product(site, "Gear motor", "WEB-GM")
    party = make(site.erp, "account", {"name": "Alpen Maschinenbau AG", "billing_address": BERLIN})
    site.engine.sync(["account"])
    invoiced_sale(site, party, item, 3, "WEB-S1")
    invoiced_sale(site, party, item, 1, "WEB-S2")

    page.goto("/accounts")  # every page needs a signed-in user
    expect(page).to_have_url(re.compile(r"/signin\?next=/accounts$"))
    shot(page, "01-signin")
    page.fill("#token", "kp_not-a-token")
    page.click("button[type=submit]")
    expect(page.locator(".flash.error")).to_contain_text("That token was not accepted")
    page.fill("#token", site.tokens["operator"])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/accounts$"))
    expect(page.locator(".who-name")).to_have_text("otto")

    page.fill("input[name=q]", "Alpen")
    page.click("text=Search")
    shot(page, "02-accounts")
    page.click("text=Alpen Maschinenbau AG")
    expect(page.locator("h1")).to_have_text("Alpen Maschinenbau AG")
    name_row = page.locator("table.fields tr", has=page.locator("td.fname", has_text=re.compile("^name$")))
    expect(name_row.locator(".badge.owner-erp")).to_have_text("ERP")
    expect(page.locator("text=WEB-S1").first).to_be_visible()  # the ERP's orders
    expect(page.locator("section", has_text="Invoices").locator("tbody tr")).to_have_count(2)
    shot(page, "03-account-360")

    site.erp.write("account", [WriteOp("rename", {"name": "Alpen Maschinenbau GmbH"}, party)])
    page.click("button:has-text('Sync now')")
    expect(page.locator(".flash")).to_contain_text("Sync finished: ok")
    expect(page.locator(".flash")).to_contain_text("updated 1")
    expect(name_row.locator("td").nth(5)).to_have_text("Alpen Maschinenbau GmbH")  # the CRM's value now
    shot(page, "04-account-synced")
    assert site.crm.read("account", [crm_id(site, "account", party)])[0].record.name == "Alpen Maschinenbau GmbH"

    page.click("a.doc >> nth=0")  # a document, fetched live from Tryton
    expect(page.locator(".sub")).to_contain_text("fetched live")
    shot(page, "05-document-live")


def test_an_order_placed_through_order_entry_gets_its_tryton_number(page: Any, site: Site) -> None:
    item = product(site, "Drive unit", "WEB-DU")
    product(site, "Controller", "WEB-CT", stocked=False)
    account = make(site.crm, "account", {"name": "Orderly Web GmbH", "postcode": "50667", "billing_address": {
        "street": "Ring 1", "postcode": "50667", "city": "Köln", "country": "DE"}})
    make(site.crm, "contact", {"first_name": "Ada", "last_name": "Buyer", "account": account,
                               "email": "ada@orderly-web.example"})
    sign_in(page, site, then="/orders/new")
    page.goto(f"/orders/new?account={account}")
    expect(page.locator("#account")).to_have_value(account)
    page.select_option("select[name=product] >> nth=0", crm_id(site, "product", item))
    page.fill("input[name=quantity] >> nth=0", "2")
    page.click("button:has-text('Check availability')")
    expect(page.locator(".ship-date")).to_contain_text("Proposed ship date")
    expect(page.locator("text=from stock")).to_be_visible()
    shot(page, "06-order-entry")

    page.click("button:has-text('Place order')")
    expect(page.locator("h1")).to_have_text("Order placed")
    number = page.locator("#order-number").inner_text().strip()
    assert number and page.locator("#ship-date").inner_text().strip()
    shot(page, "07-order-placed")
    assert site.erp.find("order", [{"number": number}])[0], f"Tryton holds no order {number}"


def test_a_record_the_crm_rejected_is_retried_from_the_error_queue(page: Any, site: Site) -> None:
    long_name = "Doppel Web GmbH " + "Handel und Vertrieb " * 14  # Tryton takes it, BottleCRM stops at 255
    second = make(site.erp, "account", {"name": long_name, "billing_address": {
        "street": "Marienplatz 1", "postcode": "80331", "city": "München", "country": "DE"}})
    site.engine.sync(["account"])
    [error] = [e for e in site.store.errors.list() if e.source_id == second]
    assert "255 characters" in error.message

    sign_in(page, site, then="/monitor/errors")
    row = page.locator("tr", has=page.locator(f"a[href='/monitor/errors/{error.id}']"))
    expect(row).to_contain_text("255 characters")
    shot(page, "08-error-queue")
    page.click(f"a.btn[href='/monitor/errors/{error.id}']")
    expect(page.locator("textarea[name=payload]")).to_contain_text("Doppel Web GmbH")
    shot(page, "09-error-detail")

    site.erp.write("account", [WriteOp("fix", {"name": "Doppel Web München GmbH"}, second)])  # fixed at the source
    page.click("button:has-text('Retry') >> nth=0")
    expect(page.locator(".flash")).to_contain_text("the record went through")
    expect(page.locator(f"a[href='/monitor/errors/{error.id}']")).to_have_count(0)
    shot(page, "10-error-retried")
    assert site.store.links.by_ids("account", "erp", [second])


def test_a_viewer_sees_the_monitor_and_analytics_but_no_actions(page: Any, site: Site) -> None:
    item = product(site, "Valve", "WEB-VA")
    big, small = (make(site.erp, "account", {"name": name, "billing_address": BERLIN})
                  for name in ("Big Buyer AG", "Small Shop KG"))
    site.engine.sync(["account"])
    invoiced_sale(site, big, item, 4, "WEB-A1")
    credited = invoiced_sale(site, big, item, 1, "WEB-A2")
    site.erp.post_invoices(site.erp.credit([credited]))
    invoiced_sale(site, small, item, 1, "WEB-A3")

    sign_in(page, site, "viewer", then="/monitor")
    expect(page.locator("h2", has_text="Runs")).to_be_visible()
    expect(page.locator("button:has-text('Queue incremental sync')")).to_have_count(0)
    shot(page, "11-monitor")
    page.goto(f"/accounts/erp:{big}")
    expect(page.locator("h1")).to_have_text("Big Buyer AG")
    expect(page.locator("button:has-text('Sync now')")).to_have_count(0)
    for path, name in (("/monitor/conflicts", "12-conflicts"), ("/monitor/violations", "13-violations"),
                       ("/monitor/reconcile?check=true", "14-reconcile")):
        page.goto(path)
        expect(page.locator(".card").first).to_be_visible()
        shot(page, name)
    page.goto("/analytics")
    expect(page.locator("svg.chart").first).to_be_visible()
    expect(page.locator("table", has_text="Big Buyer AG").first).to_be_visible()
    expect(page.locator("button:has-text('Push tiers')")).to_have_count(0)
    shot(page, "15-analytics")


SPOKEN = {  # what the 360° view and the monitor say in each language, and how it writes an amount
    "en": {"invoices": "Invoices", "invoice": "Invoice", "open": "Open amount", "dunning": "Dunning level",
           "monitor": "Sync monitor", "jobs": "Job queue", "amount": r"€\d{1,3}(,\d{3})*\.\d{2}"},
    "de": {"invoices": "Rechnungen", "invoice": "Rechnung", "open": "Offene Posten", "dunning": "Mahnstufe",
           "monitor": "Synchronisation", "jobs": "Job-Warteschlange", "amount": r"\d{1,3}(\.\d{3})*,\d{2}\s€"},
    "nl": {"invoices": "Facturen", "invoice": "Factuur", "open": "Openstaand bedrag", "dunning": "Aanmaning",
           "monitor": "Synchronisatie", "jobs": "Takenwachtrij", "amount": r"€\s\d{1,3}(\.\d{3})*,\d{2}"},
}


def test_the_account_360_and_the_monitor_speak_english_german_and_dutch(browser: Any, site: Site) -> None:
    item = product(site, "Hydraulic press", "WEB-HP")
    party = make(site.erp, "account", {"name": "Van der Berg Techniek BV", "billing_address": BERLIN})
    site.engine.sync(["account"])
    invoiced_sale(site, party, item, 12, "WEB-L1")  # 1,200 before tax: a thousands separator to write
    # English as the browser asks; German chosen on the page; Dutch as the next browser asks
    for language, browser_locale in (("en", "en-US"), ("de", "en-US"), ("nl", "nl-NL")):
        context = browser.new_context(base_url=site.url, viewport={"width": 1440, "height": 900},
                                      locale=browser_locale)
        context.set_default_timeout(60_000)
        page = context.new_page()
        try:
            sign_in(page, site, "operator", then=f"/accounts/erp:{party}")
            if language == "de":
                page.select_option("#language", "de")  # sent at once by the page's script
                expect(page.locator(".flash.ok")).to_contain_text("Der Arbeitsplatz spricht jetzt Deutsch.")
            elif language == "nl":
                page.select_option("#language", "")  # back to the browser's language
                expect(page.locator(".flash.ok")).to_contain_text("De werkplek spreekt nu Nederlands.")
            _speaks(page, language, party)
        finally:
            context.close()
    assert site.store.users.existing("otto").language is None


def _speaks(page: Any, language: str, party: str) -> None:
    words = SPOKEN[language]
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("h1")).to_have_text("Van der Berg Techniek BV")
    invoices = page.locator("[data-section=invoices]")
    expect(invoices.locator("h2")).to_have_text(words["invoices"])
    expect(invoices.locator("thead")).to_contain_text(words["invoice"])
    expect(invoices.locator("thead")).to_contain_text(words["dunning"])
    expect(invoices.locator("tbody tr")).to_have_count(1)
    expect(page.locator("[data-kpi=open] .kpi-label")).to_have_text(words["open"])
    expect(page.locator("[data-kpi=open] .kpi-value")).to_have_text(re.compile(words["amount"]))
    expect(invoices.locator("tbody td.num").first).to_have_text(re.compile(words["amount"]))
    shot(page, f"account-360-{language}")
    page.goto("/monitor")
    expect(page.locator("h1")).to_have_text(words["monitor"])
    expect(page.locator("h2", has_text=words["jobs"])).to_be_visible()
    shot(page, f"monitor-{language}")
