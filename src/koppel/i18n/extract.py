"""The catalogue's extractor for koppel's Python code (babel.cfg names it for `pybabel extract`).

It collects the texts of `_()`, `N_()`, `gettext()` and `ngettext()`, and the texts that are
written in plain English where they are made and translated where they are shown: every `hint`
(a keyword, a class attribute, a constant named *_HINT) and the message of the errors about a
request (UsageError and its kin). An f-string becomes a text with {placeholders} named after what
they show, which `koppel.i18n.translate` finds again once filled.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

Extracted = tuple[int, str | None, str | tuple[str, ...], list[str]]
_CALLS = {"_": 1, "N_": 1, "gettext": 1, "ngettext": 2}
#: errors whose message speaks to the user about what they asked (a system's errors carry its own words)
MESSAGE_ERRORS = frozenset({"UsageError", "NotFound", "StateConflict", "Unsupported", "Unauthenticated",
                            "Forbidden", "OrderEntryError", "NotProvisioned"})


def extract(fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str],
            options: Mapping[str, Any]) -> Iterator[Extracted]:
    """Babel's extractor interface: (line, function, text or texts, comments) per text found."""
    tree = ast.parse(fileobj.read())
    found = sorted((item for node in ast.walk(tree) for item in _found(node)), key=lambda item: item[0])
    yield from found


def _found(node: ast.AST) -> Iterator[Extracted]:
    if isinstance(node, ast.Call):
        yield from _call(node)
    elif isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if node.value is not None and any(n == "hint" or n.upper().endswith("_HINT") for n in names):
            yield from _texts(node.value)


def _call(node: ast.Call) -> Iterator[Extracted]:
    name = node.func.id if isinstance(node.func, ast.Name) else \
        node.func.attr if isinstance(node.func, ast.Attribute) else ""
    if name == "ngettext" and len(node.args) >= 2:
        singular, plural = (_text(a) for a in node.args[:2])
        if singular is not None and plural is not None:
            yield node.lineno, "ngettext", (singular, plural), []
    elif (name in _CALLS and node.args) or (name in MESSAGE_ERRORS and node.args):
        yield from _texts(node.args[0])
    for keyword in node.keywords:
        if keyword.arg == "hint":
            yield from _texts(keyword.value)


def _texts(node: ast.expr) -> Iterator[Extracted]:
    """The texts an expression can be: a string, an f-string, either side of `or` and `if`."""
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _texts(value)
    elif isinstance(node, ast.IfExp):
        yield from _texts(node.body)
        yield from _texts(node.orelse)
    elif (text := _text(node)) is not None and text.strip():
        yield node.lineno, None, text, []


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None
    parts: list[str] = []
    used: dict[str, int] = {}
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        elif isinstance(value, ast.FormattedValue):
            name = _placeholder(value.value)
            used[name] = used.get(name, 0) + 1
            parts.append("{" + (name if used[name] == 1 else f"{name}{used[name]}") + "}")
    return "".join(parts)


def _placeholder(node: ast.expr) -> str:
    """A readable name for what an f-string shows: `row.entity` → entity, `len(rows)` → rows."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call) and node.args:
        return _placeholder(node.args[0])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):  # `x.upper()` → x, `self.entities()` → entities
        plain = node.func.attr in ("upper", "lower", "strip", "title", "capitalize", "isoformat")
        return _placeholder(node.func.value) if plain else node.func.attr
    if isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            return node.slice.value
        return _placeholder(node.value)
    return "value"
