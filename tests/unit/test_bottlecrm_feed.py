"""BottleCRM's activity feed as the change query between scans: which records a page of the feed
names since a position, when the page cannot vouch for everything since (overflow), the cursor
that carries the position (and reads the cursors written before it), and the connector's choice
between the feed and the scan against a BottleCRM simulated in the test's own transport."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from koppel.connectors.base import ChangeBatch
from koppel.connectors.bottlecrm import BottleCrmConnector, create
from koppel.connectors.bottlecrm import changes as c
from koppel.connectors.incremental import Cursor

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


def row(activity: str, entity: str, seconds: float, action: str = "UPDATE", kind: str = "Account") -> dict[str, Any]:
    return {"id": activity, "action": action, "entity_type": kind, "entity_id": entity,
            "entity_name": "x", "timestamp": (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")}


def feed(*rows: dict[str, Any]) -> list[c.Activity]:
    found = c.activities({"error": False, "count": len(rows), "activities": list(rows)})
    assert found is not None
    return found


# --- the pure feed logic ---------------------------------------------------------------------


def test_activities_reads_the_rows_and_refuses_an_answer_that_is_no_feed() -> None:
    [a] = feed(row("a1", "acc-1", 1.5, "DELETE"))
    assert (a.id, a.action, a.entity_type, a.entity_id, a.stamp) == ("a1", "DELETE", "Account", "acc-1", at(1.5))
    assert c.activities({"activities": [{"id": "broken"}]}) == []
    assert c.activities({"detail": "Not found."}) is None  # an empty list would say "nothing changed"


def test_news_names_the_records_with_activity_since_the_position_oldest_first_each_once() -> None:
    position = c.moved(None, feed(row("a1", "acc-1", 0), row("a2", "acc-2", 10)), lag=2)
    assert position.stamp == at(10)
    rows = feed(row("a5", "acc-3", 30), row("a4", "acc-1", 20), row("a3", "acc-3", 15),
                row("a2", "acc-2", 10), row("a1", "acc-1", 0))  # newest first, as BottleCRM answers
    got = c.news(rows, "Account", position, lag=2)
    assert got == c.FeedNews(["acc-3", "acc-1"], overflowed=False)


def test_news_rereads_the_lag_window_but_not_the_activities_already_taken() -> None:
    position = c.moved(None, feed(row("a1", "acc-1", 9), row("a2", "acc-2", 10)), lag=2)
    late = feed(row("a2", "acc-2", 10), row("a3", "acc-3", 9.5), row("a1", "acc-1", 9), row("a0", "acc-0", 7.9))
    # a3 committed late, inside the window: found; a1, a2 were taken; a0 is before the window
    assert c.news(late, "Account", position, lag=2).ids == ["acc-3"]


def test_news_keeps_to_its_entity_type() -> None:
    rows = feed(row("a2", "con-1", 5, kind="Contact"), row("a1", "acc-1", 4))
    assert c.news(rows, "Account", Cursor(), lag=2).ids == ["acc-1"]


def test_a_full_page_newer_than_the_position_has_overflowed() -> None:
    position = c.moved(None, feed(row("a0", "acc-0", 0)), lag=2)
    page = [row(f"n{i}", f"acc-{i}", 100 - i) for i in range(c.FEED_LIMIT)]
    assert c.news(feed(*page), "Account", position, lag=2).overflowed
    # the page reaches back to the position: everything since is on it
    reaching = [*page[:-1], row("a0", "acc-0", 0)]
    assert not c.news(feed(*reaching), "Account", position, lag=2).overflowed
    # 50 writes within the lag window before the position: no overflow poll after poll
    burst = [row(f"b{i}", f"acc-{i}", 0 - i / 100) for i in range(c.FEED_LIMIT)]
    after_burst = c.moved(None, feed(*burst), lag=2)
    assert c.news(feed(*burst), "Account", after_burst, lag=2) == c.FeedNews([], overflowed=False)
    assert not c.news(feed(*page[:-1]), "Account", position, lag=2).overflowed  # not a full page
    # a position on an empty feed: a full page cannot vouch for anything
    assert c.news(feed(*page), "Account", Cursor(), lag=2).overflowed


def test_moved_keeps_the_ids_inside_the_window_and_leaves_the_old_position_alone() -> None:
    old = c.moved(None, feed(row("a1", "acc-1", 1)), lag=2)
    new = c.moved(old, feed(row("a3", "acc-3", 10), row("a2", "acc-2", 8.5), row("a1", "acc-1", 1)), lag=2)
    assert (new.stamp, set(new.seen)) == (at(10), {"a3", "a2"})
    assert (old.stamp, set(old.seen)) == (at(1), {"a1"})
    assert c.moved(None, [], lag=2) == Cursor()  # an empty feed is a position too: all is new


def test_the_cursor_reads_one_written_before_the_feed_and_keeps_the_position() -> None:
    old = json.dumps({"stamp": {"stamp": None, "seen": {}}, "known": {"acc-1": "abc"}})
    cursor = c.ChangeCursor.load(old)
    assert cursor.known == {"acc-1": "abc"} and cursor.feed is None
    assert "feed" not in json.loads(cursor.dump())  # no position: the same text as before
    cursor.feed = c.moved(None, feed(row("a1", "acc-1", 1)), lag=2)
    again = c.ChangeCursor.load(cursor.dump())
    assert again.feed == cursor.feed and again.known == cursor.known
    assert c.ChangeCursor.load(c.ChangeCursor(feed=Cursor()).dump()).feed == Cursor()


# --- the connector's choice, against a simulated BottleCRM -----------------------------------


class FakeCrm:
    """Accounts and their activity feed, as BottleCRM's API shapes them."""

    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.feed: list[dict[str, Any]] = []  # newest first
        self.feed_status = 200
        self.role = "ADMIN"
        self.clock = 0.0
        self.after_list: list[Any] = []  # done once each, right after a page of the list is answered

    def save(self, account_id: str | None = None, action: str = "UPDATE", **values: Any) -> str:
        account_id = account_id or str(uuid.uuid4())
        if account_id not in self.accounts:
            action = "CREATE"
        self.accounts.setdefault(account_id, {"id": account_id, "name": "x", "created_at": T0.isoformat()})
        self.accounts[account_id].update(values)
        self.log(action, account_id)
        return account_id

    def drop(self, account_id: str) -> None:
        del self.accounts[account_id]
        self.log("DELETE", account_id)

    def log(self, action: str, account_id: str) -> None:
        self.clock += 1
        self.feed.insert(0, row(str(uuid.uuid4()), account_id, self.clock, action))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/")
        if path == "profile/":
            return httpx.Response(200, json={"user_obj": {"id": "p1", "role": self.role, "is_active": True}})
        if path == "activities/":
            if self.feed_status != 200:
                return httpx.Response(self.feed_status, json={"detail": "no"})
            kind = request.url.params.get("entity_type")
            rows = [r for r in self.feed if r["entity_type"] == kind][:int(request.url.params["limit"])]
            return httpx.Response(200, json={"error": False, "count": len(rows), "activities": rows})
        if path == "accounts/":
            rows = list(self.accounts.values())
            offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
            answer = httpx.Response(200, json={"active_accounts": {"open_accounts": rows[offset:offset + limit]},
                                               "closed_accounts": {"close_accounts": []}})
            while self.after_list:
                self.after_list.pop()()
            return answer
        account_id = path.removeprefix("accounts/").rstrip("/")
        if account_id in self.accounts:
            return httpx.Response(200, json={"account_obj": self.accounts[account_id]})
        return httpx.Response(404, json={"detail": "Not found."})


@pytest.fixture
def fake() -> Iterator[tuple[FakeCrm, BottleCrmConnector]]:
    crm = FakeCrm()
    connector = create("crm", {"url": "http://crm.invalid", "token": "bcrm_pat_x"})
    connector.client._http = httpx.Client(base_url="http://crm.invalid/api/", transport=httpx.MockTransport(crm))
    yield crm, connector
    connector.close()


def drain(connector: BottleCrmConnector, cursor: str | None) -> tuple[list[str], list[str], str]:
    batches: list[ChangeBatch] = list(connector.read_changes("account", cursor, batch_size=2))
    return ([r.id for b in batches for r in b.records], [i for b in batches for i in b.deleted],
            batches[-1].cursor)


def lists(connector: BottleCrmConnector) -> int:
    return connector.client.requests["GET accounts/"]


def test_polls_after_a_scan_read_the_feed_and_the_records_it_names(fake: tuple[FakeCrm, BottleCrmConnector]) -> None:
    crm, connector = fake
    a, b, gone = crm.save(name="A"), crm.save(name="B"), crm.save(name="Gone")
    seen, _, cursor = drain(connector, None)
    assert sorted(seen) == sorted([a, b, gone]) and lists(connector) == 1
    crm.save(a, name="A2")
    crm.save(b)  # saved, nothing koppel maps changed: read, not delivered
    crm.drop(gone)
    fresh = crm.save(name="New")
    seen, deleted, cursor = drain(connector, cursor)
    assert (sorted(seen), deleted) == (sorted([a, fresh]), [gone])
    assert drain(connector, cursor)[:2] == ([], [])
    assert lists(connector) == 1 and connector.reads == {"scan": 1, "feed": 2}
    assert connector.client.requests[f"GET accounts/{a}/"] == 1


def test_a_full_read_and_a_cursor_without_a_position_scan(fake: tuple[FakeCrm, BottleCrmConnector]) -> None:
    crm, connector = fake
    a = crm.save(name="A")
    _, _, cursor = drain(connector, None)
    old = json.loads(cursor)
    del old["feed"]  # as written before koppel read the feed
    crm.save(a, name="A2")
    assert drain(connector, json.dumps(old))[0] == [a]
    assert drain(connector, None)[0] == [a]  # the nightly full read: everything, by a scan
    assert lists(connector) == 3 and connector.reads == {"scan": 3}


def test_an_overflowed_feed_falls_back_to_a_scan_that_finds_every_change(
        fake: tuple[FakeCrm, BottleCrmConnector]) -> None:
    crm, connector = fake
    ids = [crm.save(name=f"A{i}") for i in range(60)]
    _, _, cursor = drain(connector, None)
    for i, account in enumerate(ids):
        crm.save(account, name=f"B{i}")
    with capture_logs() as logs:
        seen, _, cursor = drain(connector, cursor)
    assert sorted(seen) == sorted(ids) and connector.reads["overflowed"] == 1 and lists(connector) == 2
    assert [e["event"] for e in logs] == ["change feed overflowed: scanning the list"]
    crm.save(ids[0], name="C")
    assert drain(connector, cursor)[0] == [ids[0]] and lists(connector) == 2  # back on the feed


def test_a_change_the_scan_did_not_see_is_found_by_the_next_poll(
        fake: tuple[FakeCrm, BottleCrmConnector]) -> None:
    crm, connector = fake
    a = crm.save(name="A")
    crm.after_list.append(lambda: crm.save(a, name="A2"))  # lands after the list was read
    _, _, cursor = drain(connector, None)
    [record] = connector.read("account", [a])
    assert record.record.name == "A2"
    seen, _, cursor = drain(connector, cursor)  # the scan kept the feed position from before it
    assert seen == [a] and lists(connector) == 1


@pytest.mark.parametrize("refusal", ["403", "404", "member"])
def test_a_feed_that_cannot_be_read_or_trusted_means_scans_said_once(
        fake: tuple[FakeCrm, BottleCrmConnector], refusal: str) -> None:
    crm, connector = fake
    if refusal == "member":  # its feed hides what the member may not open, deleted records too
        crm.role = "USER"
    else:
        crm.feed_status = int(refusal)
    a = crm.save(name="A")
    with capture_logs() as logs:
        _, _, cursor = drain(connector, None)
        crm.save(a, name="A2")
        seen, _, cursor = drain(connector, cursor)
        drain(connector, cursor)
    assert seen == [a] and lists(connector) == 3 and connector.reads == {"scan": 3}
    assert [e["event"] for e in logs] == ["change feed unavailable: every read scans the lists"]
    assert connector.client.requests["GET activities/"] == (0 if refusal == "member" else 1)
    assert connector.client.requests["GET profile/"] == 1
    assert "feed" not in json.loads(cursor)


def test_the_feed_can_be_switched_off(fake: tuple[FakeCrm, BottleCrmConnector]) -> None:
    crm, connector = fake
    connector.settings.change_feed = False
    crm.save(name="A")
    _, _, cursor = drain(connector, None)
    drain(connector, cursor)
    assert lists(connector) == 2 and connector.client.requests["GET activities/"] == 0
