"""What every repository of the store shares: its SQLAlchemy engine and a few helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from operator import itemgetter
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, Table, bindparam, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import BindParameter

T = TypeVar("T")
#: ids per `IN (...)` (SQLite allows 999 bound parameters)
CHUNK = 900


class Unit(threading.local):
    """The transaction a thread's store writes share while `Store.together()` is open."""

    connection: Connection | None = None


class Repository:
    """One kind of koppel's state, behind the store's engine."""

    def __init__(self, engine: Engine, unit: Unit | None = None) -> None:
        self.engine = engine
        self.unit = unit or Unit()

    def begin(self) -> AbstractContextManager[Connection]:
        """A transaction: the thread's shared one inside `Store.together()`, else its own."""
        shared = self.unit.connection
        return nullcontext(shared) if shared is not None else self.engine.begin()

    def connect(self) -> AbstractContextManager[Connection]:
        shared = self.unit.connection
        return nullcontext(shared) if shared is not None else self.engine.connect()


def dumps(value: Any) -> str:
    """Canonical JSON text (sorted keys, no spaces) of a record's values."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def json_text(value: Any) -> str:
    """JSON columns' serializer (orjson: several times faster than the standard library's)."""
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


#: a compiled insert: its SQL, whether its parameters are named, the positions of the columns
#: in its parameters where they differ from the order given, and the columns' bind processors
_Insert = tuple[str, bool, list[int] | None, list[Callable[[Any], Any] | None]]
_inserts: dict[tuple[str, str, tuple[str, ...]], _Insert] = {}


def insert_many(conn: Connection, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]],
                shared: Mapping[str, Any] | None = None) -> None:
    """Insert rows, each the values of `names` in that order, and the `shared` values every row
    has alike (the moment), with one driver call: COPY on PostgreSQL, the driver's executemany
    elsewhere. The statement is compiled once per dialect and the values are converted by the
    column types' own bind processors (a shared value once). A batch then costs the database's
    time, not SQLAlchemy's per-row bookkeeping."""
    if not rows:
        return
    shared = shared or {}
    columns = (*names, *shared)
    dialect = conn.dialect
    key = (dialect.name, table.name, columns)
    if key not in _inserts:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        order = compiled.positiontup  # the statement's order of its parameters (None: named)
        processors: list[Callable[[Any], Any] | None] = [
            table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in columns]
        positions = None if order is None or list(order) == list(columns) else [columns.index(n) for n in order]
        _inserts[key] = (compiled.string, order is None, positions, processors)
    sql, named, positions, converters = _inserts[key]
    fixed = tuple(v if convert is None else convert(v)
                  for v, convert in zip(shared.values(), converters[len(names):], strict=True))
    per_row = [(column, convert) for column, convert in enumerate(converters[:len(names)]) if convert is not None]
    # lists where a column is converted in place, else tuples (the driver's own form)
    converted: list[Sequence[Any]] = [[*row, *fixed] for row in rows] if per_row else [(*row, *fixed) for row in rows]
    for column, convert in per_row:
        last: Any = object()
        done: Any = None
        for values in converted:  # a value the row before had too (None) is converted once
            if values[column] is not last:
                last, done = values[column], convert(values[column])
            values[column] = done  # type: ignore[index]  # a list here
    if dialect.name == "postgresql":  # COPY takes the columns in the order given
        statement = f'COPY "{table.name}" ({", ".join(columns)}) FROM STDIN'
        with driver_cursor(conn, statement) as cursor, cursor.copy(statement) as copy:
            for values in converted:
                copy.write_row(values)
        return
    if named:  # a driver with named parameters
        conn.exec_driver_sql(sql, [dict(zip(columns, values, strict=True)) for values in converted])
    else:  # positional: in the statement's order where it differs from the columns'
        conn.exec_driver_sql(sql, list(map(tuple, converted)) if positions is None
                             else list(map(itemgetter(*positions), converted)))


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape character `\\`) that matches values containing `text`."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fold(value: Any) -> str | None:
    """SQLite's `koppel_fold(x)`: the text casefolded (SQLite's own lower() knows ASCII only)."""
    return None if value is None else str(value).casefold()


def bind(name: str) -> BindParameter[Any]:
    return bindparam(name)


def select_in(conn: Connection, sql: str, values: Sequence[Any], *params: Any) -> list[Any]:
    """Rows of `sql`, plain SQL ending in `IN` with `?` for its other parameters `params`, for
    every one of `values`: in chunks on SQLite, as one array (`= ANY`) on PostgreSQL. For the
    hot look-ups, where building a SQLAlchemy statement per chunk cost more than the query."""
    if not values:
        return []
    if conn.dialect.name == "postgresql":
        query = sql.replace("?", "%s").removesuffix(" IN") + " = ANY(%s)"
        array: str | list[Any] = list(values)
        if all(isinstance(v, str) for v in values):  # the array as one text: a third quicker than a list
            query, array = query.removesuffix("(%s)") + "(%s::text[])", pg_text_array(values)
        with driver_cursor(conn, query) as cursor:
            return list(cursor.execute(query, (*params, array)).fetchall())
    rows: list[Any] = []
    with driver_cursor(conn, sql) as cursor:  # tuples as the driver makes them, no result object per row
        for chunk in chunks(values):
            rows += cursor.execute(f"{sql} ({', '.join(['?'] * len(chunk))})", (*params, *chunk)).fetchall()
    return rows


def pg_text_array(values: Sequence[str]) -> str:
    """PostgreSQL's literal of a text array: each element quoted, its backslashes and quotes
    escaped (the driver's list adaptation costs more per element)."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


@contextmanager
def driver_cursor(conn: Connection, statement: str) -> Iterator[Any]:
    """The driver's own cursor on `conn`, for the hot paths where SQLAlchemy's per-row work costs
    more than the database's; closed after, and a driver error raised as SQLAlchemy raises it for
    `statement` (IntegrityError, OperationalError, …)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    failure = conn.dialect.loaded_dbapi.Error
    try:
        yield cursor
    except failure as exc:
        raise DBAPIError.instance(statement, None, exc, failure) from exc
    finally:
        cursor.close()


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
