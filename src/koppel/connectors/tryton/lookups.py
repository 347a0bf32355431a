"""Loads the reference data of one Tryton database (company, codes, defaults) in a few calls.

Reads only: what koppel needs and Tryton lacks (the contact relation type, a complaint type)
is created by `koppel setup` (provisioning.py), never as a side effect of reading.
"""

from __future__ import annotations

from typing import Any

from koppel.connectors.tryton.client import TrytonClient
from koppel.connectors.tryton.config import TrytonSettings
from koppel.connectors.tryton.mapping import Codes, Goods, Lookups
from koppel.errors import UsageError


def _codes(client: TrytonClient, model: str, key: str, domain: list[Any] | None = None) -> Codes:
    rows = client.model(model, "search_read", domain or [], 0, None, [["id", "ASC"]], [key],
                        context={"active_test": False})
    ids: dict[str, int] = {}
    for row in rows:
        ids.setdefault(str(row[key]), int(row["id"]))
    return Codes(ids, {int(row["id"]): str(row[key]) for row in rows})


def _one(client: TrytonClient, model: str, domain: list[Any]) -> int | None:
    found = client.model(model, "search", domain, 0, 1, [["id", "ASC"]])
    return int(found[0]) if found else None


def contact_relation(client: TrytonClient, name: str) -> int | None:
    """The relation type "person -> company", or None when `koppel setup` has not made it."""
    return _one(client, "party.relation.type", [("name", "=", name)])


def complaint_type(client: TrytonClient, origin: str = "sale.sale") -> int | None:
    """A complaint type about sales (or sale lines), or None when there is none yet."""
    return _one(client, "sale.complaint.type", [("origin.name", "=", origin)])


def _category(client: TrytonClient, settings: TrytonSettings) -> int:
    setup = settings.setup or {}
    name = settings.product_category or (setup.get("product_category") or {}).get("name")
    found = _one(client, "product.category", [("name", "=", name)] if name else
                 [("accounting", "=", True)])
    if found is None:
        raise UsageError(f"Tryton has no product category {name or '(with accounting)'}",
                         hint="create one with accounting and customer taxes in Tryton, or name an existing "
                              "one in [systems.erp.settings] product_category")
    return found


def _price_list(client: TrytonClient, settings: TrytonSettings) -> int | None:
    if settings.price_list is None:
        found = ((settings.setup or {}).get("price_list") or {}).get("id")
        return int(found) if found else None
    found = _one(client, "product.price_list", [("name", "=", settings.price_list)])
    if found is None:
        raise UsageError(f"Tryton has no price list {settings.price_list!r}",
                         hint="correct [systems.erp.settings] price_list, or leave it out to use list prices")
    return found


def _default_payment_term(client: TrytonClient, settings: TrytonSettings, terms: Codes) -> int | None:
    """The term of a sale whose customer has none: the ERP's default for customers, else the
    one koppel.toml names (`default_payment_term`)."""
    rows = client.model("account.configuration", "read", [1], ["default_customer_payment_term"])
    found = rows[0].get("default_customer_payment_term") if rows else None
    if found:
        return int(found)
    return terms.id_of(settings.default_payment_term, "payment term")


def load(client: TrytonClient, settings: TrytonSettings) -> Lookups:
    client.ensure_login()
    company = int(client.context["company"])
    [row] = client.model("company.company", "read", [company], ["party", "currency.code"])
    employees = client.model("company.employee", "search_read", [], 0, None, None, ["party"],
                             context={"active_test": False})
    payment_terms = _codes(client, "account.invoice.payment_term", "name")
    return Lookups(
        company=company, company_party=int(row["party"]),
        currency=(row.get("currency.") or {}).get("code") or settings.currency,
        currencies=_codes(client, "currency.currency", "code"),
        countries=_codes(client, "country.country", "code"),
        payment_terms=payment_terms,
        contact_relation=contact_relation(client, settings.contact_relation),
        hidden_parties=frozenset({int(row["party"]), *(int(e["party"]) for e in employees)}),
        load_goods=lambda: goods(client, settings, payment_terms),
        default_country=settings.country, price_list=_price_list(client, settings),
        web_url=f"{settings.url.rstrip('/')}/#{settings.database}",
    )


def goods(client: TrytonClient, settings: TrytonSettings, payment_terms: Codes) -> Goods:
    """What products, sales and complaints need besides: units, the product category, the sale
    default payment term, the complaint types."""
    uoms = _codes(client, "product.uom", "symbol")
    return Goods(uoms=uoms, unit=uoms.ids.get("u") or next(iter(uoms.ids.values())),
                 load_category=lambda: _category(client, settings),
                 default_payment_term=_default_payment_term(client, settings, payment_terms),
                 complaint_type=complaint_type(client), complaint_line_type=complaint_type(client, "sale.line"))
