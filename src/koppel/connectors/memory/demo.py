"""Generated demo data for an in-memory ERP or CRM: customers, contacts, catalogue, prospects."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from koppel.connectors.memory.connector import MemoryConnector

_CITIES = [("10115", "Berlin", "DE"), ("80331", "München", "DE"), ("1011", "Amsterdam", "NL"),
           ("3011", "Rotterdam", "NL"), ("1010", "Wien", "AT"), ("8001", "Zürich", "CH")]
_WORDS = ["Nord", "Süd", "Alpen", "Delta", "Rhein", "Polder", "Tulp", "Stahl", "Holz", "Licht"]
_KINDS = ["GmbH", "AG", "B.V.", "KG", "N.V."]
_FIRST = ["Anna", "Jan", "Eva", "Lukas", "Sanne", "Pieter", "Mia", "Felix"]
_LAST = ["Muster", "de Vries", "Huber", "Jansen", "Bakker", "Schmid", "Visser", "Weber"]


def seed(system: MemoryConnector, flavour: str, accounts: int) -> None:
    """Fill `system` with `accounts` customers (erp) or prospects (crm), deterministically."""
    rng = random.Random(f"{flavour}-{accounts}")
    if flavour == "erp":
        _seed_reference(system)
    for n in range(1, accounts + 1):
        _seed_account(system, flavour, n, rng)


def _seed_reference(system: MemoryConnector) -> None:
    for code, name in [("EUR", "Euro"), ("CHF", "Swiss franc"), ("USD", "US dollar")]:
        system.put("currency", {"code": code, "name": name})
    for name in ["Net 14 days", "Net 30 days", "Upon receipt"]:
        system.put("payment_term", {"name": name})
    for n in range(1, 21):
        price = {"amount": f"{10 * n}.50", "currency": "EUR"}
        system.put("product", {"code": f"P-{n:04d}", "name": f"Widget {n}", "list_price": price,
                               "unit": "unit"})


def _seed_account(system: MemoryConnector, flavour: str, n: int, rng: random.Random) -> None:
    postcode, city, country = rng.choice(_CITIES)
    name = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)}werk {n} {rng.choice(_KINDS)}"
    values = {"name": name, "postcode": postcode,
              "billing_address": {"street": f"Hauptstraße {n}", "postcode": postcode,
                                  "city": city, "country": country}}
    if flavour == "erp":
        values.update({"number": f"C{10000 + n}", "vat_id": f"{country}{100000000 + n}",
                       "currency": "EUR", "payment_term": "Net 30 days",
                       "credit_limit": {"amount": str(rng.choice([5000, 10000, 25000])),
                                        "currency": "EUR"}})
    else:
        values.update({"status": "prospect", "industry": rng.choice(["retail", "industry"])})
    account = system.put("account", values)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    system.put("contact", {"first_name": first, "last_name": last, "account": account,
                           "email": f"{first.lower()}.{n}@{flavour}-{n}.example",
                           "invoice_recipient": True})
