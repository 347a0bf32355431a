"""Polls between full reads find a real BottleCRM's changes through its activity feed: an edit or
a delete made through BottleCRM's API after a poll is found by the next poll without listing the
records (counted on the client's requests), a save that changes nothing koppel maps is read but
not delivered (accounts, tasks), more changes than the feed's 50 rows fall back to a scan that
still finds every one, and a full read (or a cursor written before the feed was read) still scans. Values are checked against what BottleCRM's
API answers."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from koppel.connectors.base import RemoteRecord, WriteOp
from koppel.connectors.bottlecrm import BottleCrmConnector
from koppel.connectors.bottlecrm.specs import SPECS

pytestmark = pytest.mark.bottlecrm


def n() -> str:
    return uuid.uuid4().hex[:10]


def create(crm: BottleCrmConnector, entity: str, values: list[dict[str, Any]]) -> list[str]:
    outcomes = crm.write(entity, [WriteOp(str(i), v) for i, v in enumerate(values)])
    assert all(o.ok and o.id for o in outcomes), [o.error for o in outcomes if not o.ok]
    return [str(o.id) for o in outcomes]


def poll(crm: BottleCrmConnector, entity: str, cursor: str | None
         ) -> tuple[dict[str, RemoteRecord], list[str], str]:
    records: dict[str, RemoteRecord] = {}
    deleted: list[str] = []
    last = cursor or ""
    for batch in crm.read_changes(entity, cursor, batch_size=20):
        records.update({r.id: r for r in batch.records})
        deleted += batch.deleted
        last = batch.cursor
    return records, deleted, last


def lists(crm: BottleCrmConnector, entity: str) -> int:
    """Requests for pages of the entity's list so far."""
    return crm.client.requests[f"GET {SPECS[entity].path}"]


def in_bottlecrm(crm: BottleCrmConnector, entity: str, record_id: str) -> dict[str, Any]:
    """The record as BottleCRM's detail endpoint answers it (raw)."""
    spec = SPECS[entity]
    return spec.detail(crm.client.get(f"{spec.path}{record_id}/"))


#: per entity: the values of three new records, an edit through BottleCRM's API (raw body), the
#: canonical field it changes and its value there
CASES: dict[str, Any] = {
    "account": (lambda a: {"name": f"Feed {n()} GmbH"}, {"phone": "+49 30 5550123"}, "phone", "+49 30 5550123"),
    "contact": (lambda a: {"first_name": "Eva", "last_name": f"Feed {n()}", "account": a},
                {"title": "Einkauf"}, "title", "Einkauf"),
    "activity": (lambda a: {"subject": f"Feed {n()}", "account": a}, {"status": "Completed"}, "done", True),
}


@pytest.mark.parametrize("entity", sorted(CASES))
def test_an_edit_and_a_delete_after_a_poll_are_found_without_listing(crm: BottleCrmConnector,
                                                                     entity: str) -> None:
    make, edit, field, value = CASES[entity]
    [account] = create(crm, "account", [{"name": f"Feed Kunde {n()} GmbH"}])
    edited, gone, saved = create(crm, entity, [make(account) for _ in range(3)])
    _, _, cursor = poll(crm, entity, None)
    assert crm.reads["scan"] == 1
    assert poll(crm, entity, cursor)[:2] == ({}, [])
    listed, path = lists(crm, entity), SPECS[entity].path

    crm.client.patch(f"{path}{edited}/", edit)  # as a user of BottleCRM would, through its API
    crm.client.delete(f"{path}{gone}/")
    crm.client.patch(f"{path}{saved}/", {})  # saved, nothing changed: in the feed, not a change
    records, deleted, cursor = poll(crm, entity, cursor)

    # contacts carry `updated_at`: a save moves it, and a scan would deliver it as well
    stamped = [saved] if SPECS[entity].strategy == "stamp" else []
    assert (sorted(records), deleted) == (sorted([edited, *stamped]), [gone])
    assert getattr(records[edited].record, field) == value
    [again] = crm.read(entity, [edited])
    assert again.record == records[edited].record  # the record delivered is what BottleCRM holds
    assert lists(crm, entity) == listed and crm.reads["feed"] == 2
    assert poll(crm, entity, cursor)[:2] == ({}, [])
    assert lists(crm, entity) == listed


def test_more_changes_than_the_feed_shows_fall_back_to_a_scan_that_finds_every_one(
        crm: BottleCrmConnector) -> None:
    ids = create(crm, "account", [{"name": f"Flut {i} {n()} GmbH"} for i in range(60)])
    _, _, cursor = poll(crm, "account", None)
    phones = {record_id: f"+49 40 {i:07d}" for i, record_id in enumerate(ids)}
    crm.client.parallel(lambda i: crm.client.patch(f"accounts/{i}/", {"phone": phones[i]}), ids)
    listed = lists(crm, "account")

    records, _, cursor = poll(crm, "account", cursor)

    assert crm.reads["overflowed"] == 1 and lists(crm, "account") > listed
    assert {i: r.record.phone for i, r in records.items()} == phones
    assert {i: in_bottlecrm(crm, "account", i)["phone"] for i in ids} == phones
    # the scan kept the feed's position: the next poll is on the feed again
    listed = lists(crm, "account")
    crm.client.patch(f"accounts/{ids[0]}/", {"phone": "+49 40 9999999"})
    records, _, _ = poll(crm, "account", cursor)
    assert sorted(records) == [ids[0]] and records[ids[0]].record.phone == "+49 40 9999999"
    assert lists(crm, "account") == listed


def test_a_full_read_and_a_cursor_from_before_the_feed_scan(crm: BottleCrmConnector) -> None:
    ids = create(crm, "account", [{"name": f"Nacht {i} {n()} GmbH"} for i in range(3)])
    _, _, cursor = poll(crm, "account", None)
    listed = lists(crm, "account")
    records, _, _ = poll(crm, "account", None)  # the nightly batch: a full read, cursor None
    assert lists(crm, "account") > listed and crm.reads["scan"] == 2
    assert set(ids) <= set(records)
    assert {i: records[i].record.name for i in ids} == {i: in_bottlecrm(crm, "account", i)["name"] for i in ids}

    before_feed = json.loads(cursor)
    del before_feed["feed"]  # as koppel wrote its cursors before it read the feed
    crm.client.patch(f"accounts/{ids[1]}/", {"phone": "+49 89 1110001"})
    listed = lists(crm, "account")
    records, _, cursor = poll(crm, "account", json.dumps(before_feed))
    assert sorted(records) == [ids[1]] and lists(crm, "account") > listed  # scanned once
    crm.client.patch(f"accounts/{ids[2]}/", {"phone": "+49 89 1110002"})
    listed = lists(crm, "account")
    records, _, _ = poll(crm, "account", cursor)
    assert sorted(records) == [ids[2]] and lists(crm, "account") == listed  # then the feed
    assert records[ids[2]].record.phone == in_bottlecrm(crm, "account", ids[2])["phone"] == "+49 89 1110002"


@pytest.mark.parametrize("entity", ["case", "activity"])
def test_the_case_and_task_lists_leave_out_the_catalogues_of_every_account(crm: BottleCrmConnector,
                                                                         entity: str) -> None:
    """Those lists are still scanned on every poll: without `slim` each page carries every
    account and contact of the org, a cost that grows with the accounts, not with the cases."""
    spec = SPECS[entity]
    assert "accounts_list" in crm.client.get(spec.path, {"limit": 1})
    assert not {"accounts_list", "contacts_list"} & set(crm.client.get(spec.path, spec.query({"limit": 1})))
