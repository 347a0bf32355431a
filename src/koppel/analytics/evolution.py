"""Customer evolution (R9): how each account's net revenue moved between two periods, with
risers and fallers ranked by absolute and by relative change.

An account new in the second period has no relative change (None) and ranks only by amount.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from koppel.analytics.facts import RevenueFact, read_revenue_facts
from koppel.engine import Engine

Span = tuple[date, date]


class Movement(BaseModel):
    key: str  # CRM account id (erp:<id> when not coupled)
    name: str
    before: Decimal
    after: Decimal
    change: Decimal
    relative: float | None  # change / |before|; None when there was nothing before


class Evolution(BaseModel):
    before: Span
    after: Span
    movements: list[Movement]  # every account, biggest absolute change first
    risers: list[Movement]  # by absolute change, biggest rise first
    fallers: list[Movement]  # by absolute change, biggest fall first
    risers_relative: list[Movement]
    fallers_relative: list[Movement]


def _net(facts: Iterable[RevenueFact], span: Span) -> tuple[dict[str, Decimal], dict[str, str]]:
    sums: dict[str, Decimal] = {}
    names: dict[str, str] = {}
    for f in facts:
        if span[0] <= f.day <= span[1]:
            sums[f.key] = sums.get(f.key, Decimal(0)) + f.amount
            names.setdefault(f.key, f.name)
    return sums, names


def movement(key: str, name: str, before: Decimal, after: Decimal) -> Movement:
    change = after - before
    relative = float(change / abs(before)) if before else None
    return Movement(key=key, name=name, before=before, after=after, change=change, relative=relative)


def evolution(facts: Iterable[RevenueFact], before: Span, after: Span, *, limit: int = 10) -> Evolution:
    """Pure: net revenue per account in both spans, and the top movers each way."""
    facts = list(facts)
    first, names = _net(facts, before)
    second, later_names = _net(facts, after)
    names = {**later_names, **names}
    moves = [movement(k, names[k], first.get(k, Decimal(0)), second.get(k, Decimal(0)))
             for k in sorted(set(first) | set(second))]
    moves.sort(key=lambda m: (-abs(m.change), m.key))
    up = [m for m in moves if m.change > 0]
    down = [m for m in moves if m.change < 0]
    return Evolution(
        before=before, after=after, movements=moves, risers=up[:limit], fallers=down[:limit],
        risers_relative=sorted((m for m in up if m.relative is not None),
                               key=lambda m: -(m.relative or 0))[:limit],
        fallers_relative=sorted((m for m in down if m.relative is not None),
                                key=lambda m: m.relative or 0)[:limit])


def customer_evolution(engine: Engine, before: Span, after: Span, *, limit: int = 10) -> Evolution:
    """Evolution between two spans, read from the ERP's posted invoices and credit notes."""
    start, end = min(before[0], after[0]), max(before[1], after[1])
    return evolution(read_revenue_facts(engine, start, end), before, after, limit=limit)
