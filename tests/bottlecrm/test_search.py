"""The account search against a real BottleCRM: an account not coupled is found by a piece of
its name with the accounts list's own `?name=` filter (which ignores case), a page of the asked
size at a time, without listing every account; through the account view too."""

from __future__ import annotations

from typing import Any

import pytest

from koppel.config.policy import default_policy_data, load_policy
from koppel.config.settings import SyncSettings
from koppel.connectors.base import search_records
from koppel.connectors.bottlecrm import BottleCrmConnector
from koppel.connectors.memory import MemoryConnector
from koppel.engine import Engine
from koppel.processes.account_view import AccountView
from koppel.store import Store
from tests.bottlecrm.test_stories import create, n

pytestmark = pytest.mark.bottlecrm


def no_scans(crm: BottleCrmConnector, monkeypatch: pytest.MonkeyPatch) -> None:
    def scan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the accounts were read in full")
    monkeypatch.setattr(crm, "read_changes", scan)


@pytest.fixture
def firms(crm: BottleCrmConnector) -> tuple[str, list[str]]:
    """Five prospects whose names share a word no other account has, and ten more."""
    word = f"Suchfirma{n()}"
    ids = [create(crm, "account", {"name": f"{word} {k} Ltd", "industry": "manufacturing"}) for k in range(5)]
    for k in range(10):
        create(crm, "account", {"name": f"Anderswo {n()} {k} Ltd"})
    return word, ids


def test_a_search_asks_the_accounts_list_for_one_page_of_matching_names(
        crm: BottleCrmConnector, firms: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    word, ids = firms
    no_scans(crm, monkeypatch)
    crm.client.requests.clear()
    pages = search_records(crm, "account", word.upper()[3:], page_size=2)
    first = next(pages)
    assert len(first) == 2 and {r.id for r in first} <= set(ids)
    assert {r.record.name for r in first} <= {f"{word} {k} Ltd" for k in range(5)}  # by value, as BottleCRM holds it
    assert all(r.record.industry == "manufacturing" and r.record.status == "prospect" for r in first)
    assert crm.client.requests == {"GET accounts/": 1}  # one page of two, not the list of every account
    rest = [r.id for page in pages for r in page]
    assert sorted([r.id for r in first] + rest) == sorted(ids)
    assert crm.client.requests["GET accounts/"] == 3
    assert list(search_records(crm, "account", f"{word}x", page_size=5)) == []


def test_the_account_view_lists_crm_accounts_not_coupled_by_a_piece_of_their_name(
        crm: BottleCrmConnector, firms: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    word, ids = firms
    engine = Engine(Store.open("sqlite://"), {"erp": MemoryConnector("erp"), "crm": crm},
                    load_policy(default_policy_data()), SyncSettings())
    engine.store.links.add("account", [("erp-1", ids[4], {"name": f"{word} 4 Ltd", "number": "C-1"})])
    no_scans(crm, monkeypatch)
    crm.client.requests.clear()
    listed = AccountView(engine).accounts(word.lower(), include_uncoupled=True, limit=3)
    assert listed[0].key == "erp:erp-1" and listed[0].coupled and listed[0].crm_id == ids[4]
    assert [(a.coupled, a.erp_id) for a in listed[1:]] == [(False, None), (False, None)]
    assert {a.crm_id for a in listed[1:]} <= set(ids[:4]) and all(a.name and word in a.name for a in listed[1:])
    assert sum(crm.client.requests.values()) <= 2, crm.client.requests  # a page of two, a second if the coupled one was in it
    assert [a.key for a in AccountView(engine).accounts(f"crm:{ids[2]}", include_uncoupled=True)] == [f"crm:{ids[2]}"]
    engine.store.close()
