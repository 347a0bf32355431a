"""Realistic demo data for the real peers: an ERP with customers, a catalogue and two years of
sales, shipments, invoices, payments and credit notes; a CRM with prospects and quotes.

Everything goes through the connectors (and Tryton's workflow buttons), as a user's work would.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from koppel.connectors.base import WriteOp
from koppel.connectors.bottlecrm import BottleCrmConnector
from koppel.connectors.tryton import TrytonConnector

Say = Callable[[str], None]
CITIES = [("10115", "Berlin", "DE"), ("80331", "München", "DE"), ("50667", "Köln", "DE"),
          ("1011", "Amsterdam", "NL"), ("3011", "Rotterdam", "NL"), ("1010", "Wien", "AT"),
          ("8001", "Zürich", "CH"), ("1000", "Bruxelles", "BE")]
WORDS = ["Nord", "Süd", "Alpen", "Delta", "Rhein", "Polder", "Tulp", "Stahl", "Holz", "Licht", "Elbe", "Maas"]
TRADES = ["Maschinenbau", "Logistik", "Bau", "Handel", "Technik", "Werkzeuge", "Verpackung"]
FORMS = ["GmbH", "AG", "B.V.", "KG", "N.V.", "GmbH & Co. KG"]
FIRST = ["Anna", "Jan", "Eva", "Lukas", "Sanne", "Pieter", "Mia", "Felix", "Lotte", "Jonas"]
LAST = ["Muster", "de Vries", "Huber", "Jansen", "Bakker", "Schmid", "Visser", "Weber", "Kramer"]
PRODUCTS = [("Hydraulic pump", "90"), ("Gear motor", "240"), ("Valve block", "65"), ("Pallet wrap", "24.9"),
            ("Sensor kit", "129"), ("Cable set", "18.5"), ("Control unit", "480"), ("Filter cartridge", "12.75"),
            ("Bearing", "9.8"), ("Conveyor belt", "310"), ("Safety switch", "45"), ("Mounting frame", "150")]


def _ok(outcomes: list[Any]) -> list[str]:
    failed = [o.error for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"demo data rejected: {failed[0]}")
    return [o.id for o in outcomes]


def seed_erp(erp: TrytonConnector, customers: int, sales: int, say: Say) -> dict[str, Any]:
    """Customers with address, contact, terms and credit limit; products in stock; sales."""
    rng = random.Random(7)
    say(f"ERP: {customers} customers with address, contact, payment terms and credit limit")
    accounts = _ok(erp.write("account", [WriteOp(str(n), _customer(rng, n)) for n in range(1, customers + 1)]))
    people = [WriteOp(str(i), {"first_name": rng.choice(FIRST), "last_name": rng.choice(LAST), "account": a,
                               "email": f"buyer{i}@customer{i}.example", "invoice_recipient": True})
              for i, a in enumerate(accounts, 1)]
    _ok(erp.write("contact", people))
    say(f"ERP: a catalogue of {len(PRODUCTS)} products, in stock")
    products = _ok(erp.write("product", [WriteOp(str(i), {
        "name": name, "code": f"P-{i:03d}", "unit": "u", "list_price": {"amount": price, "currency": "EUR"},
        "cost_price": {"amount": str((Decimal(price) * Decimal("0.55")).quantize(Decimal("0.01"))),
                       "currency": "EUR"}}) for i, (name, price) in enumerate(PRODUCTS, 1)]))
    _stock(erp, products)
    say(f"ERP: {sales} sales over two years, shipped, invoiced, paid in part, some credited")
    for i in range(sales):
        _sale(erp, rng, rng.choice(accounts[: max(1, customers // 3)]), products, i, sales)
    return {"accounts": accounts, "products": products}


def _customer(rng: random.Random, n: int) -> dict[str, Any]:
    postcode, city, country = rng.choice(CITIES)
    return {"name": f"{rng.choice(WORDS)} {rng.choice(TRADES)} {n} {rng.choice(FORMS)}",
            "email": f"info@customer{n}.example", "phone": f"+49 30 {100000 + n}",
            "payment_term": rng.choice(["Net 30 days", "Net 14 days", "Upon Receipt"]), "currency": "EUR",
            "credit_limit": {"amount": str(rng.choice([5000, 10000, 25000, 50000])), "currency": "EUR"},
            "postcode": postcode,
            "billing_address": {"street": f"{rng.choice(WORDS)}straße {n}", "postcode": postcode,
                                "city": city, "country": country}}


def _stock(erp: TrytonConnector, products: list[str]) -> None:
    location = (erp.settings.setup or {})["storage_location"]
    lines = [{"product": int(p), "quantity": 10_000.0} for p in products]
    [inventory] = erp.client.model("stock.inventory", "create", [{"location": location,
                                                                  "lines": [["create", lines]]}])
    erp.client.model("stock.inventory", "confirm", [inventory])


def _sale(erp: TrytonConnector, rng: random.Random, account: str, products: list[str], i: int, total: int) -> None:
    day = date.today() - timedelta(days=int(640 * (total - i) / total))  # the template has last year's books
    lines = [{"product": p, "quantity": str(rng.randint(1, 40))} for p in rng.sample(products, rng.randint(1, 3))]
    [sale] = _ok(erp.write("order", [WriteOp("s", {"account": account, "lines": lines,
                                                   "order_date": day.isoformat()})]))
    erp.quote([sale])
    erp.confirm([sale])
    docs = erp.sale_documents(sale)
    if docs["shipments"] and rng.random() < 0.9:
        erp.ship(docs["shipments"])
    invoices = docs["invoices"]
    if not invoices:
        return
    erp.client.model("account.invoice", "write", [int(x) for x in invoices], {"invoice_date": day})
    erp.post_invoices(invoices)
    luck = rng.random()
    if luck < 0.6:
        erp.pay(invoices[0])
    elif luck < 0.75:
        erp.pay(invoices[0], Decimal("50"))
    elif luck < 0.82:
        erp.credit(invoices[:1])


def seed_crm(crm: BottleCrmConnector, prospects: int, say: Say) -> list[str]:
    """Prospects (CRM-only companies) with a contact each."""
    rng = random.Random(11)
    say(f"CRM: {prospects} prospects with a contact")
    ids = _ok(crm.write("account", [WriteOp(str(n), {**_customer(rng, 900 + n), "status": "prospect",
                                                    "industry": rng.choice(["manufacturing", "software"])})
                                    for n in range(1, prospects + 1)]))
    _ok(crm.write("contact", [WriteOp(str(i), {"first_name": rng.choice(FIRST), "last_name": rng.choice(LAST),
                                              "account": a, "email": f"lead{i}@prospect{i}.example"})
                              for i, a in enumerate(ids, 1)]))
    return ids


def seed_quotes(crm: BottleCrmConnector, prospects: list[str], products: list[str], say: Say) -> list[str]:
    """A draft quote for a few prospects, priced from the CRM's copy of the ERP catalogue."""
    say(f"CRM: quotes for {min(3, len(prospects))} prospects")
    prices = {r.id: r.record.model_dump(mode="json")["list_price"] for r in crm.read("product", products)}
    contacts = [r for b in crm.read_changes("contact", None) for r in b.records]
    quotes = []
    for i, account in enumerate(prospects[:3]):
        theirs = [r.id for r in contacts if getattr(r.record, "account", None) == account]
        lines = [{"product": p, "quantity": str(5 * (i + 1)), "unit_price": prices[p]} for p in products[i:i + 2]]
        quotes += _ok(crm.write("quote", [WriteOp("q", {
            "title": f"Offer {i + 1}", "account": account, "contact": theirs[0] if theirs else None,
            "currency": "EUR", "lines": lines})]))
    return quotes
