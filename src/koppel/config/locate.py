"""Finds the line of koppel.toml that a validation error points at, so messages say where."""

from __future__ import annotations

import re
from collections.abc import Sequence


def locate(text: str, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest table header and key on the path `loc`, if found."""
    lines = text.splitlines()
    names = [str(p) for p in loc if not isinstance(p, int)]
    for depth in range(len(names), 0, -1):
        header = _find_header(lines, ".".join(names[:depth]))
        if header is None:
            continue
        rest = names[depth:]
        for size in range(len(rest), 0, -1):
            key = _find_key(lines, header, ".".join(rest[:size]))
            if key is not None:
                return key
        return header + 1
    top = _find_key(lines, -1, names[0]) if names else None
    return top


def _find_header(lines: list[str], dotted: str) -> int | None:
    pattern = re.compile(r"^\s*\[\[?\s*" + re.escape(dotted) + r"\s*\]\]?\s*(#.*)?$")
    return next((i for i, line in enumerate(lines) if pattern.match(line)), None)


def _find_key(lines: list[str], after: int, key: str) -> int | None:
    name = re.escape(key).replace(r"\.", r"\s*\.\s*")
    pattern = re.compile(r"^\s*\"?" + name + r"\"?\s*[=.]|[{,]\s*" + name + r"\s*=")
    for i in range(after + 1, len(lines)):
        if i > after + 1 and lines[i].lstrip().startswith("["):
            break
        if pattern.search(lines[i]):
            return i + 1
    return None
