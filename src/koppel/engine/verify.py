"""Write verification: what a system stored, compared with what koppel wrote to it.

A system may normalise what it stores in ways its connector declares through its mapping (trimmed
text, the case of choice keys, decimal places); anything beyond that, a value dropped or changed,
is an error for that record. Pure: the executor reads the record back and hands both in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class Difference:
    field: str
    wrote: Any
    stored: Any

    def describe(self) -> str:
        return f"{self.field}: wrote {self.wrote!r}, it holds {self.stored!r}"


def differences(written: Mapping[str, Any], stored: Mapping[str, Any] | None,
                fields: Iterable[str], *, empty: bool = True) -> list[Difference]:
    """The `fields` of `written` that `stored` (None: the record cannot be read) does not hold;
    without `empty`, those written empty are not compared."""
    if stored is not None and written.items() <= stored.items():  # the usual case, compared in C
        return []
    names = [f for f in fields if f in written] if empty else [f for f in fields if written.get(f) is not None]
    if stored is None:
        return [Difference(f, written[f], None) for f in names]
    get = stored.get
    return [Difference(f, written[f], get(f)) for f in names
            if written[f] != get(f) and not same(written[f], get(f))]  # equal: the usual case, no call


def same(wrote: Any, stored: Any) -> bool:
    """Equal up to the normalisation every system may apply: surrounding whitespace, an empty text
    for nothing, trailing decimal zeros; mappings compared on the keys that were written."""
    if wrote == stored:
        return True
    if isinstance(wrote, Mapping):
        return isinstance(stored, Mapping) and all(same(v, stored.get(k)) for k, v in wrote.items())
    if isinstance(wrote, list | tuple):
        return (isinstance(stored, list | tuple) and len(wrote) == len(stored)
                and all(same(a, b) for a, b in zip(wrote, stored, strict=True)))
    if _blank(wrote) and _blank(stored):
        return True
    if isinstance(wrote, str) and isinstance(stored, str):
        return wrote.strip() == stored.strip() or _number(wrote) == _number(stored) is not None
    return _number(wrote) == _number(stored) is not None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None
