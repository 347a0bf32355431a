"""Revenue analytics (R9): revenue against targets per period and per account or owner, risers
and fallers against the span before, and customer value with its A/B/C tiers — SVG and tables.

The ERP's invoices are read once per page; the analytics' pure functions do the rest.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from koppel import clock
from koppel.analytics import customer_value as cv
from koppel.analytics import evolution as ev
from koppel.analytics import revenue as rv
from koppel.analytics.facts import activity_counts, company_currency, read_revenue_facts
from koppel.api.deps import WorkspaceDep
from koppel.config.settings import Settings
from koppel.errors import UsageError
from koppel.i18n import _, ngettext, translate
from koppel.model import SalesTarget
from koppel.services import processes
from koppel.web import charts
from koppel.web.auth import PageOperator, PageUser
from koppel.web.render import Flash, page, redirect

router = APIRouter(prefix="/analytics", include_in_schema=False)
TOP = 12
HALF = 520  # the width of a chart in a half-width card


@dataclass(frozen=True)
class Total:
    key: str
    name: str
    net: Decimal
    target: Decimal | None

    @property
    def attainment(self) -> float | None:
        return float(self.net / self.target) if self.target else None


@router.get("")
def analytics(request: Request, ws: WorkspaceDep, user: PageUser, start: date | None = None,
              end: date | None = None, by: rv.By = "account", period: rv.Period = "month") -> Response:
    start, end = _span(start, end)
    before = (start - (end - start) - timedelta(days=1), start - timedelta(days=1))
    targets = load_targets(ws.runtime.settings)
    with ws.peers() as rt:
        facts = read_revenue_facts(rt.engine, before[0], end)
        activities = activity_counts(rt.engine.connectors["crm"])
        currency = company_currency(rt.engine)
        now = [f for f in facts if start <= f.day <= end]
        crm_names = cv.unnamed_account_names(rt.engine.connectors["crm"], now, activities)
    per_period = rv.with_targets(rv.revenue_by(now, "total", period), targets, "total")
    split = _totals(rv.with_targets(rv.revenue_by(now, by, period), targets, by))
    evolution = ev.evolution(facts, before, (start, end), limit=8)
    values = cv.customer_values(now, activities, crm_names=crm_names)
    return page(request, ws.runtime, user, "analytics.html", start=start, end=end, before=before, by=by,
                period=period, currency=currency, per_period=per_period, split=split[:25],
                evolution=evolution, values=values, tiers=_tier_summary(values), has_targets=bool(targets),
                charts=_charts(per_period, split, evolution, values))


@router.post("/push-tiers")
def push_tiers(ws: WorkspaceDep, user: PageOperator, start: Annotated[date, Form()],
               end: Annotated[date, Form()]) -> Response:
    report = processes.push_tiers(ws, user.name, start, end)
    kind = "ok" if not report.errors else "warn"
    detail = "; ".join(_("account {key}: {error}", key=k, error=translate(str(v)))
                       for k, v in list(report.errors.items())[:5])
    text = ngettext("Tiers written to {n} CRM account.", "Tiers written to {n} CRM accounts.", report.written)
    return redirect(f"/analytics?start={start}&end={end}", Flash(kind, text, detail))


def load_targets(settings: Settings) -> list[SalesTarget]:
    """Sales targets from the file `[analytics] targets_path` names (BottleCRM keeps none)."""
    path = settings.analytics.targets_path
    return rv.load_targets(path) if path else []


def _span(start: date | None, end: date | None) -> tuple[date, date]:
    today = clock.now().date()
    end = end or today
    if start is None:  # the last twelve months, this one included
        months = end.year * 12 + end.month - 1 - 11
        start = date(months // 12, months % 12 + 1, 1)
    if end < start:
        raise UsageError(f"the period ends ({end}) before it starts ({start})", hint="swap start and end")
    return start, end


def _totals(rows: list[rv.RevenueRow]) -> list[Total]:
    """Revenue rows summed over the periods, per key, biggest first."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    target: dict[str, Decimal] = {}
    names: dict[str, str] = {}
    for row in rows:
        net[row.key] += row.net
        names[row.key] = row.name
        if row.target is not None:
            target[row.key] = target.get(row.key, Decimal(0)) + row.target
    found = [Total(k, names[k], v, target.get(k)) for k, v in net.items()]
    return sorted(found, key=lambda t: (-t.net, t.key))


def _tier_summary(values: list[cv.CustomerValue]) -> list[tuple[str, int, Decimal]]:
    return [(tier, sum(1 for v in values if v.tier == tier), sum((v.value for v in values if v.tier == tier),
                                                                  Decimal(0))) for tier in ("A", "B", "C")]


def _charts(per_period: list[rv.RevenueRow], split: list[Total], evolution: ev.Evolution,
            values: list[cv.CustomerValue]) -> dict[str, object]:
    moves = evolution.risers[:6] + list(reversed(evolution.fallers[:6]))
    return {
        "periods": charts.columns([charts.Bar(r.period, float(r.net), float(r.target) if r.target else None)
                                   for r in per_period], title=_("Net revenue per period against target")),
        "split": charts.rows([charts.Bar(t.name, float(t.net), float(t.target) if t.target else None)
                              for t in split[:TOP]], title=_("Net revenue, biggest first"), width=HALF),
        "movers": charts.rows([charts.Bar(m.name, float(m.change), tone="good" if m.change > 0 else "bad")
                               for m in moves], title=_("Risers and fallers: change in net revenue"), width=HALF),
        "value": charts.rows([charts.Bar(v.name, float(v.value), tone=v.tier.lower()) for v in values[:TOP]],
                             title=_("Customer value (revenue minus cost to serve), by tier")),
    }
