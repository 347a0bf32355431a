"""The store on real SQLite and on the local PostgreSQL server: same behaviour on both."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError

from koppel import clock
from koppel.store import AuditEntry, Parked, Store
from koppel.store import tables as t
from koppel.store.base import insert_many
from koppel.testing.postgres import fresh_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path_factory.mktemp('store')}/koppel.db")
        yield opened
        opened.close()
        return
    with fresh_database() as url:
        opened = Store.open(url)
        try:
            yield opened
        finally:
            opened.close()


def test_links_are_unique_on_both_sides(store: Store) -> None:
    store.links.add("account", [("e1", "c1", {"name": "A"})])
    first = store.links.by_ids("account", "erp", ["e1"])["e1"].id
    with pytest.raises(IntegrityError):
        store.links.add("account", [("e1", "c2", {})])
    with pytest.raises(IntegrityError):
        store.links.add("account", [("e2", "c1", {})])
    store.links.add("contact", [("e1", "c1", {})])  # the same ids in another entity are fine
    assert store.links.by_ids("account", "crm", ["c1"])["c1"].id == first


def test_links_keep_the_last_synced_snapshot(store: Store) -> None:
    store.links.add("account", [(f"e{i}", f"c{i}", {"name": f"N{i}", "n": i}) for i in range(1200)])
    found = store.links.by_ids("account", "erp", [f"e{i}" for i in range(1200)])
    ids = [found[f"e{i}"].id for i in range(1200)]
    assert len(set(ids)) == 1200
    assert found["e7"].snapshot == {"name": "N7", "n": 7} and found["e7"].crm_id == "c7"
    store.links.update_snapshots({ids[7]: {"name": "New"}})
    assert store.links.by_link_ids([ids[7]])[ids[7]].snapshot == {"name": "New"}
    assert store.links.counts() == {"account": 1200}
    store.links.delete(ids[:200])
    assert store.links.counts() == {"account": 1000}


def test_links_are_looked_up_by_any_id_whatever_its_characters(store: Store) -> None:
    """A batch's ids go to PostgreSQL as one array literal: quotes, backslashes, commas, braces,
    spaces, NULL and the empty text are ids like any other."""
    odd = ['a"b', "a\\b", "a,b", "{a}", " a ", "NULL", "", "ä\u00df", 'x\\"y', "'q'"]
    store.links.add("account", [(f"e{i}", c, {}) for i, c in enumerate(odd)])
    found = store.links.coupled("account", "crm", [*odd, "missing", "a"])
    assert sorted(found) == sorted(odd)
    assert {c: store.links.by_ids("account", "crm", [c])[c].erp_id for c in odd} == {c: f"e{i}" for i, c in enumerate(odd)}
    assert store.links.ids_on("crm", [v[0] for v in found.values()]) == {v[0]: c for c, v in found.items()}


@pytest.mark.parametrize("style", ["qmark", "named"])
def test_rows_are_inserted_alike_whatever_parameters_the_driver_takes(style: str, tmp_path: Path) -> None:
    """A batch insert gives its rows as tuples in the order of its columns, the shared values once;
    a driver with named parameters gets them by name."""
    engine = create_engine(f"sqlite:///{tmp_path}/{style}.db", paramstyle=style)
    t.metadata.create_all(engine)
    with engine.begin() as conn:
        insert_many(conn, t.audit, ("record", "actor", "action", "after"),
                    [("crm:1", "koppel", "create", {"name": "A"}), ("crm:2", "ops", "update", None)], {"at": clock.now()})
        rows = conn.execute(select(t.audit.c.actor, t.audit.c.action, t.audit.c.record, t.audit.c.after,
                                   t.audit.c.at.is_not(None)).order_by(t.audit.c.id)).all()
    assert [tuple(r) for r in rows] == [("koppel", "create", "crm:1", {"name": "A"}, True),
                                        ("ops", "update", "crm:2", None, True)]
    engine.dispose()


def test_cursors_runs_and_audit(store: Store) -> None:
    assert store.cursors.get("erp", "account") is None
    store.cursors.set("erp", "account", '{"stamp": 1}')
    store.cursors.set("erp", "account", '{"stamp": 2}')
    assert store.cursors.get("erp", "account") == '{"stamp": 2}'
    run = store.runs.start("incremental", "account")
    store.runs.finish(run, "ok", {"created": 3})
    assert store.runs.last(1)[0]["stats"] == {"created": 3}
    store.audit.add([AuditEntry(actor="koppel", action="create", entity="account", record="crm:1",
                  after={"name": "A"}, origin="erp:1")])
    [entry] = store.audit.entries()
    assert (entry["action"], entry["after"], entry["origin"]) == ("create", {"name": "A"}, "erp:1")


def test_the_error_queue_keeps_one_open_entry_per_record(store: Store) -> None:
    row = Parked("account", "erp", "e1", "crm", "create", {"name": "A"}, "permanent", "name is too long")
    store.errors.add([row])
    store.errors.add([replace(row, message="still too long")])
    [error] = store.errors.list()
    assert (error.message, error.attempts, error.payload) == ("still too long", 2, {"name": "A"})
    store.errors.set_payload(error.id, {"name": "B"})
    assert store.errors.get(error.id).payload == {"name": "B"}
    store.errors.resolve_for("account", "erp", ["e1"])
    assert store.errors.list() == [] and store.errors.counts()["resolved"] == 1


def test_conflicts_open_and_resolve(store: Store) -> None:
    store.findings.add_conflicts([{"entity": "account", "link_id": 1, "field": "phone", "base": "0",
                          "erp_value": "1", "crm_value": "2"}])
    [conflict] = store.findings.conflicts()
    assert store.findings.open_conflict_fields([1]) == {(1, "phone")}
    store.findings.resolve_conflict(conflict.id, "erp", "tester")
    assert store.findings.conflicts() == [] and store.findings.open_conflict_fields([1]) == set()
    assert store.findings.conflicts(None)[0].resolved_by == "tester"


def test_the_audit_trail_is_append_only_in_the_database(store: Store) -> None:
    from sqlalchemy.exc import DBAPIError

    store.audit.add([AuditEntry(actor="anna", action="update", entity="account", record="crm:1")])
    for statement in ("UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    [entry] = store.audit.entries()
    assert entry["actor"] == "anna"


def test_erasure_scrubs_the_audit_and_leaves_it_append_only(store: Store) -> None:
    from sqlalchemy.exc import DBAPIError

    store.audit.add([AuditEntry(actor="koppel", action="create", entity="contact", record="crm:7",
                  after={"email": "erika@acme.example"}, origin="erp:3")])
    counts = store.erasure.scrub("contact", {"crm": "7", "erp": "3"}, None, None, "dpo")
    assert counts["audit"] == 1
    entries = store.audit.entries()
    assert "erika" not in repr(entries) and entries[0]["action"] == "erase"
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("UPDATE audit SET actor = 'mallory'"))


def test_links_are_searched_in_sql_by_name_number_and_ids_ignoring_case(store: Store) -> None:
    store.links.add("account", [
        ("e1", "c1", {"name": "Acme GmbH", "number": "C-100"}), ("e2", "c2", {"name": "Müller Öl AG"}),
        ("e3", "c3", {"name": "50% off_sale", "number": None}), ("e4", "c4", {"name": "ACME Beta"})])
    store.links.add("contact", [("e5", "c5", {"name": "Acme contact"})])

    def found(text: str, limit: int = 10) -> list[str]:
        return [link.erp_id for link in store.links.search("account", text, limit=limit)]

    assert found("acme") == ["e1", "e4"] and found("acme", 1) == ["e1"]  # oldest link first, limited
    assert found("c-1") == ["e1"] and found("ÖL") == ["e2"] and found("müller öl") == ["e2"]
    assert found("%") == ["e3"] and found("_s") == ["e3"] and found("o_f") == [] and found("0%o") == []  # wildcards are text
    assert found("erp:e2") == ["e2"] and found("crm:c3") == ["e3"] and found("e4") == ["e4"]
    assert found("") == ["e1", "e2", "e3", "e4"] and found("", 2) == ["e1", "e2"]
    assert found("none") == [] and found("nobody") == []
    assert store.links.search("account", "acme", limit=1)[0].snapshot == {"name": "Acme GmbH", "number": "C-100"}
