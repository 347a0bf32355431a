"""Pure mapping between BottleCRM records and canonical JSON values: accounts, contacts, products.

No I/O. Reading maps a whole remote record; writing maps only the canonical fields present
(an update carries just the changed ones) and returns the remote body to send.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

Json = dict[str, Any]

# --- small named transformations -------------------------------------------------------


def text(value: Any) -> str | None:
    """BottleCRM answers "" and null alike for an empty field; canonical says None."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def decimal_text(value: Any) -> str | None:
    """A number as BottleCRM returns it (custom numbers are floats) -> canonical decimal text.

    `str(float)` is the shortest text that reads back as the same float, so 5000.5 stays
    "5000.5" rather than 5000.500000000000227…; trailing zeros are dropped like Amount does.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return format(number.normalize(), "f") if number else "0"


def money(value: Any, currency: str | None) -> Json | None:
    amount = decimal_text(value)
    return None if amount is None or not currency else {"amount": amount, "currency": currency}


def amount_of(value: Any) -> str | None:
    """Canonical Money (or a bare amount) -> the amount text BottleCRM accepts for a number."""
    if isinstance(value, Mapping):
        value = value.get("amount")
    return None if value is None else str(value)


def ref_id(value: Any) -> str | None:
    """A reference as BottleCRM nests it: a bare id, or {"id": …, "name": …}."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return text(value)


def address_from(remote: Mapping[str, Any], prefix: str = "") -> Json | None:
    address = {"street": text(remote.get(f"{prefix}address_line")),
               "postcode": text(remote.get(f"{prefix}postcode")),
               "city": text(remote.get(f"{prefix}city")),
               "country": text(remote.get(f"{prefix}country")),
               "state": text(remote.get(f"{prefix}state"))}
    return address if any(address.values()) else None


def address_to(address: Mapping[str, Any] | None) -> Json:
    address = address or {}
    return {"address_line": address.get("street") or "", "postcode": address.get("postcode") or "",
            "city": address.get("city") or "", "country": address.get("country") or "",
            "state": address.get("state") or ""}


def copy_present(values: Mapping[str, Any], names: Mapping[str, str], *, blank: Any = None) -> Json:
    """{remote: value} for each canonical name present in `values` (None sent as `blank`)."""
    return {remote: (blank if values[name] is None else values[name])
            for name, remote in names.items() if name in values}


# --- account ---------------------------------------------------------------------------

ACCOUNT_FIELDS = {"name": "name", "email": "email", "phone": "phone", "website": "website",
                  "currency": "currency", "description": "description"}
ACCOUNT_CUSTOM_TEXT = {"number": "erp_customer_no", "vat_id": "vat_id", "payment_term": "payment_terms",
                       "dunning_level": "dunning_level", "value_tier": "customer_value_tier"}
ACCOUNT_CUSTOM_MONEY = {"credit_limit": "credit_limit", "open_amount": "open_amount",
                        "overdue_amount": "overdue_amount", "revenue_this_year": "revenue_this_year",
                        "revenue_last_year": "revenue_last_year"}
ACCOUNT_READS = frozenset({*ACCOUNT_FIELDS, *ACCOUNT_CUSTOM_TEXT, *ACCOUNT_CUSTOM_MONEY, "industry",
                           "billing_address", "postcode", "status"})
ACCOUNT_WRITES = ACCOUNT_READS - {"status"}


def account_in(remote: Mapping[str, Any], default_currency: str) -> Json:
    custom = remote.get("custom_fields") or {}
    currency = text(remote.get("currency"))
    values: Json = {name: text(remote.get(field)) for name, field in ACCOUNT_FIELDS.items()}
    values.update({name: text(custom.get(key)) for name, key in ACCOUNT_CUSTOM_TEXT.items()})
    values.update({name: money(custom.get(key), currency or default_currency)
                   for name, key in ACCOUNT_CUSTOM_MONEY.items()})
    industry = text(remote.get("industry"))
    values.update(industry=industry.lower() if industry else None,
                  billing_address=address_from(remote), postcode=text(remote.get("postcode")),
                  status="customer" if values["number"] else "prospect")
    return values


def account_out(values: Mapping[str, Any]) -> Json:
    body = copy_present(values, ACCOUNT_FIELDS)
    if "name" in body and body["name"] is None:
        body["name"] = ""  # let BottleCRM say "This field is required."
    if "industry" in values:
        body["industry"] = values["industry"].upper() if values["industry"] else None
    if "billing_address" in values:
        body.update(address_to(values["billing_address"]))
    if "postcode" in values and (values.get("billing_address") or {}).get("postcode") is None:
        body["postcode"] = values["postcode"] or ""
    custom = copy_present(values, ACCOUNT_CUSTOM_TEXT)
    custom.update({key: amount_of(values[name]) for name, key in ACCOUNT_CUSTOM_MONEY.items()
                   if name in values})
    if custom:
        body["custom_fields"] = custom
    return body


# --- contact ---------------------------------------------------------------------------

CONTACT_FIELDS = {"first_name": "first_name", "last_name": "last_name", "email": "email",
                  "phone": "phone", "title": "title"}
CONTACT_READS = frozenset({*CONTACT_FIELDS, "account", "invoice_recipient", "address"})
CONTACT_WRITES = CONTACT_READS


def contact_in(remote: Mapping[str, Any]) -> Json:
    custom = remote.get("custom_fields") or {}
    values: Json = {name: text(remote.get(field)) for name, field in CONTACT_FIELDS.items()}
    values.update(account=ref_id(remote.get("account")),
                  invoice_recipient=bool(custom.get("invoice_recipient")),
                  address=address_from(remote))
    return values


def contact_out(values: Mapping[str, Any]) -> Json:
    body = copy_present(values, CONTACT_FIELDS)
    if "last_name" in body and body["last_name"] is None:
        body["last_name"] = ""
    if "account" in values:
        body["account"] = values["account"]
    if "address" in values:
        body.update(address_to(values["address"]))
    if "invoice_recipient" in values:
        body["custom_fields"] = {"invoice_recipient": bool(values["invoice_recipient"])}
    return body


# --- product ---------------------------------------------------------------------------

PRODUCT_READS = frozenset({"name", "code", "list_price", "active"})
PRODUCT_WRITES = PRODUCT_READS


def product_in(remote: Mapping[str, Any], default_currency: str) -> Json:
    return {"name": text(remote.get("name")), "code": text(remote.get("sku")),
            "list_price": money(remote.get("price"), text(remote.get("currency")) or default_currency),
            "active": bool(remote.get("is_active", True))}


def product_out(values: Mapping[str, Any]) -> Json:
    body = copy_present(values, {"name": "name", "code": "sku"})
    if "list_price" in values:
        price = values["list_price"]
        body["price"] = amount_of(price) or "0"
        if price:
            body["currency"] = price["currency"]
    if "active" in values:
        body["is_active"] = bool(values["active"])
    return body


def owner_of(row: Mapping[str, Any]) -> str | None:
    """The account's owner for reports: its first assigned user's e-mail (else name or id)."""
    for user in row.get("assigned_to") or []:
        if not isinstance(user, Mapping):
            return text(user)
        nested = user.get("user_details")
        details: Mapping[str, Any] = nested if isinstance(nested, Mapping) else user
        return text(details.get("email")) or text(details.get("name")) or text(user.get("id"))
    return None
