"""Languages: every text in the code and the templates has a German and a Dutch translation, the
committed messages.pot is what extraction finds today, and amounts, dates and numbers are
written the way each language writes them."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from koppel import i18n
from koppel.i18n import formats
from koppel.i18n.catalog import LOCALES, po_path

PACKAGE = Path(i18n.__file__).parents[1]
BRACES = re.compile(r"\{([A-Za-z_]\w*)\}")
PERCENT = re.compile(r"%\((\w+)\)s")


def extracted() -> Catalog:
    """What `pybabel extract -F src/koppel/i18n/babel.cfg` finds in the code and templates now."""
    with (PACKAGE / "i18n" / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    catalog = Catalog()
    for _file, line, message, comments, context in extract_from_dir(str(PACKAGE), method_map, options_map):
        catalog.add(message, None, [(_file, line)], auto_comments=comments, context=context)
    return catalog


def ids(catalog: Catalog) -> set[object]:
    return {m.id for m in catalog if m.id}


@pytest.fixture(scope="module")
def found() -> Catalog:
    return extracted()


def test_the_committed_template_is_what_extraction_finds_today(found: Catalog) -> None:
    with (LOCALES / "messages.pot").open("rb") as pot:
        committed = ids(read_po(pot))
    new, gone = ids(found) - committed, committed - ids(found)
    assert not new and not gone, (
        f"messages.pot is stale: new {sorted(map(str, new))[:20]}, gone {sorted(map(str, gone))[:20]}; "
        "run the pybabel extract and update lines of docs/languages.md")


@pytest.mark.parametrize("language", ["de", "nl"])
def test_every_text_in_code_and_templates_has_a_translation(found: Catalog, language: str) -> None:
    with po_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    missing = []
    for message in found:
        if not message.id:
            continue
        entry = catalog.get(message.id)
        strings = [] if entry is None else entry.string if isinstance(entry.string, tuple) else [entry.string]
        if entry is None or entry.fuzzy or not strings or not all(s.strip() for s in strings):
            missing.append(message.id)
    assert not missing, f"{len(missing)} text(s) without a {language} translation: {missing[:15]}"


@pytest.mark.parametrize("language", ["de", "nl"])
def test_translations_keep_every_placeholder(language: str) -> None:
    with po_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    wrong = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        source = message.id if isinstance(message.id, str) else message.id[-1]
        targets = message.string if isinstance(message.string, tuple) else (message.string,)
        for target in targets:
            for pattern in (BRACES, PERCENT):
                if set(pattern.findall(source)) - {"n", "num"} != set(pattern.findall(target)) - {"n", "num"}:
                    wrong.append((source, target))
    assert not wrong, wrong[:10]


@pytest.mark.parametrize(("language", "written"), [("de", "1.234,56\xa0€"), ("nl", "€\xa01.234,56"),
                                                   ("en", "€1,234.56")])
def test_amounts_are_written_the_way_each_language_writes_them(language: str, written: str) -> None:
    with i18n.using(language):
        assert formats.money(Decimal("1234.56"), "EUR") == written


def test_dates_and_numbers_follow_the_language() -> None:
    with i18n.using("de"):
        assert formats.day(date(2025, 1, 7)) == "07.01.2025" and formats.number(Decimal("12345.5")) == "12.345,5"
    with i18n.using("nl"):
        assert formats.day("2025-01-07") == "7 jan 2025" and formats.percent(0.85) == "85%"
    with i18n.using("en"):
        assert formats.day(date(2025, 1, 7)) == "Jan 7, 2025" and formats.number(12345) == "12,345"


def test_business_words_are_the_ones_those_users_know() -> None:
    expected = {"de": {"Invoice": "Rechnung", "Quote": "Angebot", "Order": "Auftrag", "Delivery": "Lieferung",
                       "Dunning level": "Mahnstufe", "Open amount": "Offene Posten", "open item": "offener Posten"},
                "nl": {"Invoice": "Factuur", "Quote": "Offerte", "Order": "Order", "Delivery": "Levering",
                       "Dunning level": "Aanmaning", "Open amount": "Openstaand bedrag", "customer": "klant"}}
    for language, words in expected.items():
        with i18n.using(language):
            assert {w: i18n.gettext(w) for w in words} == words


def test_a_text_composed_in_english_is_found_with_its_values() -> None:
    with i18n.using("de"):
        assert i18n.translate("no account erp:404") == "kein Kunde erp:404"
        assert i18n.translate("line 2: 'lots' is not a quantity") == "Position 2: 'lots' ist keine Menge"
        assert i18n.translate("a text no catalogue knows") == "a text no catalogue knows"
    with i18n.using("nl"):
        assert i18n.translate("pick one from the account list") == "kies er een uit de klantenlijst"
        assert i18n.ngettext("{n} open pair to decide.", "{n} open pairs to decide.", 3) == \
            "3 open paren om over te beslissen."


def test_the_language_comes_from_the_browser_or_the_environment() -> None:
    assert i18n.from_accept_language("fr-FR, nl;q=0.8, de;q=0.9") == "de"
    assert i18n.from_accept_language("nl-BE,nl;q=0.9,en;q=0.5") == "nl"
    assert i18n.from_accept_language("fr, it") is None and i18n.from_accept_language(None) is None
    assert i18n.from_environment({"LANG": "de_DE.UTF-8"}) == "de"
    assert i18n.from_environment({"LC_ALL": "nl_NL.UTF-8", "LANG": "de_DE.UTF-8"}) == "nl"
    assert i18n.from_environment({"LANG": "C.UTF-8"}) == "en" and i18n.from_environment({}) == "en"
    assert i18n.resolve(None, "fr", "nl") == "nl" and i18n.resolve() == "en"


def test_concurrent_contexts_keep_their_own_language() -> None:
    with i18n.using("de"):
        with i18n.using("nl"):
            assert i18n.gettext("Invoices") == "Facturen"
        assert i18n.gettext("Invoices") == "Rechnungen"
    assert i18n.gettext("Invoices") == "Invoices"
