"""Which Tryton model holds each canonical entity: fields read, domain, natural keys, fields
written, and the related models whose changes bump a record's version.

Everything here is data; the connector walks it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from koppel.connectors.tryton import mapping as m
from koppel.connectors.tryton import mapping_docs as d
from koppel.connectors.tryton import quotes as q
from koppel.connectors.tryton.changes import Related
from koppel.connectors.tryton.mapping import Lookups, Row

Convert = Callable[[Row, Lookups], dict[str, Any]]
Domain = Callable[[Lookups], list[Any]]
#: the domain of the records whose reference holds one of the given ids
RelatedDomain = Callable[[Lookups, list[int]], list[Any]]


def _none(lk: Lookups) -> list[Any]:
    return []


@dataclass(frozen=True)
class Spec:
    """One canonical entity in Tryton: its model, the fields read and how a row converts."""

    model: str
    fields: list[str]
    convert: Convert
    _: KW_ONLY
    readable: frozenset[str]
    writable: frozenset[str] = frozenset()
    #: koppel may delete these records (their writer deletes)
    can_delete: bool = False
    domain: Domain = _none
    #: canonical natural-key field -> Tryton domain path
    keys: Mapping[str, str] = field(default_factory=dict)
    #: rows of other models whose changes count as changes of the record
    related: tuple[Related, ...] = ()
    #: canonical reference field -> the domain that finds records by it (`read_related`)
    related_by: Mapping[str, RelatedDomain] = field(default_factory=dict)
    #: canonical field -> the Tryton fields its value is made of, where a read of some fields
    #: only (`read_fields`) may leave the others out; canonical fields not named need all
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: canonical fields computed from other records (the finance facts), read only when asked
    facts: frozenset[str] = frozenset()
    #: the Tryton fields a text search looks in (`search`: `ilike`), where the name and number are
    text: tuple[str, ...] = ()

    def fields_for(self, wanted: Collection[str]) -> list[str]:
        """The Tryton fields to read for the canonical fields `wanted`: all unless each one
        is a known source."""
        if any(f not in self.sources and f not in self.facts for f in wanted):
            return self.fields
        needed = {path for f in wanted for path in self.sources.get(f, ())}
        return [path for path in self.fields if path in needed]


def _accounts(lk: Lookups) -> list[Any]:
    return [("relations", "not where", [("type", "=", lk.contact_relation)]),
            ("id", "not in", sorted(lk.hidden_parties))]


def _contacts(lk: Lookups) -> list[Any]:
    return [("relations", "where", [("type", "=", lk.contact_relation)])]


def _invoices(lk: Lookups) -> list[Any]:
    return [("type", "=", "out"), ("total_amount", ">=", 0)]


def _credit_notes(lk: Lookups) -> list[Any]:
    return [("type", "=", "out"), ("total_amount", "<", 0)]


def _payments(lk: Lookups) -> list[Any]:
    return [("invoice_payment", "!=", None)]


def _quotes(lk: Lookups) -> list[Any]:
    """Sales handed over from a CRM quote: those with a reference (the quote number)."""
    return [("reference", "!=", None), ("reference", "!=", "")]


def _where(path: str) -> RelatedDomain:
    """Records whose `path` (a many2one) is one of the ids."""
    return lambda lk, ids: [(path, "in", ids)]


def _employees(lk: Lookups, ids: list[int]) -> list[Any]:
    """Contact persons whose contact relation points to one of the accounts."""
    return [("relations", "where", [("type", "=", lk.contact_relation), ("to", "in", ids)])]


BY_PARTY = {"account": _where("party")}


def _no_credit_note(row: Row, lk: Lookups) -> dict[str, Any]:
    return d.credit_note_values(row, lk, {})


PARTY_CHILDREN = (Related("party.address", "party"), Related("party.contact_mechanism", "party"),
                  Related("party.identifier", "party"))
#: invoices, receivable lines (payments, reconciliations) and dunnings move the finance facts
FINANCE_ROWS = (
    Related("account.invoice", "party", (("type", "=", "out"),)),
    Related("account.move.line", "party",
            (("party", "!=", None), ("account.type.receivable", "=", True))),
    Related("account.dunning", "party"))
#: lines, customer shipments and invoices move a sale's states
SALE_ROWS = (Related("sale.line", "sale"), Related("stock.shipment.out", "outgoing_moves.sale"),
             Related("account.invoice", "sales", (("type", "=", "out"),)))
ACCOUNT_WRITES = frozenset({"name", "number", "vat_id", "email", "phone", "website",
                            "billing_address", "postcode", "currency", "payment_term",
                            "credit_limit"})
CONTACT_WRITES = frozenset({"first_name", "last_name", "email", "phone", "account",
                            "invoice_recipient", "address"})
PRODUCT_WRITES = frozenset({"code", "name", "list_price", "cost_price", "unit", "active"})
FINANCE_READS = frozenset({"open_amount", "overdue_amount", "dunning_level",
                           "revenue_this_year", "revenue_last_year"})
QUOTE_WRITES = frozenset({"number", "title", "account", "currency", "lines"})
QUOTE_READS = QUOTE_WRITES | {"status", "order_number", "order_status", "shipment_status",
                              "invoice_status", "planned_ship_date", "erp_link", "history", "erp_note"}
ORDER_READS = frozenset({"number", "reference", "account", "state", "order_date", "currency",
                         "payment_term", "lines", "total", "shipment_state", "invoice_state",
                         "planned_ship_date"})
INVOICE_READS = frozenset({"number", "account", "order", "state", "invoice_date", "due_date",
                           "currency", "untaxed", "tax", "total", "amount_to_pay", "lines",
                           "dunning_level"})

_MECHANISMS = ("contact_mechanisms.type", "contact_mechanisms.value", "contact_mechanisms.invoice")
_ADDRESS = m.ADDRESS_FIELDS
#: what account_values and contact_values make each canonical field of (mapping.py)
ACCOUNT_SOURCES = {
    "name": ("name",), "number": ("code",), "status": (), "vat_id": ("identifiers.type", "identifiers.code"),
    "email": _MECHANISMS, "phone": _MECHANISMS, "website": _MECHANISMS,
    "billing_address": _ADDRESS, "postcode": _ADDRESS, "currency": ("customer_currency",),
    "payment_term": ("customer_payment_term",), "credit_limit": ("credit_limit_amount",)}
CONTACT_SOURCES = {
    "first_name": ("name",), "last_name": ("name",), "email": _MECHANISMS, "phone": _MECHANISMS,
    "invoice_recipient": _MECHANISMS, "account": ("relations.type", "relations.to"), "address": _ADDRESS}

SPECS: dict[str, Spec] = {
    "account": Spec(
        "party.party", m.PARTY_FIELDS, m.account_values,
        readable=ACCOUNT_WRITES | FINANCE_READS | {"status"}, writable=ACCOUNT_WRITES, can_delete=True,
        domain=_accounts, keys={"number": "code", "vat_id": "identifiers.code", "name": "name",
                                "postcode": "addresses.postal_code"}, related=PARTY_CHILDREN + FINANCE_ROWS,
        sources=ACCOUNT_SOURCES, facts=FINANCE_READS, text=("name", "code")),
    "contact": Spec(
        "party.party", m.PARTY_FIELDS, m.contact_values, readable=CONTACT_WRITES, writable=CONTACT_WRITES,
        can_delete=True, domain=_contacts, keys={"email": "contact_mechanisms.value"}, related=PARTY_CHILDREN,
        related_by={"account": _employees}, sources=CONTACT_SOURCES),
    "product": Spec(
        "product.product", m.PRODUCT_FIELDS, m.product_values, readable=PRODUCT_WRITES,
        writable=PRODUCT_WRITES, can_delete=True, keys={"code": "code", "name": "name"},
        related=(Related("product.template", "products"),)),
    "order": Spec(
        "sale.sale", d.ORDER_FIELDS, d.order_values, readable=ORDER_READS,
        writable=frozenset({"reference", "account", "order_date", "currency", "payment_term", "lines"}),
        can_delete=True, keys={"number": "number", "reference": "reference", "account": "party"},
        related=SALE_ROWS, related_by=BY_PARTY),
    "quote": Spec(
        "sale.sale", q.QUOTE_FIELDS, q.quote_values, readable=QUOTE_READS, writable=QUOTE_WRITES,
        domain=_quotes, keys={"number": "reference"}, related=SALE_ROWS, related_by=BY_PARTY),
    "shipment": Spec(
        "stock.shipment.out", d.SHIPMENT_FIELDS, d.shipment_values,
        readable=frozenset({"number", "order", "account", "state", "planned_date", "effective_date"}),
        keys={"number": "number"}, related_by={"account": _where("customer")}),
    "invoice": Spec(
        "account.invoice", d.INVOICE_FIELDS, d.invoice_values, readable=INVOICE_READS,
        domain=_invoices, keys={"number": "number"}, related_by=BY_PARTY),
    "credit_note": Spec(
        "account.invoice", d.INVOICE_FIELDS, _no_credit_note,
        readable=frozenset({"number", "account", "invoice", "state", "credit_date", "total", "lines"}),
        domain=_credit_notes, keys={"number": "number"}, related_by=BY_PARTY),
    "payment": Spec(
        "account.move.line", d.PAYMENT_FIELDS, d.payment_values,
        readable=frozenset({"account", "invoice", "payment_date", "amount", "method"}), domain=_payments,
        related_by={**BY_PARTY, "invoice": _where("invoice_payment")}),
    "case": Spec(
        "sale.complaint", d.CASE_FIELDS, d.case_values,
        readable=frozenset({"number", "subject", "kind", "account", "order", "quote", "description", "erp_state"}),
        writable=frozenset({"subject", "account", "order", "quote", "description"}), can_delete=True,
        keys={"number": "number"}, related_by={"account": _where("customer")}),
    "currency": Spec(
        "currency.currency", d.CURRENCY_FIELDS, d.currency_values,
        readable=frozenset({"code", "name", "symbol", "rate"}), keys={"code": "code"}),
    "payment_term": Spec(
        "account.invoice.payment_term", d.PAYMENT_TERM_FIELDS, d.payment_term_values,
        readable=frozenset({"name", "description"}), keys={"name": "name"}),
    "price_list": Spec(
        "product.price_list", d.PRICE_LIST_FIELDS, d.price_list_values,
        readable=frozenset({"name", "currency", "items"}), keys={"name": "name"},
        related=(Related("product.price_list.line", "price_list"),)),
}
