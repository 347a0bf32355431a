"""Posted customer invoices and credit notes as revenue facts (R9), in three searches.

One row per document: its party, date, untaxed amount in company currency (signed: credit
notes are negative, as Tryton keeps them) and its cost of goods (quantity × the product's
current cost price, summed over its product lines). Bulk reads only; the folding is pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from koppel.connectors.base import InvoiceFact
from koppel.connectors.tryton.client import TrytonClient
from koppel.connectors.tryton.finance import company_untaxed
from koppel.connectors.tryton.mapping import Lookups, Row

ALL = {"active_test": False}
FIELDS = ["number", "party", "party.name", "invoice_date", "untaxed_amount", "total_amount",
          "currency"]


def read_invoice_facts(client: TrytonClient, lk: Lookups, start: date, end: date
                       ) -> list[InvoiceFact]:
    rows: list[Row] = client.model("account.invoice", "search_read", [
        ("type", "=", "out"), ("state", "in", ["posted", "paid"]), ("company", "=", lk.company),
        ("invoice_date", ">=", start), ("invoice_date", "<=", end)], 0, None,
        [["invoice_date", "ASC"], ["id", "ASC"]], FIELDS, context=ALL)
    if not rows:
        return []
    home = lk.currencies.ids.get(lk.currency)
    foreign = [int(r["id"]) for r in rows if r.get("currency") != home]
    booked = {int(r["id"]): r for r in client.model(
        "account.invoice", "read", foreign, ["lines_to_pay.debit", "lines_to_pay.credit"],
        context=ALL)} if foreign else {}
    costs = invoice_costs(client.model(
        "account.invoice.line", "search_read", [("invoice", "in", [int(r["id"]) for r in rows]),
                                                ("type", "=", "line"), ("product", "!=", None)],
        0, None, None, ["invoice", "quantity", "product.cost_price"], context=ALL))
    return [fact(r, company_untaxed(r, booked.get(int(r["id"]))), costs.get(int(r["id"]), Decimal(0)))
            for r in rows]


def invoice_costs(lines: Iterable[Row]) -> dict[int, Decimal]:
    """Invoice id -> Σ quantity × product cost price over its product lines."""
    costs: dict[int, Decimal] = defaultdict(Decimal)
    for line in lines:
        price = Decimal(str((line.get("product.") or {}).get("cost_price") or 0))
        costs[int(line["invoice"])] += Decimal(str(line.get("quantity") or 0)) * price
    return dict(costs)


def fact(row: Row, untaxed: Decimal, cost: Decimal) -> InvoiceFact:
    return InvoiceFact(str(row["id"]), row.get("number") or None, str(row["party"]),
                       str((row.get("party.") or {}).get("name") or row["party"]),
                       row["invoice_date"], untaxed, cost.quantize(Decimal("0.01")))
