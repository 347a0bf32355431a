"""Remote Tryton rows <-> canonical JSON values for parties and products (pure, no I/O).

Rows are what `search_read` returns for the field lists declared here (dotted x2many reads
arrive under keys ending in "."). Values going to Tryton are `create`/`write` dicts with
Tryton's nested command lists. SQLite's 1/0 booleans, empty strings and Decimal scales are
normalised on the way in; the canonical model drops trailing zeros itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

Row = Mapping[str, Any]
Vals = dict[str, Any]

MECHANISMS = ("email", "phone", "website")
EU_PREFIXES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"})


class MappingError(ValueError):
    """A canonical value has no Tryton equivalent (unknown payment term, currency...)."""


class UnknownCode(MappingError):
    """A code or an id the lookups do not hold: unknown to Tryton, or made there after the
    lookups were loaded (the connector loads them again once and tries again)."""


@dataclass(frozen=True)
class Codes:
    """A two-way map between a business code (ISO code, name, symbol) and a Tryton id."""

    ids: Mapping[str, int] = field(default_factory=dict)
    #: every id and its code (two records may share a code: `ids` keeps the first); from `ids` if empty
    names: Mapping[int, str] = field(default_factory=dict)

    @cached_property
    def _names(self) -> Mapping[int, str]:
        return self.names or {i: c for c, i in self.ids.items()}

    def id_of(self, code: str | None, what: str) -> int | None:
        if code is None:
            return None
        if code not in self.ids:
            known = ", ".join(sorted(self.ids)) or "none"
            raise UnknownCode(f"Tryton has no {what} {code!r} (known: {known})")
        return self.ids[code]

    def code_of(self, record_id: int | None) -> str | None:
        if record_id is None:
            return None
        if record_id not in self._names:
            raise UnknownCode(f"Tryton's record {record_id} is newer than the codes koppel loaded")
        return self._names[record_id]


@dataclass(frozen=True)
class Goods:
    """Reference data only products, sales and complaints need (`Lookups.goods`)."""

    uoms: Codes
    unit: int
    #: the product category new products get, or how to find it: when the first product is
    #: written (a read of products needs none, and a Tryton without one can still be read)
    load_category: int | Callable[[], int] = field(repr=False, compare=False)
    #: the term of a sale whose customer has none (the ERP's default, else koppel.toml's)
    default_payment_term: int | None
    complaint_type: int | None
    #: a complaint type about one sale line (the product complained about)
    complaint_line_type: int | None = None

    @cached_property
    def category(self) -> int:
        return self.load_category if isinstance(self.load_category, int) else self.load_category()


@dataclass(frozen=True)
class Lookups:
    """Reference data of one Tryton database, kept by the connector for `lookups_ttl` (and loaded
    again at once when a code or an id is not in it: `UnknownCode`)."""

    company: int
    company_party: int
    currency: str
    currencies: Codes
    countries: Codes
    payment_terms: Codes
    contact_relation: int | None  # None until `koppel setup` created the relation type
    hidden_parties: frozenset[int]
    #: the goods' reference data, or how to load it: on first use (a sync of customers does not)
    load_goods: Goods | Callable[[], Goods] = field(repr=False, compare=False)
    default_country: str | None = None
    #: the sale price list of quotes whose customer has none (None: Tryton's list prices)
    price_list: int | None = None
    #: the web client's address of this database, "http://host:port/#db" (links to records)
    web_url: str | None = None

    @cached_property
    def goods(self) -> Goods:
        return self.load_goods if isinstance(self.load_goods, Goods) else self.load_goods()


# --- shared helpers -------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """Tryton's '' and None both mean "no value"."""
    return None if value in (None, "") else str(value)


def money(amount: Any, currency: str | None) -> dict[str, Any] | None:
    if amount is None or currency is None:
        return None
    return {"amount": str(Decimal(amount)), "currency": currency}


def amount_of(value: Any, currency: str, what: str) -> Decimal | None:
    """A canonical Money (or plain number) as a Decimal in `currency`."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        if value.get("currency") not in (None, currency):
            raise MappingError(f"{what} must be in {currency}, got {value.get('currency')}")
        value = value.get("amount")
    return Decimal(str(value))


def children(row: Row, name: str) -> list[Row]:
    """The dotted read of an x2many field: a list of dicts under "name."."""
    found = row.get(f"{name}.")
    return list(found) if isinstance(found, list) else []


def first_of(row: Row, name: str, **match: Any) -> Row | None:
    return next((c for c in children(row, name) if all(c.get(k) == v for k, v in match.items())),
                None)


# --- parties: accounts and contacts -----------------------------------------------------------

#: the parts of a structured street. Tryton computes an address's `street` from them, address by
#: address in Python: half the cost of reading a party. With none of them set it is
#: `street_unstructured` (Tryton refuses a street format that makes anything of empty parts), so
#: these are read instead, and `street` only where a part is set (`with_streets`).
STREET_PARTS = ("street_name", "building_name", "building_number", "unit_number", "floor_number",
                "room_number", "post_box", "private_bag", "post_office")
ADDRESS_FIELDS = tuple(f"addresses.{f}" for f in ("street_unstructured", *STREET_PARTS, "postal_code", "city",
                                                   "country"))
PARTY_FIELDS = [
    "name", "code", "customer_payment_term", "customer_currency", "credit_limit_amount",
    "identifiers.type", "identifiers.code",
    "contact_mechanisms.type", "contact_mechanisms.value", "contact_mechanisms.invoice",
    *ADDRESS_FIELDS, "relations.type", "relations.to",
]


def with_streets(rows: list[Row], read_streets: Callable[[list[int]], Mapping[int, str | None]]) -> list[Row]:
    """Party rows read with ADDRESS_FIELDS, each address given its `street`: the unstructured
    one, or where a structured part is set, Tryton's own (`read_streets`: address id -> street,
    one call for those addresses)."""
    structured: list[dict[str, Any]] = []
    for row in rows:
        for address in (a for a in children(row, "addresses") if isinstance(a, dict)):  # as read: dicts
            if any(address.get(part) for part in STREET_PARTS):
                structured.append(address)
            else:
                address["street"] = address.get("street_unstructured")
    if structured:
        streets = read_streets([int(a["id"]) for a in structured])
        for address in structured:
            address["street"] = streets.get(int(address["id"]))
    return rows


def address_values(row: Row | None, lk: Lookups) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"street": text(row.get("street")), "postcode": text(row.get("postal_code")),
            "city": text(row.get("city")), "country": lk.countries.code_of(row.get("country")),
            "state": None}


def _vat(row: Row) -> str | None:
    for ident in children(row, "identifiers"):
        if ident.get("type") in (None, "", "eu_vat") or "vat" in str(ident.get("type")):
            return text(ident.get("code"))
    return None


def _mechanism(row: Row, kind: str) -> str | None:
    found = first_of(row, "contact_mechanisms", type=kind)
    return text(found.get("value")) if found else None


def account_values(row: Row, lk: Lookups) -> dict[str, Any]:
    address = address_values(next(iter(children(row, "addresses")), None), lk)
    return {
        "name": row.get("name") or "", "number": text(row.get("code")), "status": "customer",
        "vat_id": _vat(row), **{kind: _mechanism(row, kind) for kind in MECHANISMS},
        "billing_address": address, "postcode": address["postcode"] if address else None,
        "currency": lk.currencies.code_of(row.get("customer_currency")),
        "payment_term": lk.payment_terms.code_of(row.get("customer_payment_term")),
        "credit_limit": money(row.get("credit_limit_amount"), lk.currency),
    }


def split_person(name: str | None) -> tuple[str | None, str]:
    """A person party is named "Last, First"; a name without a comma is all last name."""
    last, sep, first = (name or "").partition(", ")
    return (first or None) if sep else None, last


def join_person(first: str | None, last: str | None) -> str:
    return f"{last or ''}, {first}" if first else (last or "")


def contact_values(row: Row, lk: Lookups) -> dict[str, Any]:
    first, last = split_person(row.get("name"))
    email = first_of(row, "contact_mechanisms", type="email")
    employer = first_of(row, "relations", type=lk.contact_relation)
    return {
        "first_name": first, "last_name": last, "email": _mechanism(row, "email"),
        "phone": _mechanism(row, "phone"),
        "account": str(employer["to"]) if employer and employer.get("to") else None,
        "invoice_recipient": bool(email and email.get("invoice")),
        "address": address_values(next(iter(children(row, "addresses")), None), lk),
    }


def _address_vals(values: Mapping[str, Any], key: str, lk: Lookups) -> Vals | None:
    """Values of the first address; a lone flat `postcode` changes only the postal code."""
    address = values.get(key)
    if not isinstance(address, Mapping):
        return {"postal_code": values["postcode"] or ""} if "postcode" in values else None
    postcode = address.get("postcode") or values.get("postcode")
    country = address.get("country") or lk.default_country
    return {"street": address.get("street") or "", "postal_code": postcode or "",
            "city": address.get("city") or "", "country": lk.countries.id_of(country, "country")}


def _vat_vals(vat: str) -> Vals:
    kind = "eu_vat" if vat[:2].upper() in EU_PREFIXES else None
    return {"type": kind, "code": vat}


def _upsert(current: Row | None, new: Vals | None) -> list[Any]:
    """Nested commands that make one child match `new` (None: remove it)."""
    if new is None:
        return [["delete", [current["id"]]]] if current else []
    if current:
        return [["write", [current["id"]], new]]
    return [["create", [new]]]


def _mechanism_commands(values: Mapping[str, Any], current: Row, invoice: bool | None) -> list[Any]:
    commands: list[Any] = []
    for kind in MECHANISMS:
        if kind not in values and not (kind == "email" and invoice is not None):
            continue
        existing = first_of(current, "contact_mechanisms", type=kind)
        value = values.get(kind) if kind in values else (existing or {}).get("value")
        new: Vals | None = {"type": kind, "value": value} if value else None
        if new is not None and kind == "email" and invoice is not None:
            new["invoice"] = invoice
        commands += _upsert(existing, new)
    return commands


def party_vals(entity: str, values: Mapping[str, Any], current: Row, lk: Lookups) -> Vals:
    """Create (current == {}) or write values of an account or contact party."""
    vals = _account_scalars(values, lk, create=not current) if entity == "account" else _contact_scalars(values, current)
    invoice = values.get("invoice_recipient") if "invoice_recipient" in values else None
    mechanisms = _mechanism_commands(values, current, invoice)
    address = _address_vals(values, "billing_address" if entity == "account" else "address", lk)
    addresses = _upsert(next(iter(children(current, "addresses")), None), address) if address else []
    for name, commands in (("contact_mechanisms", mechanisms), ("addresses", addresses)):
        if commands:
            vals[name] = commands
    if entity == "account" and "vat_id" in values:
        ident = next(iter(children(current, "identifiers")), None)
        commands = _upsert(ident, _vat_vals(values["vat_id"]) if values["vat_id"] else None)
        if commands:
            vals["identifiers"] = commands
    if entity == "contact" and "account" in values:
        employer = first_of(current, "relations", type=lk.contact_relation)
        account = values["account"]
        if account and lk.contact_relation is None:
            raise MappingError("Tryton has no relation type for contact persons yet: run `koppel setup`")
        new = {"to": int(account), "type": lk.contact_relation} if account else None
        if commands := _upsert(employer, new):
            vals["relations"] = commands
    return vals


def _account_scalars(values: Mapping[str, Any], lk: Lookups, *, create: bool = False) -> Vals:
    """The party's own fields. A create leaves out the company-dependent ones that have no value:
    Tryton keeps each in a record of its own (and applies its defaults where none is given)."""
    vals: Vals = {}
    if "name" in values:
        vals["name"] = values["name"]
    if values.get("number"):
        vals["code"] = values["number"]
    if "payment_term" in values and not (create and values["payment_term"] is None):
        vals["customer_payment_term"] = lk.payment_terms.id_of(values["payment_term"], "payment term")
    if "currency" in values and not (create and values["currency"] is None):
        vals["customer_currency"] = lk.currencies.id_of(values["currency"], "currency")
    if "credit_limit" in values and not (create and values["credit_limit"] is None):
        vals["credit_limit_amount"] = amount_of(values["credit_limit"], lk.currency, "credit limit")
    return vals


def _contact_scalars(values: Mapping[str, Any], current: Row) -> Vals:
    if "first_name" not in values and "last_name" not in values:
        return {}
    old_first, old_last = split_person(current.get("name"))
    return {"name": join_person(values.get("first_name", old_first),
                                values.get("last_name", old_last))}


# --- products -------------------------------------------------------------------------------

PRODUCT_FIELDS = ["code", "name", "list_price_used", "cost_price", "default_uom", "active", "template"]


def product_values(row: Row, lk: Lookups) -> dict[str, Any]:
    return {
        "code": text(row.get("code")), "name": row.get("name") or "",
        "list_price": money(row.get("list_price_used"), lk.currency),
        "cost_price": money(row.get("cost_price"), lk.currency),
        "unit": lk.goods.uoms.code_of(row.get("default_uom")), "active": bool(row.get("active")),
    }


def template_vals(values: Mapping[str, Any], lk: Lookups) -> Vals:
    """The product.template part of a canonical product (name, price, unit, active)."""
    vals: Vals = {}
    if "name" in values:
        vals["name"] = values["name"]
    if "list_price" in values:
        vals["list_price"] = amount_of(values["list_price"], lk.currency, "list price")
    if values.get("unit"):
        uom = lk.goods.uoms.id_of(values["unit"], "unit of measure")
        vals.update(default_uom=uom, sale_uom=uom)
    if "active" in values:
        vals["active"] = bool(values["active"])
    return vals


def variant_vals(values: Mapping[str, Any], lk: Lookups) -> Vals:
    """The product.product part: its code, cost price and active flag."""
    vals: Vals = {}
    if "code" in values:
        vals["suffix_code"] = values["code"]
    if "cost_price" in values:
        vals["cost_price"] = amount_of(values["cost_price"], lk.currency, "cost price")
    if "active" in values:
        vals["active"] = bool(values["active"])
    return vals


def new_template_vals(values: Mapping[str, Any], lk: Lookups) -> Vals:
    base: Vals = {"type": "goods", "salable": True, "account_category": lk.goods.category,
                  "default_uom": lk.goods.unit, "sale_uom": lk.goods.unit,
                  "list_price": Decimal(0)}
    base.update(template_vals(values, lk))
    base["products"] = [["create", [variant_vals(values, lk)]]]
    return base
