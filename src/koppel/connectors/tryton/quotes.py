"""Canonical quotes <-> Tryton sales (pure, no I/O): a quote is a second view of `sale.sale`.

A CRM quote handed to the ERP becomes a sale whose `reference` is the quote number; the sale's
own number, state, shipment and invoice states come back as the quote's order facts. Line
prices are Tryton's (the writer asks `sale.line.on_change`), never the CRM's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from koppel.connectors.tryton.mapping import Lookups, MappingError, Row, Vals, amount_of, children, text
from koppel.connectors.tryton.mapping_docs import ref, sale_lines

QUOTE_FIELDS = [
    "number", "reference", "description", "party", "state", "currency", "shipment_state",
    "invoice_state", "shipments.planned_date", "shipments.state", "comment", "sale_date",
    "shipments.number", "shipments.effective_date", "shipment_returns.number",
    "shipment_returns.state", "shipment_returns.effective_date", "invoices.number",
    "invoices.state", "invoices.invoice_date", "invoices.reconciled", "invoices.total_amount",
    "lines.type", "lines.product", "lines.quantity", "lines.unit_price", "lines.description",
]
NOTE_HEAD = "Priced by the ERP:"
#: sale states in which Tryton still lets lines, customer and currency change
EDITABLE = frozenset({"draft", "quotation"})
#: quote fields that only an editable sale can take
SHAPE = frozenset({"lines", "account", "currency"})


def quote_status(state: str | None) -> str:
    """A sale in quotation or later is an accepted quote; a cancelled one was declined."""
    if state in (None, "", "draft"):
        return "draft"
    return "declined" if state == "cancelled" else "accepted"


def erp_link(lk: Lookups, model: str, record_id: int) -> str | None:
    return f"{lk.web_url}/model/{model}/{record_id}" if lk.web_url else None


def quote_values(row: Row, lk: Lookups) -> dict[str, Any]:
    currency = lk.currencies.code_of(row.get("currency"))
    planned = [s["planned_date"] for s in children(row, "shipments")
               if s.get("planned_date") and s.get("state") != "cancelled"]
    return {
        "number": text(row.get("reference")), "title": text(row.get("description")),
        "account": ref(row.get("party")), "status": quote_status(row.get("state")),
        "currency": currency, "lines": sale_lines(row, currency),
        "order_number": text(row.get("number")), "order_status": text(row.get("state")),
        "shipment_status": text(row.get("shipment_state")),
        "invoice_status": text(row.get("invoice_state")),
        "planned_ship_date": min(planned).isoformat() if planned else None,
        "erp_link": erp_link(lk, "sale.sale", int(row["id"])),
        "history": order_history(row), "erp_note": text(row.get("comment")),
    }


def order_history(row: Row) -> str | None:
    """The sale's life, one dated line per step, oldest first: what the CRM quote shows (R6)."""
    steps: list[tuple[str, str]] = []
    if row.get("state") not in (None, "draft", "quotation"):
        steps.append((_day(row.get("sale_date")), f"order {row.get('number') or ''} {row.get('state')}"))
    for s in children(row, "shipments"):
        if s.get("state") not in (None, "draft"):
            when = s.get("effective_date") if s.get("state") == "done" else s.get("planned_date")
            steps.append((_day(when), f"shipment {s.get('number') or ''} {s.get('state')}"))
    for r in children(row, "shipment_returns"):
        steps.append((_day(r.get("effective_date")), f"return {r.get('number') or ''} {r.get('state')}"))
    for i in children(row, "invoices"):
        if i.get("state") in (None, "draft"):
            continue
        kind = "credit note" if Decimal(str(i.get("total_amount") or 0)) < 0 else "invoice"
        steps.append((_day(i.get("invoice_date")), f"{kind} {i.get('number') or ''} {i.get('state')}"))
        if i.get("reconciled"):
            steps.append((_day(i.get("reconciled")), f"{kind} {i.get('number') or ''} settled"))
    return "\n".join(f"{day} {what}" for day, what in sorted(steps)) or None


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else "----------"


def price_note(lines: list[tuple[Mapping[str, Any], Vals]], currency: str) -> str | None:
    """The lines the ERP priced differently from the quote: said on the order, never silent."""
    changed = [f"line {n} {(line.get('description') or '')!r}: {vals['unit_price']} {currency} instead of "
               f"{amount_of(line.get('unit_price'), currency, 'unit price')} quoted"
               for n, (line, vals) in enumerate(lines, 1)
               if vals.get("product") and line.get("unit_price")
               and Decimal(str(vals["unit_price"])) != amount_of(line.get("unit_price"), currency, "unit price")]
    return f"{NOTE_HEAD} " + "; ".join(changed) if changed else None


# --- writing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    """What a new sale takes from its party, as Tryton's on_change_party would."""

    price_list: int | None
    payment_term: int | None
    address: int | None


def price_request(line: Mapping[str, Any], party: int, currency: int | None,
                  price_list: int | None, lk: Lookups) -> Vals:
    """The `sale.line.on_change` payload that makes Tryton price one line (tryton.md §3.1)."""
    return {"product": int(line["product"]), "quantity": float(Decimal(str(line["quantity"]))),
            "unit": None, "unit_price": None, "taxes": [], "sale": None, "type": "line",
            "company": lk.company, "_parent_sale.party": party,
            "_parent_sale.currency": currency, "_parent_sale.price_list": price_list,
            "_parent_sale.sale_date": None, "_parent_sale.invoice_party": None}


def priced_line(line: Mapping[str, Any], priced: Mapping[str, Any] | None, currency: str) -> Vals:
    """A sale line from a quote line and Tryton's answer for it (None: no product).

    A line without a product has nothing Tryton can price, so it keeps the quote's price.
    """
    vals: Vals = {"type": "line", "quantity": float(Decimal(str(line["quantity"]))),
                  "description": line.get("description") or ""}
    if priced is None:
        price = amount_of(line.get("unit_price"), currency, "unit price")
        if price is None:
            raise MappingError("a quote line without a product needs a unit price")
        return {**vals, "unit_price": price}
    if priced.get("unit_price") is None:
        raise MappingError(f"Tryton found no sale price for product {line['product']}")
    taxes = [int(t["id"]) for _, t in (priced.get("taxes") or {}).get("add", [])]
    return {**vals, "product": int(line["product"]), "unit": priced.get("unit"),
            "unit_price": Decimal(priced["unit_price"]), "taxes": [["add", taxes]]}


def check_editable(values: Mapping[str, Any], current: Row) -> bool:
    """Whether writing `values` needs the sale back in draft; raise when Tryton forbids it."""
    state = current.get("state") or "draft"
    shape = sorted(SHAPE & set(values))
    if shape and state not in EDITABLE:
        raise MappingError(
            f"sale {current.get('number') or current.get('id')} is {state}; Tryton takes changes "
            f"of {', '.join(shape)} only in draft or quotation (change the sale in Tryton)")
    return bool(shape) and state == "quotation"


def quote_sale_vals(values: Mapping[str, Any], current: Row, lk: Lookups, customer: Customer | None,
                    lines: list[Vals] | None, *, creating: bool) -> Vals:
    """sale.sale values of a quote (the writer replaces all lines when `lines` is given)."""
    vals: Vals = {}
    if "number" in values:
        vals["reference"] = values["number"] or ""
    if "title" in values:
        vals["description"] = values["title"] or ""
    if "currency" in values or creating:
        vals["currency"] = lk.currencies.id_of(values.get("currency") or lk.currency, "currency")
    if customer is not None:
        vals.update(party=int(values["account"]), price_list=customer.price_list)
        if customer.address is not None:
            vals.update(invoice_address=customer.address, shipment_address=customer.address)
        if creating and customer.payment_term is not None:
            vals["payment_term"] = customer.payment_term
    if lines is not None:
        old = [["delete", list(current.get("lines") or [])]] if current.get("lines") else []
        vals["lines"] = [*old, ["create", lines]]
    if creating:
        vals["company"] = lk.company
        if values.get("planned_ship_date"):  # the date the customer was promised (R7)
            vals["shipping_date"] = date.fromisoformat(str(values["planned_ship_date"]))
    return vals
