"""Remote Tryton rows <-> canonical JSON values for documents and reference data (pure).

Sales, shipments, invoices, credit notes, payments and complaints, plus currencies, payment
terms and price lists. Tryton's float quantities become Decimals; references to other records
become the referenced Tryton id as a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from koppel.connectors.tryton.mapping import (
    Lookups,
    MappingError,
    Row,
    Vals,
    amount_of,
    children,
    money,
    text,
)


def ref(value: Any) -> str | None:
    """A many2one id, or the id part of a reference like "sale.sale,12"."""
    if value in (None, "", False):
        return None
    if isinstance(value, str) and "," in value:
        return value.split(",", 1)[1] or None
    return str(value)


def quantity(value: Any) -> str:
    return str(Decimal(str(value or 0)))


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


# --- sales ----------------------------------------------------------------------------------

ORDER_FIELDS = [
    "number", "reference", "party", "state", "sale_date", "currency", "payment_term",
    "total_amount", "shipment_state", "invoice_state", "shipping_date",
    "lines.type", "lines.product", "lines.quantity", "lines.unit_price", "lines.description",
]


def sale_lines(row: Row, currency: str | None) -> list[dict[str, Any]]:
    """The priced lines of a sale (comments, titles and subtotals left out)."""
    return [{"product": ref(line.get("product")), "description": text(line.get("description")),
             "quantity": quantity(line.get("quantity")),
             "unit_price": money(line.get("unit_price"), currency), "discount": None}
            for line in children(row, "lines") if line.get("type") in (None, "line")]


def order_values(row: Row, lk: Lookups) -> dict[str, Any]:
    currency = lk.currencies.code_of(row.get("currency"))
    lines = sale_lines(row, currency)
    return {
        "number": text(row.get("number")), "reference": text(row.get("reference")),
        "account": ref(row.get("party")), "state": row.get("state") or "draft",
        "order_date": _date(row.get("sale_date")), "currency": currency,
        "payment_term": lk.payment_terms.code_of(row.get("payment_term")),
        "lines": lines, "total": money(row.get("total_amount"), currency),
        "shipment_state": text(row.get("shipment_state")),
        "invoice_state": text(row.get("invoice_state")),
        "planned_ship_date": _date(row.get("shipping_date")),
    }


@dataclass(frozen=True)
class ProductFacts:
    """What a sale line needs from its product when Tryton's on_change does not run."""

    unit: int
    list_price: Decimal
    taxes: tuple[int, ...]


def sale_line_vals(line: Mapping[str, Any], facts: Mapping[int, ProductFacts], currency: str
                   ) -> Vals:
    product = int(line["product"]) if line.get("product") else None
    vals: Vals = {"type": "line", "quantity": float(Decimal(str(line["quantity"]))),
                  "description": line.get("description") or ""}
    price = amount_of(line.get("unit_price"), currency, "unit price")
    if product is not None:
        if product not in facts:
            raise MappingError(f"Tryton has no product {product}")
        fact = facts[product]
        vals.update(product=product, unit=fact.unit, taxes=[["add", list(fact.taxes)]])
        price = fact.list_price if price is None else price
    if price is None:
        raise MappingError("a sale line without a product needs a unit price")
    vals["unit_price"] = price
    return vals


def sale_vals(values: Mapping[str, Any], lk: Lookups, facts: Mapping[int, ProductFacts],
              address: int | None, *, creating: bool) -> Vals:
    """sale.sale create/write values (the writer deletes the old lines when new ones come)."""
    vals: Vals = {}
    if "account" in values:
        if not values["account"]:
            raise MappingError("a Tryton sale needs a customer (account)")
        vals["party"] = int(values["account"])
    if address is not None:
        vals.update(invoice_address=address, shipment_address=address)
    if "reference" in values:
        vals["reference"] = values["reference"] or ""
    if "order_date" in values:
        vals["sale_date"] = values["order_date"]
    currency = values.get("currency") or lk.currency
    if "currency" in values or creating:
        vals["currency"] = lk.currencies.id_of(currency, "currency")
    if "payment_term" in values:
        vals["payment_term"] = lk.payment_terms.id_of(values["payment_term"], "payment term")
    if "lines" in values:
        new = [sale_line_vals(line, facts, currency) for line in values["lines"]]
        vals["lines"] = [["create", new]]
    if creating:
        vals["company"] = lk.company
    return vals


# --- shipments, invoices, payments ----------------------------------------------------------

SHIPMENT_FIELDS = ["number", "customer", "state", "planned_date", "effective_date",
                   "outgoing_moves.sale"]


def shipment_values(row: Row, lk: Lookups) -> dict[str, Any]:
    sale = next((m.get("sale") for m in children(row, "outgoing_moves") if m.get("sale")), None)
    return {"number": text(row.get("number")), "order": ref(sale), "account": ref(row.get("customer")),
            "state": row.get("state") or "draft", "planned_date": _date(row.get("planned_date")),
            "effective_date": _date(row.get("effective_date"))}


INVOICE_FIELDS = [
    "number", "party", "state", "invoice_date", "currency", "untaxed_amount", "tax_amount",
    "total_amount", "amount_to_pay", "sales", "lines_to_pay.maturity_date",
    "lines.type", "lines.product", "lines.quantity", "lines.unit_price", "lines.amount",
    "lines.description", "lines.origin",
]


def _invoice_lines(row: Row, currency: str | None) -> list[dict[str, Any]]:
    return [{"product": ref(line.get("product")), "description": text(line.get("description")),
             "quantity": quantity(line.get("quantity")),
             "unit_price": money(line.get("unit_price"), currency),
             "amount": money(line.get("amount"), currency)}
            for line in children(row, "lines") if line.get("type") in (None, "line")]


def invoice_values(row: Row, lk: Lookups) -> dict[str, Any]:
    currency = lk.currencies.code_of(row.get("currency"))
    maturities = [m["maturity_date"] for m in children(row, "lines_to_pay") if m.get("maturity_date")]
    sales = row.get("sales") or []
    return {
        "number": text(row.get("number")), "account": ref(row.get("party")),
        "order": ref(sales[0]) if sales else None, "state": row.get("state") or "draft",
        "invoice_date": _date(row.get("invoice_date")), "due_date": _date(min(maturities, default=None)),
        "currency": currency, "untaxed": money(row.get("untaxed_amount"), currency),
        "tax": money(row.get("tax_amount"), currency), "total": money(row.get("total_amount"), currency),
        "amount_to_pay": money(row.get("amount_to_pay"), currency), "dunning_level": None,
        "lines": _invoice_lines(row, currency),
    }


def credit_note_values(row: Row, lk: Lookups, credited: Mapping[int, int]) -> dict[str, Any]:
    """`credited` maps the invoice lines that credit-note lines came from to their invoice."""
    currency = lk.currencies.code_of(row.get("currency"))
    origins = [ref(line.get("origin")) for line in children(row, "lines")
               if str(line.get("origin") or "").startswith("account.invoice.line,")]
    invoice = next((credited.get(int(o)) for o in origins if o), None)
    return {"number": text(row.get("number")), "account": ref(row.get("party")),
            "invoice": ref(invoice), "state": row.get("state") or "draft",
            "credit_date": _date(row.get("invoice_date")),
            "total": money(row.get("total_amount"), currency), "lines": _invoice_lines(row, currency)}


def credited_lines(row: Row) -> list[int]:
    return [int(ref(line["origin"]) or 0) for line in children(row, "lines")
            if str(line.get("origin") or "").startswith("account.invoice.line,")]


PAYMENT_FIELDS = ["party", "invoice_payment", "date", "debit", "credit", "journal.name"]


def payment_values(row: Row, lk: Lookups) -> dict[str, Any]:
    amount = Decimal(row.get("credit") or 0) - Decimal(row.get("debit") or 0)
    journal = row.get("journal.") or {}
    return {"account": ref(row.get("party")), "invoice": ref(row.get("invoice_payment")),
            "payment_date": _date(row.get("date")), "amount": money(amount, lk.currency),
            "method": text(journal.get("name"))}


# --- complaints -----------------------------------------------------------------------------

CASE_FIELDS = ["number", "customer", "origin", "state", "description"]


def case_values(row: Row, lk: Lookups, line_sales: Mapping[int, int] | None = None) -> dict[str, Any]:
    """A complaint about a sale, or about one line of it (then `line_sales` gives its sale)."""
    subject, _, description = (row.get("description") or "").partition("\n\n")
    origin = str(row.get("origin") or "")
    sale = ref(origin) if origin.startswith("sale.sale,") else None
    if origin.startswith("sale.line,"):
        sale = ref((line_sales or {}).get(int(origin.split(",")[1])))
    return {"number": text(row.get("number")), "subject": subject, "kind": "complaint",
            "account": ref(row.get("customer")), "order": sale,
            # a sale handed over from a CRM quote is that quote, too (the same sale.sale id)
            "quote": sale, "description": text(description), "erp_state": text(row.get("state"))}


def complaint_lines(rows: list[Row]) -> list[int]:
    """The sale lines complaints are about, for one read of their sales."""
    return [int(str(r["origin"]).split(",")[1]) for r in rows if str(r.get("origin") or "").startswith("sale.line,")]


def complaint_vals(values: Mapping[str, Any], current: Row, lk: Lookups, *, creating: bool,
                   sale_line: int | None = None) -> Vals:
    """sale.complaint values; the description holds the subject, a blank line, the text. With
    `sale_line` (the line of the product the case names) the complaint is about that line."""
    vals: Vals = {}
    if "subject" in values or "description" in values:
        old_subject, _, old_text = (current.get("description") or "").partition("\n\n")
        subject = values.get("subject", old_subject) or ""
        body = values.get("description", old_text)
        vals["description"] = f"{subject}\n\n{body}" if body else subject
    if "account" in values:
        vals["customer"] = int(values["account"]) if values["account"] else None
    sale = values.get("order") or values.get("quote")
    if "order" in values or "quote" in values:
        vals["origin"] = f"sale.sale,{int(sale)}" if sale else None
    if creating:
        if not values.get("account") or not sale:
            raise MappingError("a Tryton complaint needs the customer and the order it is about")
        if lk.goods.complaint_type is None:
            raise MappingError("Tryton has no complaint type for sales yet: run `koppel setup`")
        vals.update(company=lk.company, type=lk.goods.complaint_type)
        if sale_line is not None and lk.goods.complaint_line_type is not None:
            vals.update(origin=f"sale.line,{sale_line}", type=lk.goods.complaint_line_type)
    return vals


# --- reference data -------------------------------------------------------------------------

CURRENCY_FIELDS = ["code", "name", "symbol", "rate"]
PAYMENT_TERM_FIELDS = ["name", "description"]
PRICE_LIST_FIELDS = ["name", "lines.product", "lines.formula"]


def currency_values(row: Row, lk: Lookups) -> dict[str, Any]:
    rate = row.get("rate")
    return {"code": row.get("code") or "", "name": text(row.get("name")),
            "symbol": text(row.get("symbol")), "rate": str(rate) if rate is not None else None}


def payment_term_values(row: Row, lk: Lookups) -> dict[str, Any]:
    return {"name": row.get("name") or "", "code": None, "description": text(row.get("description"))}


def price_list_values(row: Row, lk: Lookups) -> dict[str, Any]:
    items = [{"product": ref(line.get("product")), "price": None, "formula": text(line.get("formula"))}
             for line in children(row, "lines")]
    return {"name": row.get("name") or "", "currency": lk.currency, "items": items}
