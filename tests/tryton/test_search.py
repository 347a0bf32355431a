"""The account search against a real Tryton: an uncoupled customer is found by a piece of its
name or code with Tryton's own domain (`ilike`, a page of ids after the last), ignoring case and
taking wildcards literally, without the list of all parties; through the account view too."""

from __future__ import annotations

from typing import Any

import pytest

from koppel.config.policy import default_policy_data, load_policy
from koppel.config.settings import SyncSettings
from koppel.connectors.base import search_records
from koppel.connectors.memory import MemoryConnector
from koppel.connectors.tryton import TrytonConnector
from koppel.engine import Engine
from koppel.processes.account_view import AccountView
from koppel.store import Store
from tests.tryton.test_stories import _n, _one

pytestmark = pytest.mark.tryton


class Counted:
    """Every call the connector sends to Tryton, and the party rows or ids that came back; a
    full read (`read_changes`) fails the test."""

    def __init__(self, erp: TrytonConnector, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, str]] = []
        self.parties = 0
        send = erp.client.model

        def model(model: str, method: str, *args: Any, **kwargs: Any) -> Any:
            answer = send(model, method, *args, **kwargs)
            self.calls.append((model, method))
            if model == "party.party" and isinstance(answer, list):
                self.parties += len(answer)
            return answer

        monkeypatch.setattr(erp.client, "model", model)
        monkeypatch.setattr(erp, "read_changes", self.scan)

    @staticmethod
    def scan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the accounts were read in full")


@pytest.fixture
def firms(erp: TrytonConnector) -> tuple[str, list[str]]:
    """Seven customers whose names share a word no other party has, and twenty more."""
    word = f"Suchwerk{_n()}"
    ids = [_one(erp, "account", {"name": f"{word} {k} GmbH", "number": f"SW-{word}-{k}", "currency": "EUR"})
           for k in range(7)]
    for k in range(20):
        _one(erp, "account", {"name": f"Anderswo {_n()} {k} AG", "currency": "EUR"})
    return word, ids


def test_a_search_reads_a_page_of_matching_parties_not_all(
        erp: TrytonConnector, firms: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    word, ids = firms
    counted = Counted(erp, monkeypatch)
    pages = search_records(erp, "account", word.upper(), page_size=3, fields=("name", "number"))
    first = next(pages)
    assert [r.id for r in first] == ids[:3]  # oldest first (by id)
    assert [r.record.name for r in first] == [f"{word} {k} GmbH" for k in range(3)]  # by value, as Tryton holds it
    assert counted.parties <= 6, counted.calls  # three ids, three rows: no list of every party
    assert [m for _, m in counted.calls] == ["search", "search_read"]
    rest = [r.id for page in pages for r in page]
    assert rest == ids[3:] and counted.parties <= 6 + 2 * 4
    by_code = [r.id for page in search_records(erp, "account", f"sw-{word}-4".lower(), page_size=10) for r in page]
    assert by_code == [ids[4]]


def test_wildcards_in_the_text_are_taken_literally(erp: TrytonConnector) -> None:
    name = f"Rabatt 50%_{_n()} KG"
    party = _one(erp, "account", {"name": name, "currency": "EUR"})
    assert [r.id for page in search_records(erp, "account", name[7:], page_size=5) for r in page] == [party]
    assert list(search_records(erp, "account", f"50_%{name[11:]}", page_size=5)) == []


def test_the_account_view_lists_tryton_customers_not_coupled_by_a_piece_of_their_name(
        erp: TrytonConnector, firms: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    word, ids = firms
    engine = Engine(Store.open("sqlite://"), {"erp": erp, "crm": MemoryConnector("crm")},
                    load_policy(default_policy_data()), SyncSettings())
    engine.store.links.add("account", [(ids[0], "crm-1", {"name": f"{word} 0 GmbH", "number": None})])
    counted = Counted(erp, monkeypatch)
    listed = AccountView(engine).accounts(word.lower(), include_uncoupled=True, uncoupled_from=("erp",), limit=4)
    assert [(a.key, a.coupled) for a in listed] == [(f"erp:{ids[0]}", True)] + [
        (f"erp:{i}", False) for i in ids[1:4]]
    assert [a.name for a in listed[1:]] == [f"{word} {k} GmbH" for k in (1, 2, 3)]
    assert [a.number for a in listed[1:]] == [f"SW-{word}-{k}" for k in (1, 2, 3)]
    assert counted.parties <= 2 * 3 + 2 * 3, counted.calls  # pages of three, the coupled one among them
    engine.store.close()
