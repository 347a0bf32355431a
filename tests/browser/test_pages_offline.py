"""The workspace's pages over two in-memory systems, without a browser: sign-in, roles, every
page renders, and the monitor's actions go through (fast; the Chromium stories are beside this)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from koppel.config import load_settings
from koppel.config.settings import Settings
from koppel.testing.builders import Pair, customer, make_pair
from koppel.web.app import create_workspace
from tests.api.conftest import CONFIG, TestClient, opener_for


@dataclass
class Web:
    client: TestClient
    pair: Pair
    tokens: dict[str, str] = field(default_factory=dict)

    def sign_in(self, role: str) -> None:
        self.client.cookies.clear()
        response = self.client.post("/signin", data={"token": self.tokens[role], "next": "/monitor"},
                                    follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/monitor"




@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    (tmp_path / "koppel.toml").write_text(CONFIG)
    settings: Settings = load_settings(tmp_path / "koppel.toml", env={})
    pair = make_pair(url=settings.store.url)
    with TestClient(create_workspace(settings, opener=opener_for(pair)), base_url="http://testserver") as client:
        found = Web(client, pair)
        for role in ("viewer", "operator"):
            pair.store.users.add(f"{role}-anna", role)
            found.tokens[role] = pair.store.tokens.create(f"{role}-anna", "tests")[1]
        yield found


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))


def test_pages_need_a_signed_in_user_and_a_bad_token_is_refused(web: Web) -> None:
    first = web.client.get("/monitor/errors", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/signin?next=/monitor/errors"
    bad = web.client.post("/signin", data={"token": "kp_nope", "next": "/"})
    assert bad.status_code == 401 and "That token was not accepted" in bad.text
    assert "koppel_session" not in web.client.cookies
    web.sign_in("viewer")
    assert "HttpOnly" in web.client.post("/signin", data={"token": web.tokens["viewer"]},
                                         follow_redirects=False).headers["set-cookie"]
    assert web.client.get("/monitor/errors").status_code == 200
    assert web.client.get("/api/v1/errors").status_code == 401  # the API still wants its bearer token
    web.client.post("/signout")
    assert web.client.get("/accounts", follow_redirects=False).status_code == 303


def test_every_page_renders_with_its_empty_state(web: Web) -> None:
    web.sign_in("viewer")
    for path, words in [("/accounts", "No coupled accounts yet"), ("/monitor", "No runs yet"),
                        ("/monitor/errors", "No open errors — all records went through"),
                        ("/monitor/conflicts", "No open conflicts"), ("/monitor/violations", "No open violations"),
                        ("/monitor/matches", "No open pairs"),
                        ("/monitor/reconcile", "No report yet"), ("/monitor/reconcile?check=true", "No drift")]:
        response = web.client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert words in text(response), path
    missing = web.client.get("/accounts/erp:404")
    assert missing.status_code == 404 and "no account erp:404" in missing.text
    assert web.client.get("/nowhere").status_code == 404
    assert web.client.get("/static/koppel.css").status_code == 200


def test_the_account_360_shows_owners_and_an_operator_syncs_it_now(web: Web) -> None:
    erp_id = customer(web.pair, 1)
    web.pair.engine.sync(["account"])
    web.sign_in("viewer")
    page = web.client.get(f"/accounts/erp:{erp_id}")
    assert page.status_code == 200 and "Acme 1 GmbH" in page.text
    assert 'class="badge owner-erp"' in page.text and "Sync now" not in page.text
    refused = web.client.post(f"/accounts/erp:{erp_id}/sync", headers={"referer": f"http://testserver/accounts/erp:{erp_id}"})
    assert "needs the operator role" in text(refused)
    web.sign_in("operator")
    done = web.client.post(f"/accounts/erp:{erp_id}/sync", headers={"referer": f"http://testserver/accounts/erp:{erp_id}"})
    assert done.status_code == 200 and "Sync finished: ok" in text(done)
    assert "Sync now" in done.text
    foreign = web.client.post(f"/accounts/erp:{erp_id}/sync", headers={"origin": "http://evil.example"})
    assert "sent from another site" in text(foreign)
    runs = text(web.client.get("/monitor"))
    assert f"erp:account:{erp_id}" in runs, runs[runs.find("Runs"):][:600]


def test_order_entry_and_analytics_say_clearly_what_this_erp_cannot_do(web: Web) -> None:
    web.sign_in("operator")
    form = web.client.get("/orders/new")
    assert form.status_code == 200 and "Place order" in form.text and "No products are coupled yet" in form.text
    refused = web.client.get("/orders/new", params={"product": "p1", "quantity": "2", "check": "true"})
    assert refused.status_code == 400 and "not coupled to ERP products" in text(refused)
    wrong = web.client.get("/orders/new", params={"product": "p1", "quantity": "lots", "check": "true"})
    assert wrong.status_code == 400 and "is not a quantity" in text(wrong)
    analytics = web.client.get("/analytics")
    assert analytics.status_code == 409 and "does not list invoices" in text(analytics)


def test_an_operator_retries_and_skips_from_the_error_queue(web: Web) -> None:
    customer(web.pair, 1, name="Bad Name Ltd")
    customer(web.pair, 2, name="Worse Bad Ltd")
    web.pair.crm.rejecters.append(
        lambda e, v: "name: may not contain 'Bad'" if "Bad" in (v.get("name") or "") else None)
    web.pair.engine.sync(["account"])
    first, second = web.pair.store.errors.list()
    web.sign_in("operator")
    queue = web.client.get("/monitor/errors")
    assert "name: may not contain &#39;Bad&#39;" in queue.text and "Retry" in queue.text
    detail = web.client.get(f"/monitor/errors/{first.id}")
    assert "Bad Name Ltd" in detail.text
    broken = web.client.post(f"/monitor/errors/{first.id}/payload", data={"payload": "{oops", "then": "save"},
                             headers={"referer": f"http://testserver/monitor/errors/{first.id}"})
    assert "not valid JSON" in text(broken)
    web.pair.crm.rejecters.clear()
    retried = web.client.post(f"/monitor/errors/{first.id}/payload",
                              data={"payload": '{"name": "Good Name Ltd"}', "then": "retry"})
    assert "the record went through" in text(retried)
    skipped = web.client.post(f"/monitor/errors/{second.id}/skip")
    assert "Skipped account" in text(skipped) and "No open errors" in text(skipped)
    actions = {a["action"] for a in web.pair.store.audit.entries() if a["actor"] == "operator-anna"}
    assert {"edit-error", "retry", "skip"} <= actions


def test_an_operator_finds_matches_and_couples_or_keeps_them_apart(web: Web) -> None:
    for n in (1, 2):
        customer(web.pair, n)
        web.pair.crm.put("account", {"name": f"Acme Berlin {n}", "vat_id": f"DE{n:09d}", "status": "prospect"})
    web.sign_in("viewer")
    assert "Find matches" not in web.client.get("/monitor/matches").text
    web.sign_in("operator")
    found = web.client.post("/monitor/matches/propose")
    assert found.status_code == 200 and "2 open pairs to decide" in text(found)
    assert "same VAT id" in text(found) and "95%" in text(found) and "Keep apart" in found.text
    first, second = web.pair.store.proposals.list()
    coupled = web.client.post(f"/monitor/matches/{first.id}/couple")
    assert f"Coupled account ERP {first.erp_id} and CRM {first.crm_id}" in text(coupled)
    assert web.pair.crm.get("account", first.crm_id)["number"] == "C1"
    kept = web.client.post(f"/monitor/matches/{second.id}/apart")
    assert "kept apart" in text(kept).lower() and "No open pairs" in text(kept)
    again = web.client.post(f"/monitor/matches/{first.id}/couple",
                            headers={"referer": "http://testserver/monitor/matches?status=all"})
    assert "is coupled already" in text(again)
    everything = text(web.client.get("/monitor/matches", params={"status": "all"}))
    assert "coupled" in everything and "kept apart" in everything and "by operator-anna" in everything


def test_the_page_language_is_the_users_choice_else_the_browsers_else_koppel_toml(web: Web) -> None:
    erp_id = customer(web.pair, 1)
    web.pair.engine.sync(["account"])
    web.sign_in("viewer")
    assert "Master data, side by side" in web.client.get(f"/accounts/erp:{erp_id}").text
    german = web.client.get(f"/accounts/erp:{erp_id}", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
    assert "Stammdaten im Vergleich" in german.text and '<html lang="de">' in german.text
    chosen = web.client.post("/language", data={"language": "nl"}, headers={
        "accept-language": "de", "referer": f"http://testserver/accounts/erp:{erp_id}"})
    assert "De werkplek spreekt nu Nederlands." in text(chosen)
    assert web.pair.store.users.existing("viewer-anna").language == "nl"
    dutch = web.client.get(f"/accounts/erp:{erp_id}", headers={"accept-language": "de"})  # the choice wins
    assert "Stamgegevens naast elkaar" in dutch.text and "Openstaand bedrag" in dutch.text
    missing = web.client.get("/accounts/erp:404")
    assert missing.status_code == 404 and "geen klant erp:404" in missing.text
    web.client.post("/language", data={"language": ""})  # back to the browser's
    assert "Stammdaten im Vergleich" in web.client.get(f"/accounts/erp:{erp_id}",
                                                       headers={"accept-language": "de"}).text
    refused = web.client.post("/language", data={"language": "fr"}, headers={
        "accept-language": "de", "referer": "http://testserver/monitor"})
    assert "koppel spricht kein" in text(refused) and "wählen Sie English, Deutsch oder Nederlands" in text(refused)


def test_koppel_toml_names_the_language_for_browsers_that_ask_for_none_koppel_speaks(tmp_path: Path) -> None:
    (tmp_path / "koppel.toml").write_text(CONFIG + '\n[workspace]\nlanguage = "de"\n')
    settings = load_settings(tmp_path / "koppel.toml", env={})
    pair = make_pair(url=settings.store.url)
    with TestClient(create_workspace(settings, opener=opener_for(pair)), base_url="http://testserver") as client:
        signin = client.get("/signin", headers={"accept-language": "fr-FR"})
        assert "Anmelden" in signin.text
        assert "Sign in" in client.get("/signin", headers={"accept-language": "en-GB"}).text
        api = client.get("/api/v1/errors", headers={"accept-language": "fr"})  # the API: Accept-Language only
        assert api.status_code == 401 and "create one with" in api.json()["hint"]


def test_behind_a_proxy_under_a_root_path_every_link_and_redirect_keeps_it(tmp_path: Path) -> None:
    """`koppel serve --root-path /koppel` behind a proxy that forwards /koppel/…: the pages link,
    post and redirect under /koppel, never to the host's root."""
    (tmp_path / "koppel.toml").write_text(CONFIG)
    settings: Settings = load_settings(tmp_path / "koppel.toml", env={})
    pair = make_pair(url=settings.store.url)
    erp_id = customer(pair, 1)
    pair.engine.sync(["account"])
    pair.store.users.add("operator-anna", "operator")
    token = pair.store.tokens.create("operator-anna", "tests")[1]
    app = create_workspace(settings, opener=opener_for(pair))
    with TestClient(app, base_url="http://testserver", root_path="/koppel") as client:
        first = client.get("/koppel/monitor", follow_redirects=False)
        assert first.headers["location"] == "/koppel/signin?next=/koppel/monitor"
        signin = client.get("/koppel/signin?next=/koppel/monitor")
        assert 'action="/koppel/signin"' in signin.text and 'href="/static/' not in signin.text
        signed = client.post("/koppel/signin", data={"token": token, "next": "/koppel/monitor"}, follow_redirects=False)
        assert signed.headers["location"] == "/koppel/monitor"
        assert client.get("/koppel/", follow_redirects=False).headers["location"] == "/koppel/accounts"
        for path in ("/koppel/monitor", "/koppel/accounts", f"/koppel/accounts/erp:{erp_id}", "/koppel/monitor/errors"):
            html = client.get(path).text
            links = re.findall(r'(?:href|action|src)="(/[^"]*)"', html)
            assert links and all(link.startswith("/koppel/") for link in links), (path, [
                link for link in links if not link.startswith("/koppel/")][:5])
        synced = client.post(f"/koppel/accounts/erp:{erp_id}/sync", follow_redirects=False,
                             headers={"referer": f"http://testserver/koppel/accounts/erp:{erp_id}"})
        assert synced.headers["location"] == f"/koppel/accounts/erp:{erp_id}"
        assert client.get("/koppel/static/koppel.css").status_code == 200
        assert client.get("/koppel/api/v1/accounts", headers={"authorization": f"Bearer {token}"}).status_code == 200
