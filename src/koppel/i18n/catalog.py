"""The compiled catalogues: a language's .mo file when it is as new as its .po (`./dev setup`
compiles them with `pybabel compile`), else the .po compiled in memory, so that a checkout or an
install without that step still speaks every language.
"""

from __future__ import annotations

import gettext
import re
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


def po_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """English is the texts themselves; another language without a catalogue falls back to it."""
    po = po_path(language)
    if not po.exists():
        return gettext.NullTranslations()
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as compiled:
            return gettext.GNUTranslations(compiled)
    with po.open("rb") as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries stay out, as with pybabel compile
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@cache
def patterns(language: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """Every translated text with {placeholders} as a pattern that finds the text once filled;
    the longest fixed part first, so that the most specific text wins."""
    messages: dict[object, str] = getattr(translations(language), "_catalog", {})
    found = [(msgid, text) for msgid, text in messages.items()  # not '{where}: {text}': it would fit anything
             if isinstance(msgid, str) and _PLACEHOLDER.search(msgid) and text
             and re.search("[A-Za-z]", _PLACEHOLDER.sub("", msgid))]
    found.sort(key=lambda pair: -len(_PLACEHOLDER.sub("", pair[0])))
    return tuple((_pattern(msgid), text) for msgid, text in found)


def _pattern(msgid: str) -> re.Pattern[str]:
    parts, seen, at = [], set(), 0
    for match in _PLACEHOLDER.finditer(msgid):
        parts.append(re.escape(msgid[at:match.start()]))
        name = match.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        at = match.end()
    parts.append(re.escape(msgid[at:]))
    return re.compile("".join(parts), re.DOTALL)
