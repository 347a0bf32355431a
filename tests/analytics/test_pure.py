"""R9 analytics over hand-made facts: revenue per account, owner and period net of credit
notes and against targets; risers and fallers; customer value and its A/B/C tiers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from koppel.analytics.customer_value import ValueSettings, customer_values, tiers, unnamed_account_names
from koppel.analytics.evolution import evolution
from koppel.analytics.facts import ActivityCount, RevenueFact, revenue_facts
from koppel.analytics.revenue import load_targets, period_bounds, period_of, revenue_by, with_targets
from koppel.connectors.base import InvoiceFact
from koppel.connectors.memory import MemoryConnector
from koppel.connectors.tryton.invoicing import invoice_costs
from koppel.errors import ConfigError
from koppel.model import SalesTarget


def fact(account: str, day: str, amount: str, owner: str = "anna", cost: str = "0") -> RevenueFact:
    return RevenueFact(erp_account=f"p{account}", account=account, name=f"Account {account}",
                       owner=owner, day=date.fromisoformat(day), amount=Decimal(amount),
                       cost=Decimal(cost))


FACTS = [fact("a", "2026-01-10", "1000", cost="400"), fact("a", "2026-01-20", "-200", cost="-80"),
         fact("a", "2026-04-02", "500", cost="200"), fact("b", "2026-02-01", "300", owner="ben"),
         fact("c", "2025-05-05", "800", owner="ben"), fact("c", "2026-05-05", "100", owner="ben")]


def test_periods_have_labels_and_bounds() -> None:
    day = date(2026, 5, 31)
    assert [period_of(day, p) for p in ("month", "quarter", "year")] == ["2026-05", "2026-Q2", "2026"]
    assert period_bounds("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    assert period_bounds("2026-Q4") == (date(2026, 10, 1), date(2026, 12, 31))
    assert period_bounds("2025") == (date(2025, 1, 1), date(2025, 12, 31))


def test_revenue_per_account_and_month_is_net_of_credit_notes() -> None:
    rows = {(r.key, r.period): r for r in revenue_by(FACTS, "account", "month")}
    january = rows["a", "2026-01"]
    assert (january.invoiced, january.credited, january.net) == (Decimal(1000), Decimal(200), Decimal(800))
    assert rows["a", "2026-04"].net == Decimal(500) and rows["b", "2026-02"].name == "Account b"


def test_revenue_per_owner_and_quarter_and_in_total_per_year() -> None:
    owners = {(r.key, r.period): r.net for r in revenue_by(FACTS, "owner", "quarter")}
    assert owners == {("anna", "2026-Q1"): Decimal(800), ("anna", "2026-Q2"): Decimal(500),
                      ("ben", "2026-Q1"): Decimal(300), ("ben", "2026-Q2"): Decimal(100),
                      ("ben", "2025-Q2"): Decimal(800)}
    total = {r.period: r.net for r in revenue_by(FACTS, "total", "year")}
    assert total == {"2025": Decimal(800), "2026": Decimal(1700)}


def test_targets_are_shared_out_by_days_and_give_attainment() -> None:
    yearly = SalesTarget(owner="anna", period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
                         amount={"amount": "3650", "currency": "EUR"})
    rows = with_targets(revenue_by(FACTS, "owner", "quarter"), [yearly], "owner")
    q1 = next(r for r in rows if (r.key, r.period) == ("anna", "2026-Q1"))
    assert q1.target == Decimal(900) and q1.attainment == pytest.approx(800 / 900)
    assert next(r for r in rows if r.key == "ben").target is None


def test_targets_load_from_toml_and_report_every_bad_one(tmp_path: Path) -> None:
    good = tmp_path / "targets.toml"
    good.write_text('[[target]]\nowner = "anna"\nperiod_start = 2026-01-01\nperiod_end = 2026-03-31\n'
                    'amount = 1200\n\n[[target]]\nowner = "ben"\naccount = "b"\n'
                    'period_start = 2026-01-01\nperiod_end = 2026-12-31\namount = "5000.50"\ncurrency = "EUR"\n')
    loaded = load_targets(good)
    assert [(t.owner, t.account, t.amount.amount) for t in loaded] == [
        ("anna", None, Decimal(1200)), ("ben", "b", Decimal("5000.5"))]
    bad = tmp_path / "targets.json"
    bad.write_text('[{"owner": "x"}, {"owner": "y", "period_start": "2026-01-01"}]')
    with pytest.raises(ConfigError) as caught:
        load_targets(bad)
    assert len(caught.value.problems) == 2


def test_risers_and_fallers_by_absolute_and_relative_change() -> None:
    facts = [*FACTS, fact("d", "2025-03-01", "100"), fact("d", "2026-03-01", "400"),
             fact("e", "2026-03-01", "50")]
    moves = evolution(facts, (date(2025, 1, 1), date(2025, 12, 31)), (date(2026, 1, 1), date(2026, 12, 31)))
    assert [m.key for m in moves.risers] == ["a", "b", "d", "e"]  # b and d tie: by key
    assert [m.key for m in moves.fallers] == ["c"] and moves.fallers[0].relative == pytest.approx(-0.875)
    assert [m.key for m in moves.risers_relative] == ["d"]  # a, b, e are new: no relative change
    assert moves.risers[0].change == Decimal(1300)


def test_tiers_cut_by_rank() -> None:
    assert tiers(10, 0.2, 0.3) == ["A"] * 2 + ["B"] * 3 + ["C"] * 5
    assert tiers(5, 0.2, 0.3) == ["A", "B", "B", "C", "C"]
    assert tiers(1, 0.2, 0.3) == ["A"] and tiers(0, 0.2, 0.3) == []


def test_value_is_revenue_minus_goods_and_activity_cost() -> None:
    activities = {"a": ActivityCount(tasks=4, cases=1), "b": ActivityCount(cases=10), "z": ActivityCount(tasks=1)}
    values = {v.key: v for v in customer_values(FACTS, activities, ValueSettings(task_rate=Decimal(10),
                                                                                  case_rate=Decimal(50)))}
    a = values["a"]
    assert (a.revenue, a.cost_of_goods, a.activity_cost, a.value) == (
        Decimal(1300), Decimal(520), Decimal(90), Decimal(690))
    assert values["b"].value == Decimal(-200) and values["z"].value == Decimal(-10)
    assert [values[k].tier for k in ("c", "a", "z", "b")] == ["A", "B", "C", "C"]


def test_an_account_only_in_the_crm_is_shown_by_its_crm_name() -> None:
    crm = MemoryConnector("crm")
    prospect = crm.put("account", {"name": "Prospect Ltd", "status": "prospect"})
    activities = {"a": ActivityCount(tasks=1), prospect: ActivityCount(cases=2), "gone": ActivityCount(tasks=1)}
    names = unnamed_account_names(crm, FACTS, activities)
    assert names == {prospect: "Prospect Ltd"} and crm.calls["read"] == 1  # one batch, only the unnamed
    values = {v.key: v for v in customer_values(FACTS, activities, crm_names=names)}
    assert (values[prospect].name, values[prospect].account) == ("Prospect Ltd", prospect)
    assert values["a"].name == "Account a" and values["gone"].name == "gone"  # no name to read: the id


def test_bad_tier_cuts_are_refused() -> None:
    with pytest.raises(ValueError, match="must not exceed 1"):
        ValueSettings(a_share=0.6, b_share=0.6)


def test_erp_invoices_become_facts_of_crm_accounts_and_owners() -> None:
    invoices = [InvoiceFact("1", "INV-1", "7", "Acme", date(2026, 1, 2), Decimal("100"), Decimal("30")),
                InvoiceFact("2", "INV-2", "8", "Solo", date(2026, 1, 3), Decimal("-50"), Decimal("-10"))]
    facts = revenue_facts(invoices, {"7": "crm-acme"}, {"crm-acme": "anna@example.com"})
    assert [(f.key, f.owner, f.amount) for f in facts] == [
        ("crm-acme", "anna@example.com", Decimal(100)), ("erp:8", "unassigned", Decimal(-50))]
    assert invoices[1].kind == "credit_note"
    lines = [{"invoice": 1, "quantity": 2.0, "product.": {"cost_price": Decimal("12.5")}},
             {"invoice": 1, "quantity": -1.0, "product.": {"cost_price": Decimal("12.5")}},
             {"invoice": 2, "quantity": 3.0, "product.": {}}]
    assert invoice_costs(lines) == {1: Decimal("12.5"), 2: Decimal(0)}
