"""What every repository of the store shares: its SQLAlchemy engine and a few helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine, bindparam
from sqlalchemy.sql.elements import BindParameter

T = TypeVar("T")
#: ids per `IN (...)` (SQLite allows 999 bound parameters)
CHUNK = 900


class Repository:
    """One kind of koppel's state, behind the store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def bind(name: str) -> BindParameter[Any]:
    return bindparam(name)


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
