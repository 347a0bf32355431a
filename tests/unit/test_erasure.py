"""Erasure: a person is anonymised in both systems, koppel's copies are scrubbed, the audit keeps
only that it happened, and the audit is append-only again right after."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from koppel.engine import erasure
from koppel.testing.builders import Pair, customer


def test_a_person_is_erased_in_both_systems_and_in_koppel(pair: Pair) -> None:
    account = customer(pair)
    person = pair.erp.put("contact", {"first_name": "Erika", "last_name": "Mustermann", "account": account,
                                      "email": "erika@acme.example", "phone": "+49 30 1"})
    pair.engine.sync()
    twin = pair.store.links.by_ids("contact", "erp", [person])[person].crm_id
    pair.crm.rejecters.append(lambda e, v: "no" if e == "contact" and v.get("phone") == "+49 30 2" else None)
    pair.erp.put("contact", {"phone": "+49 30 2"}, person)
    pair.engine.sync()  # an error queue entry that holds her new phone number
    done = erasure.erase(pair.engine, "contact", "crm", twin, "dpo")
    assert done.ids == {"crm": twin, "erp": person} and done.how == "anonymise"
    for system, record in ((pair.erp, person), (pair.crm, twin)):
        left = system.get("contact", record)
        assert (left["last_name"], left.get("email"), left.get("phone")) == ("(erased)", None, None)
    with pair.store.engine.connect() as conn:
        everything = " ".join(str(row) for table in ("links", "errors", "audit", "conflicts", "violations")
                              for row in conn.execute(text(f"SELECT * FROM {table}")))
    assert "erika" not in everything.lower() and "Mustermann" not in everything and "+49 30 2" not in everything
    assert pair.store.audit.entries(1)[0]["action"] == "erase" and pair.store.audit.entries(1)[0]["actor"] == "dpo"
    with pytest.raises(DBAPIError, match="append-only"), pair.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit"))
    assert pair.engine.sync().total("violations") == 0  # the anonymised person is no edit


def test_only_people_are_erased(pair: Pair) -> None:
    from koppel.errors import UsageError

    with pytest.raises(UsageError, match="erases people"):
        erasure.erase(pair.engine, "account", "crm", "x", "dpo")
