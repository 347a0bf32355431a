"""The ERP's finance facts about customers (R8), read in bulk for a batch of parties.

Three searches per batch whatever its size: the open receivable lines (open and overdue
amounts), the posted customer invoices of this and last year (revenue) and the active dunnings
(dunning level). The folding into canonical values below is pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from koppel.connectors.tryton.client import TrytonClient
from koppel.connectors.tryton.mapping import Lookups, Row, money

ALL = {"active_test": False}
CENT = Decimal("0.01")
OPEN_LINE_FIELDS = ["party", "debit", "credit", "maturity_date"]
INVOICE_FIELDS = ["party", "invoice_date", "untaxed_amount", "total_amount", "currency"]
DUNNING_FIELDS = ["party", "line", "level.sequence", "level.rec_name"]


def open_lines(client: TrytonClient, lk: Lookups, parties: list[int]) -> list[Row]:
    """Unreconciled lines of posted moves on receivable accounts: what customers still owe."""
    rows: list[Row] = client.model("account.move.line", "search_read", [
        ("party", "in", parties), ("account.type.receivable", "=", True),
        ("reconciliation", "=", None), ("move.state", "=", "posted"),
        ("move.company", "=", lk.company)], 0, None, None, OPEN_LINE_FIELDS, context=ALL)
    return rows


def revenue_invoices(client: TrytonClient, lk: Lookups, parties: list[int], today: date
                     ) -> list[Row]:
    """Posted and paid customer invoices and credit notes dated last year or this year,
    with `company_untaxed` (the untaxed amount in company currency) added."""
    rows: list[Row] = client.model("account.invoice", "search_read", [
        ("party", "in", parties), ("type", "=", "out"), ("state", "in", ["posted", "paid"]),
        ("company", "=", lk.company), ("invoice_date", ">=", date(today.year - 1, 1, 1)),
        ("invoice_date", "<=", date(today.year, 12, 31))], 0, None, None, INVOICE_FIELDS,
        context=ALL)
    home = lk.currencies.id_of(lk.currency, "currency") if lk.currency in lk.currencies.ids else None
    foreign = [int(r["id"]) for r in rows if r.get("currency") != home]
    booked = {int(r["id"]): r for r in client.model(
        "account.invoice", "read", foreign, ["lines_to_pay.debit", "lines_to_pay.credit"],
        context=ALL)} if foreign else {}
    return [{**r, "company_untaxed": company_untaxed(r, booked.get(int(r["id"])))} for r in rows]


def company_untaxed(row: Row, booked: Row | None) -> Decimal:
    """The untaxed amount in company currency; a foreign-currency invoice is converted at
    the rate its receivable lines were posted with (company total / invoice total)."""
    untaxed = Decimal(row.get("untaxed_amount") or 0)
    if booked is None:
        return untaxed
    total = Decimal(row.get("total_amount") or 0)
    home = sum((Decimal(li.get("debit") or 0) - Decimal(li.get("credit") or 0)
                for li in booked.get("lines_to_pay.") or []), Decimal(0))
    return (untaxed * home / total).quantize(CENT) if total else Decimal(0)


def active_dunnings(client: TrytonClient, parties: list[int]) -> list[Row]:
    rows: list[Row] = client.model("account.dunning", "search_read", [
        ("party", "in", parties), ("active", "=", True)], 0, None, None, DUNNING_FIELDS,
        context=ALL)
    return rows


# --- folding (pure) ---------------------------------------------------------------------------


def receivables(lines: Iterable[Row], today: date) -> tuple[Decimal, Decimal]:
    """(open, overdue) of one party's open receivable lines.

    Open is their balance. Overdue is the part of the debts due before today (a debt without
    maturity counts as due) left after every open credit (partial payments, advance payments,
    credit notes) is applied to it, the oldest debt first; it never goes below zero.
    """
    balance = due = credits = Decimal(0)
    for line in lines:
        amount = Decimal(line.get("debit") or 0) - Decimal(line.get("credit") or 0)
        balance += amount
        if amount < 0:
            credits += amount
        elif line.get("maturity_date") is None or line["maturity_date"] < today:
            due += amount
    return balance, max(Decimal(0), due + credits)


def revenue(invoices: Iterable[Row], year: int) -> Decimal:
    return sum((Decimal(r["company_untaxed"]) for r in invoices
                if r.get("invoice_date") is not None and r["invoice_date"].year == year), Decimal(0))


def highest_level(dunnings: Iterable[Row]) -> str | None:
    levels = [(int(lv.get("sequence") or 0), str(lv.get("rec_name") or ""))
              for lv in (r.get("level.") or {} for r in dunnings)]
    return (max(levels)[1] or None) if levels else None


def _by_party(rows: Iterable[Row]) -> dict[int, list[Row]]:
    grouped: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        if row.get("party"):
            grouped[int(row["party"])].append(row)
    return grouped


def account_facts(lines: Iterable[Row], invoices: Iterable[Row], dunnings: Iterable[Row],
                  parties: Iterable[int], currency: str, today: date) -> dict[int, dict[str, Any]]:
    """Canonical finance fields of each party (zero amounts when nothing is open or booked)."""
    owed, booked, dunned = _by_party(lines), _by_party(invoices), _by_party(dunnings)
    facts: dict[int, dict[str, Any]] = {}
    for party in parties:
        balance, overdue = receivables(owed.get(party, []), today)
        mine = booked.get(party, [])
        facts[party] = {
            "open_amount": money(balance, currency), "overdue_amount": money(overdue, currency),
            "dunning_level": highest_level(dunned.get(party, [])),
            "revenue_this_year": money(revenue(mine, today.year), currency),
            "revenue_last_year": money(revenue(mine, today.year - 1), currency)}
    return facts


def read_account_facts(client: TrytonClient, lk: Lookups, parties: list[int], today: date
                       ) -> dict[int, dict[str, Any]]:
    if not parties:
        return {}
    return account_facts(open_lines(client, lk, parties),
                         revenue_invoices(client, lk, parties, today),
                         active_dunnings(client, parties), parties, lk.currency, today)


def invoice_dunning_levels(client: TrytonClient, lines_to_pay: Mapping[int, list[int]]
                           ) -> dict[int, str | None]:
    """Invoice id -> the highest active dunning level of its lines to pay (one search)."""
    owner = {line: invoice for invoice, lines in lines_to_pay.items() for line in lines}
    if not owner:
        return {}
    rows = client.model("account.dunning", "search_read", [
        ("line", "in", sorted(owner)), ("active", "=", True)], 0, None, None, DUNNING_FIELDS,
        context=ALL)
    grouped: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[owner[int(row["line"])]].append(row)
    return {invoice: highest_level(grouped.get(invoice, [])) for invoice in lines_to_pay}
