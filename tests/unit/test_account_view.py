"""The account 360° reads what belongs to the account, by each system's filter: no system is
read in full, and the view shows what the full reads showed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import pytest

from koppel.connectors.base import ChangeBatch, read_related, search_records
from koppel.connectors.memory import MemoryConnector
from koppel.processes.account_view import AccountView
from koppel.testing.builders import Pair, customer, twin
from koppel.testing.scans import ScanningAccountView


def money(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "EUR"}


def documents(pair: Pair, n: int) -> str:
    """Customer n with a contact, an order and its shipment, two invoices and a CRM case."""
    account = customer(pair, n)
    pair.erp.put("contact", {"last_name": f"Muster {n}", "email": f"m{n}@example.com", "account": account})
    order = pair.erp.put("order", {"number": f"SO{n}", "account": account, "state": "confirmed",
                                   "total": money("100")})
    pair.erp.put("shipment", {"number": f"SH{n}", "order": order, "account": account,
                              "planned_date": "2026-03-01"})
    for k, state in enumerate(("posted", "paid")):
        pair.erp.put("invoice", {"number": f"INV{n}-{k}", "account": account, "order": order, "state": state,
                                 "due_date": "2020-01-01", "amount_to_pay": money("0" if k else "119")})
    return account


@pytest.fixture
def three(pair: Pair) -> list[str]:
    accounts = [documents(pair, n) for n in (1, 2, 3)]
    pair.engine.sync()
    for n, account in enumerate(accounts, 1):
        pair.crm.put("case", {"subject": f"Broken {n}", "account": twin(pair.store, account)})
        pair.crm.put("contact", {"last_name": f"Crm only {n}", "account": twin(pair.store, account)})
    return accounts


def no_scans(monkeypatch: pytest.MonkeyPatch, *systems: MemoryConnector) -> None:
    def scan(entity: str, cursor: str | None, *, batch_size: int = 500) -> Iterator[ChangeBatch]:
        raise AssertionError(f"{entity} was read in full")
    for system in systems:
        monkeypatch.setattr(system, "read_changes", scan)


def test_the_360_view_reads_no_system_in_full_and_shows_what_the_scans_showed(
        pair: Pair, three: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"erp:{three[1]}"
    before = ScanningAccountView(pair.engine).account(key)
    no_scans(monkeypatch, pair.erp, pair.crm)
    after = AccountView(pair.engine).account(key)
    assert after is not None and before is not None
    assert asdict(after) == asdict(before)
    assert [o["number"] for o in after.orders] == ["SO2"]
    assert [i["number"] for i in after.invoices] == ["INV2-0", "INV2-1"]
    assert after.orders[0]["planned_ship_date"] == "2026-03-01"
    assert [c["subject"] for c in after.complaints] == ["Broken 2"]
    assert sorted(c["last_name"] for c in after.contacts) == ["Crm only 2", "Muster 2"]
    assert after.open_amounts and after.overdue_amounts
    assert pair.erp.calls["read_related"] >= 4 and pair.crm.calls["read_related"] >= 3


def test_the_360_view_from_the_crm_side_equals_the_scans_too(pair: Pair, three: list[str]) -> None:
    key = f"crm:{twin(pair.store, three[0])}"
    assert asdict(AccountView(pair.engine).account(key) or {}) == asdict(
        ScanningAccountView(pair.engine).account(key) or {})


class _Plain:
    """Only the contract (no `read_related`, no `search`), counting its full reads."""

    def __init__(self, inner: MemoryConnector) -> None:
        self.inner, self.scans = inner, 0

    def read_changes(self, entity: str, cursor: str | None, **kw: Any) -> Iterator[ChangeBatch]:
        self.scans += 1
        return self.inner.read_changes(entity, cursor, **kw)


def test_a_connector_without_related_reads_is_scanned_once_per_call(pair: Pair, three: list[str]) -> None:
    plain = _Plain(pair.erp)
    found = read_related(plain, "invoice", "account", three[:2])  # type: ignore[arg-type]
    assert sorted(pair.erp.get("invoice", r.id)["number"] for r in found) == [
        "INV1-0", "INV1-1", "INV2-0", "INV2-1"]
    assert plain.scans == 1


def test_related_reads_follow_changes_after_the_first_read(pair: Pair, three: list[str]) -> None:
    assert len(read_related(pair.erp, "order", "account", [three[0]])) == 1
    order = pair.erp.put("order", {"number": "SO-new", "account": three[0]})
    pair.erp.put("order", {"account": three[2]}, pair.erp.ids("order")[0])  # moved to another account
    assert [r.id for r in read_related(pair.erp, "order", "account", [three[0]])] == [order]
    pair.erp.remove("order", order)
    assert read_related(pair.erp, "order", "account", [three[0]]) == []


def test_order_entrys_customer_list_reads_the_crm_alone(
        pair: Pair, three: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    prospect = pair.crm.put("account", {"name": "Prospect GmbH"})
    customer(pair, 9)  # an ERP customer not yet coupled: no CRM account to quote for
    no_scans(monkeypatch, pair.erp)
    listed = AccountView(pair.engine).accounts(None, include_uncoupled=True, uncoupled_from=("crm",))
    assert sorted(a.key for a in listed if not a.coupled) == [f"crm:{prospect}"]
    assert sum(a.coupled for a in listed) == 3


# --- the account search: the store's SQL and each system's own search, no full read ----------


@pytest.fixture
def mixed(pair: Pair) -> dict[str, str]:
    """Three coupled customers; two ERP customers and a CRM prospect never coupled; 40 more
    uncoupled accounts in each system that match no search below."""
    coupled = [customer(pair, n) for n in (1, 2, 3)]
    pair.engine.sync(["account"])
    found = {"coupled": coupled[1], "erp": customer(pair, 7, name="Zebrawerk Süd KG"),
             "erp_number": customer(pair, 8, name="Other AG", number="ZW-88"),
             "crm": pair.crm.put("account", {"name": "ZEBRA Prospect Ltd", "status": "prospect"})}
    for n in range(40):
        pair.erp.put("account", {"name": f"Filler {n} AG"})
        pair.crm.put("account", {"name": f"Filler {n} Ltd", "status": "prospect"})
    return found


def test_the_search_finds_coupled_and_uncoupled_accounts_ignoring_case_without_a_full_read(
        pair: Pair, mixed: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    no_scans(monkeypatch, pair.erp, pair.crm)
    view = AccountView(pair.engine)
    assert [a.key for a in view.accounts("ACME 2")] == [f"erp:{mixed['coupled']}"]
    assert [a.name for a in view.accounts("c3")] == ["Acme 3 GmbH"]  # by the number, from the links
    assert view.accounts("zebra") == []  # the uncoupled ones only when asked for
    hits = view.accounts("zebra", include_uncoupled=True)
    assert [(a.key, a.name, a.coupled) for a in hits] == [
        (f"erp:{mixed['erp']}", "Zebrawerk Süd KG", False), (f"crm:{mixed['crm']}", "ZEBRA Prospect Ltd", False)]
    assert (hits[1].erp_id, hits[1].crm_id) == (None, mixed["crm"])
    assert [a.key for a in view.accounts("süd", include_uncoupled=True)] == [f"erp:{mixed['erp']}"]
    assert [a.key for a in view.accounts("zw-8", include_uncoupled=True)] == [f"erp:{mixed['erp_number']}"]
    assert [a.key for a in view.accounts(f"crm:{mixed['crm']}", include_uncoupled=True)] == [f"crm:{mixed['crm']}"]
    both = view.accounts("acme", include_uncoupled=True)  # coupled first, then each system's others
    assert [a.coupled for a in both] == [True, True, True]  # a coupled record is listed once
    assert pair.erp.calls["search"] + pair.crm.calls["search"] <= 12


def test_the_search_stops_at_the_limit_and_reads_about_as_many_records(
        pair: Pair, mixed: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    no_scans(monkeypatch, pair.erp, pair.crm)
    view = AccountView(pair.engine)
    assert len(view.accounts(None, limit=2)) == 2
    read: list[int] = []
    search = pair.erp.search

    def counted(entity: str, text: str, **kw: Any) -> Iterator[list[Any]]:
        for page in search(entity, text, **kw):
            read.append(len(page))
            yield page

    monkeypatch.setattr(pair.erp, "search", counted)
    listed = view.accounts("", include_uncoupled=True, limit=10)
    assert [a.coupled for a in listed] == [True] * 3 + [False] * 7
    assert all(a.key.startswith("erp:") for a in listed[3:])  # the ERP's filled it: the CRM is not read
    assert pair.crm.calls.get("search", 0) == 0
    assert read == [7, 7]  # the first page began with the three coupled ones: one more page, not all 45
    assert len(view.accounts("filler", include_uncoupled=True, limit=50)) == 50  # 40 of the ERP, 10 of the CRM
    assert view.accounts("filler", include_uncoupled=True, uncoupled_from=("crm",), limit=5)[0].key.startswith("crm:")


def test_a_system_without_a_search_is_scanned_once_and_finds_the_same(pair: Pair, mixed: dict[str, str]) -> None:
    plain = _Plain(pair.crm)
    native = [r.id for page in search_records(pair.crm, "account", "zebra", page_size=5) for r in page]
    scanned = [r.id for page in search_records(plain, "account", "zebra", page_size=5)  # type: ignore[arg-type]
               for r in page]
    assert native == scanned == [mixed["crm"]] and plain.scans == 1


def test_the_search_shows_what_the_full_reads_showed(pair: Pair, mixed: dict[str, str]) -> None:
    new, old = AccountView(pair.engine), ScanningAccountView(pair.engine)
    for text in ("acme", "ZEBRA", "zw-88", "", "nothing like it"):
        for limit in (1, 4, 100):
            assert new.accounts(text, include_uncoupled=True, limit=limit) == old.accounts(
                text, include_uncoupled=True, limit=limit), (text, limit)
