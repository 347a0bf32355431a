"""Customer value (R9): revenue minus cost to serve, in A/B/C tiers pushed to the CRM.

Cost to serve = the ERP's cost of goods sold on the account's invoices (quantity × the
product's current cost price, credit notes netted) + the CRM's tasks and cases on the account
× configurable rates. Tiers by rank of value: the top `a_share` of accounts is A, the next
`b_share` B, the rest C. `push_tiers` writes `value_tier` to the CRM accounts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from koppel.analytics.facts import ActivityCount, RevenueFact, activity_counts, read_revenue_facts
from koppel.config.settings import ValueSettings
from koppel.connectors.base import Connector, WriteOp
from koppel.engine import Engine, writes

Tier = Literal["A", "B", "C"]
CENT = Decimal("0.01")


class CustomerValue(BaseModel):
    key: str  # the CRM account id (erp:<id> when not coupled)
    account: str | None
    name: str
    revenue: Decimal
    cost_of_goods: Decimal
    tasks: int
    cases: int
    activity_cost: Decimal
    cost_to_serve: Decimal
    value: Decimal
    tier: Tier = "C"


class PushReport(BaseModel):
    written: int
    skipped: list[str]  # keys without a CRM account
    errors: dict[str, str]  # CRM account id -> the CRM's message


def tiers(count: int, a_share: float, b_share: float) -> list[Tier]:
    """Tiers for `count` accounts ranked by value, best first."""
    a = math.ceil(count * a_share - 1e-9)
    b = math.ceil(count * (a_share + b_share) - 1e-9) - a
    ranked: list[Tier] = ["A"] * a
    return ranked + ["B"] * b + ["C"] * (count - a - b)


def customer_values(facts: Iterable[RevenueFact], activities: Mapping[str, ActivityCount],
                    settings: ValueSettings | None = None, crm_names: Mapping[str, str] | None = None
                    ) -> list[CustomerValue]:
    """Pure: value and tier per account with revenue or CRM activity, best first. An account
    without invoices is named from `crm_names` (CRM account id -> name), else by its id."""
    s = settings or ValueSettings()
    crm_names = crm_names or {}
    revenue: dict[str, list[Decimal]] = {}
    names: dict[str, tuple[str | None, str]] = {}
    for f in facts:
        revenue.setdefault(f.key, [Decimal(0), Decimal(0)])
        revenue[f.key][0] += f.amount
        revenue[f.key][1] += f.cost
        names.setdefault(f.key, (f.account, f.name))
    keys = sorted(set(revenue) | set(activities))
    values = [_value(k, names.get(k, (k, crm_names.get(k, k))), revenue.get(k, [Decimal(0), Decimal(0)]),
                     activities.get(k, ActivityCount()), s) for k in keys]
    values.sort(key=lambda v: (-v.value, v.key))
    return [v.model_copy(update={"tier": t})
            for v, t in zip(values, tiers(len(values), s.a_share, s.b_share), strict=True)]


def _value(key: str, name: tuple[str | None, str], money: list[Decimal], activity: ActivityCount,
           s: ValueSettings) -> CustomerValue:
    activity_cost = activity.tasks * s.task_rate + activity.cases * s.case_rate
    cost = money[1] + activity_cost
    return CustomerValue(key=key, account=name[0], name=name[1], revenue=money[0].quantize(CENT),
                         cost_of_goods=money[1].quantize(CENT), tasks=activity.tasks,
                         cases=activity.cases, activity_cost=activity_cost.quantize(CENT),
                         cost_to_serve=cost.quantize(CENT), value=(money[0] - cost).quantize(CENT))


def unnamed_account_names(crm: Connector, facts: Iterable[RevenueFact],
                          activities: Mapping[str, ActivityCount]) -> dict[str, str]:
    """CRM names of the accounts with activity but no invoice to name them (CRM-only accounts
    among them), read in one batch; accounts the CRM no longer has are left out."""
    named = {f.key for f in facts}
    ids = sorted(k for k in activities if k not in named)
    if not ids:
        return {}
    return {r.id: str(name) for r in crm.read("account", ids)
            if (name := getattr(r.record, "name", None))}


def customer_value(engine: Engine, start: date, end: date, settings: ValueSettings | None = None
                   ) -> list[CustomerValue]:
    """Value and tier of every account with invoices from `start` to `end` or CRM activity."""
    crm = engine.connectors["crm"]
    facts = read_revenue_facts(engine, start, end)
    activities = activity_counts(crm)
    return customer_values(facts, activities, settings, unnamed_account_names(crm, facts, activities))


def push_tiers(engine: Engine, values: Sequence[CustomerValue], actor: str = "analytics") -> PushReport:
    """Write each account's tier to the CRM (`value_tier`, CRM-local in the default policy) and
    into its link snapshot, so no sync takes it for a CRM edit to send or revert."""
    targets = [v for v in values if v.account]
    ops = [WriteOp(v.account or "", {"value_tier": v.tier}, v.account) for v in targets]
    outcomes = writes.write(engine, "crm", "account", ops, actor=actor, origin="customer-value",
                            snapshots={v.account or "": {"value_tier": v.tier} for v in targets})
    errors = {o.key: (o.error.message if o.error else "") for o in outcomes if not o.ok}
    written = {v.account: v.tier for v in targets if v.account not in errors}
    return PushReport(written=len(written), skipped=[v.key for v in values if not v.account],
                      errors=errors)
