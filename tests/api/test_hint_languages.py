"""The API's hints speak the language the client asks for (Accept-Language); the error text and
every key stay as they are, for scripts."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api


def get(api: Api, path: str, language: str | None, role: str | None = "viewer") -> Any:
    headers = {**api.headers(role), **({"Accept-Language": language} if language else {})}
    return api.client.get(path, headers=headers)


def test_a_hint_is_in_the_language_the_client_asks_for(api: Api) -> None:
    english, german, dutch = (get(api, "/api/v1/accounts/erp:404", language)
                              for language in (None, "de-DE", "fr;q=0.9, nl;q=0.8"))
    assert english.status_code == german.status_code == dutch.status_code == 404
    assert english.json() == {"error": "no account erp:404",
                              "hint": "find accounts with GET /api/v1/accounts?search="}
    assert german.json() == {"error": "no account erp:404",
                             "hint": "suchen Sie Kunden mit GET /api/v1/accounts?search="}
    assert dutch.json()["hint"] == "zoek klanten met GET /api/v1/accounts?search="


def test_class_hints_and_validation_hints_are_translated_too(api: Api) -> None:
    nobody = get(api, "/api/v1/errors", "nl", role=None)
    assert nobody.status_code == 401 and nobody.json()["hint"].startswith("stuur een token als")
    bad = get(api, "/api/v1/errors?status=nope", "de")
    assert bad.status_code == 422 and bad.json()["hint"] == "was diese Route annimmt, steht in /openapi.json"
    assert set(bad.json()) == {"error", "hint", "problems"}
