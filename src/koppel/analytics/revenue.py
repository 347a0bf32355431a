"""Revenue per account, per owner and per period (R9) from ERP invoices net of credit notes,
against sales targets.

Targets: BottleCRM has no sales-target entity, so targets are input — a list of
`SalesTarget` (owner, optional account, period, amount), loaded by `load_targets` from a TOML
or JSON file (`[[target]]` tables / a list of objects). A target counts toward a report
period in proportion to the days they share (a yearly target gives each month its share).
"""

from __future__ import annotations

import json
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from koppel.analytics.facts import RevenueFact, company_currency, read_revenue_facts
from koppel.engine import Engine
from koppel.errors import ConfigError
from koppel.model import SalesTarget

Period = Literal["month", "quarter", "year"]
By = Literal["account", "owner", "total"]
CENT = Decimal("0.01")


class RevenueRow(BaseModel):
    key: str  # the CRM account id (erp:<id> when not coupled), the owner, or "total"
    name: str
    period: str  # 2026-03, 2026-Q1, 2026
    invoiced: Decimal
    credited: Decimal  # credit notes, as a positive amount
    net: Decimal
    target: Decimal | None = None
    attainment: float | None = None  # net / target


class RevenueReport(BaseModel):
    currency: str
    by: By
    period: Period
    start: date
    end: date
    rows: list[RevenueRow]


# --- periods (pure) ---------------------------------------------------------------------------


def period_of(day: date, period: Period) -> str:
    if period == "year":
        return str(day.year)
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}-{day.month:02d}"


def period_bounds(label: str) -> tuple[date, date]:
    """First and last day of a period label made by `period_of`."""
    if "-Q" in label:
        year, quarter = label.split("-Q")
        start = date(int(year), 3 * int(quarter) - 2, 1)
        months = 3
    elif "-" in label:
        year, month = label.split("-")
        start, months = date(int(year), int(month), 1), 1
    else:
        start, months = date(int(label), 1, 1), 12
    total = start.month - 1 + months
    nxt = date(start.year + total // 12, total % 12 + 1, 1)
    return start, nxt - timedelta(days=1)


# --- revenue (pure) ---------------------------------------------------------------------------


def revenue_by(facts: Iterable[RevenueFact], by: By = "account", period: Period = "month"
               ) -> list[RevenueRow]:
    """Invoiced, credited and net revenue per key and period; periods ascending, biggest first."""
    sums: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    names: dict[str, str] = {}
    for f in facts:
        key = f.key if by == "account" else f.owner if by == "owner" else "total"
        names.setdefault(key, f.name if by == "account" else key)
        sums[key, period_of(f.day, period)][0 if f.amount >= 0 else 1] += f.amount
    rows = [RevenueRow(key=k, name=names[k], period=p, invoiced=inv.quantize(CENT),
                       credited=(-cred).quantize(CENT), net=(inv + cred).quantize(CENT))
            for (k, p), (inv, cred) in sums.items()]
    return sorted(rows, key=lambda r: (r.period, -r.net, r.key))


def target_for(key: str, by: By, label: str, targets: Iterable[SalesTarget]) -> Decimal | None:
    """The part of the targets that falls into a period, by shared days (None: no target)."""
    start, end = period_bounds(label)
    found: Decimal | None = None
    for t in targets:
        mine = (t.account == key) if by == "account" else (
            t.owner == key and t.account is None) if by == "owner" else t.account is None
        shared = (min(end, t.period_end) - max(start, t.period_start)).days + 1
        if mine and shared > 0:
            span = (t.period_end - t.period_start).days + 1
            found = (found or Decimal(0)) + t.amount.amount * shared / span
    return found.quantize(CENT) if found is not None else None


def with_targets(rows: Sequence[RevenueRow], targets: Sequence[SalesTarget], by: By) -> list[RevenueRow]:
    out = []
    for row in rows:
        target = target_for(row.key, by, row.period, targets)
        ratio = float(row.net / target) if target else None
        out.append(row.model_copy(update={"target": target, "attainment": ratio}))
    return out


def load_targets(path: str | Path) -> list[SalesTarget]:
    """Sales targets from TOML (`[[target]]` owner, account?, period_start, period_end, amount,
    currency) or JSON (a list of such objects, or {"target": [...]})."""
    path = Path(path)
    text = path.read_text()
    data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    items = data.get("target", []) if isinstance(data, dict) else data
    problems, targets = [], []
    for number, item in enumerate(items, 1):
        try:
            fields = {k: v for k, v in item.items() if k != "currency"}
            amount = {"amount": str(item["amount"]), "currency": item.get("currency", "EUR")}
            targets.append(SalesTarget.model_validate({**fields, "amount": amount}))
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"target {number}: {exc}")
    if problems:
        raise ConfigError(problems, source=str(path))
    return targets


# --- the report (I/O) -------------------------------------------------------------------------


def revenue_report(engine: Engine, start: date, end: date, *, by: By = "account",
                   period: Period = "month", targets: Sequence[SalesTarget] = ()) -> RevenueReport:
    """Revenue from `start` to `end` per account/owner/total and period, against targets."""
    rows = revenue_by(read_revenue_facts(engine, start, end), by, period)
    return RevenueReport(currency=company_currency(engine), by=by, period=period, start=start,
                         end=end, rows=with_targets(rows, targets, by) if targets else rows)
