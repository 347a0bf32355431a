"""Languages: koppel speaks English, German and Dutch through gettext catalogues (Babel).

Texts are written in English where they are made (code and templates); `pybabel extract` collects
them (babel.cfg), and locales/de and locales/nl hold their translations. Every text is shown in the
current language of its context (one request, one command), which `using` and `activate` set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from koppel.i18n.catalog import patterns, translations

LANGUAGES = ("en", "de", "nl")
NAMES = {"en": "English", "de": "Deutsch", "nl": "Nederlands"}
DEFAULT = "en"
_current: ContextVar[str] = ContextVar("koppel_language", default=DEFAULT)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


def N_(text: str) -> str:  # noqa: N802 - the name gettext's tools know
    """Marks a text for the catalogue where it is made; it is translated where it is shown."""
    return text


def current() -> str:
    return _current.get()


def activate(language: str | None) -> None:
    """The language of this context from now on (a command sets it once, from LANG)."""
    _current.set(resolve(language))


@contextmanager
def using(language: str | None) -> Iterator[str]:
    """The language of everything shown inside the block (a request, a rendered page)."""
    token = _current.set(resolve(language))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def supported(tag: str | None) -> str | None:
    """koppel's language for a tag such as 'de', 'de-AT', 'nl_BE.UTF-8'; None for others."""
    if not tag:
        return None
    primary = re.split(r"[-_.@]", tag.strip(), maxsplit=1)[0].lower()
    return primary if primary in LANGUAGES else None


def resolve(*candidates: str | None) -> str:
    """The first candidate koppel speaks, else English."""
    return next((found for c in candidates if (found := supported(c))), DEFAULT)


def from_accept_language(header: str | None) -> str | None:
    """The browser's most preferred language among koppel's (`Accept-Language`, q-values honoured)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = re.search(r"q\s*=\s*([0-9.]+)", params)
        try:
            weight = float(quality.group(1)) if quality else 1.0
        except ValueError:
            continue
        if weight > 0 and (found := supported(tag)):
            ranked.append((-weight, index, found))
    return min(ranked)[2] if ranked else None


def from_environment(env: Mapping[str, str]) -> str:
    """The command line's language, as gettext finds it: LANGUAGE, LC_ALL, LC_MESSAGES, LANG."""
    candidates = [*env.get("LANGUAGE", "").split(":"), env.get("LC_ALL"), env.get("LC_MESSAGES"), env.get("LANG")]
    for tag in candidates:
        if tag and tag not in ("C", "POSIX") and not tag.startswith("C."):
            return resolve(tag)
    return DEFAULT


def gettext(message: str, **values: object) -> str:
    """`message` in the current language, with its {placeholders} filled from `values`."""
    return fill(translations(current()).gettext(message), values)


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    return fill(translations(current()).ngettext(singular, plural, n), {"n": n, **values})


def translate(text: str) -> str:
    """A text composed in English elsewhere (an error, a hint, a flash message) in the current
    language: found whole, or as one of the catalogue's texts with its {placeholders} filled."""
    if not text or current() == DEFAULT:
        return text
    found = translations(current()).gettext(text)
    if found != text:
        return found
    for pattern, translated in patterns(current()):
        match = pattern.fullmatch(text)
        if match:
            return fill(translated, match.groupdict())
    return text


def fill(text: str, values: Mapping[str, object]) -> str:
    if not values:
        return text
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


_ = gettext

__all__ = ["DEFAULT", "LANGUAGES", "NAMES", "N_", "_", "activate", "current", "from_accept_language",
           "from_environment", "gettext", "ngettext", "resolve", "supported", "translate", "using"]
