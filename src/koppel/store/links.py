"""Links (which record in the ERP is which in the CRM, with the last-synced values) and the
change cursors of each system and entity."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    ColumnElement,
    Engine,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from koppel import clock
from koppel.store import tables as t
from koppel.store.base import (
    Repository,
    Unit,
    bind,
    chunks,
    dumps,
    insert_many,
    like_pattern,
    loads,
    select_in,
)


class LinkRow:
    """One coupled record: its id on each side, the last-synced value of every field (decoded
    when first asked for: most links a batch loads are never compared), and on the side koppel
    created it the version stamp the create answered (its echo is known by it)."""

    __slots__ = ("_raw", "_snapshot", "crm_id", "crm_version", "entity", "erp_id", "erp_version", "id")

    def __init__(self, id: int, entity: str, erp_id: str, crm_id: str,
                 snapshot: dict[str, Any] | None = None, *, raw: str | None = None,
                 erp_version: str | None = None, crm_version: str | None = None) -> None:
        self.id, self.entity, self.erp_id, self.crm_id = id, entity, erp_id, crm_id
        self.erp_version, self.crm_version = erp_version, crm_version
        self._snapshot, self._raw = snapshot, raw

    @property
    def snapshot(self) -> dict[str, Any]:
        if self._snapshot is None:
            self._snapshot = loads(self._raw) if self._raw else {}
        return self._snapshot

    def id_on(self, side: str) -> str:
        return self.erp_id if side == "erp" else self.crm_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinkRow) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"LinkRow({self.id}, {self.entity!r}, {self.erp_id!r}, {self.crm_id!r})"

    def _key(self) -> tuple[Any, ...]:
        return (self.id, self.entity, self.erp_id, self.crm_id, self.snapshot, self.erp_version, self.crm_version)


class NewLink(NamedTuple):
    """A coupling to record: the ids, the snapshot, and the version stamps the write answered."""

    erp_id: str
    crm_id: str
    snapshot: Mapping[str, Any]
    erp_version: str | None = None
    crm_version: str | None = None


_NEW_LINK = ("erp_id", "crm_id", "snapshot", "erp_version", "crm_version")
_COLUMNS = (t.links.c.id, t.links.c.entity, t.links.c.erp_id, t.links.c.crm_id, t.links.c.snapshot,
            t.links.c.erp_version, t.links.c.crm_version)


class Links(Repository):
    def __init__(self, engine: Engine, unit: Unit | None = None) -> None:
        super().__init__(engine, unit)
        self._grown = 0  # links this process added
        self._analyze_at = 5_000  # … when the table's statistics are refreshed next (PostgreSQL)

    def by_ids(self, entity: str, side: str, ids: Iterable[str]) -> dict[str, LinkRow]:
        """Links of records known by their id on `side`, keyed by that id."""
        column = "erp_id" if side == "erp" else "crm_id"
        with self.connect() as conn:
            rows = select_in(conn, f"SELECT id, erp_id, crm_id, snapshot, erp_version, crm_version FROM links "
                                   f"WHERE entity = ? AND {column} IN", list(set(ids)), entity)
        return {row[1 if side == "erp" else 2]: LinkRow(row[0], entity, row[1], row[2], raw=row[3],
                                                         erp_version=row[4], crm_version=row[5]) for row in rows}

    def link_ids(self, entity: str, side: str, ids: Iterable[str]) -> dict[str, int]:
        """The link of each record known by its id on `side` (references translated), without
        loading snapshots."""
        return {row[0]: row[1] for row in self._keys(entity, side, ids, stamp=False)}

    def coupled(self, entity: str, side: str, ids: Iterable[str]) -> dict[str, tuple[int, str | None]]:
        """Of records known by their id on `side`, those coupled: id -> (link id, the version
        stamp koppel's create answered there, if koppel created it). Without snapshots: a
        batch's record-lock keys and its echoes in one look-up."""
        return {row[0]: (row[1], row[2]) for row in self._keys(entity, side, ids)}

    def stamps(self, entity: str, side: str, ids: Iterable[str]) -> dict[str, tuple[int, str | None]]:
        """Of records known by their id on `side`, those koppel created there: id -> (link id,
        the version stamp the create answered). Without snapshots: the look-up of a batch of
        echoes."""
        return {row[0]: (row[1], row[2]) for row in self._keys(entity, side, ids, created=True)}

    def _keys(self, entity: str, side: str, ids: Iterable[str], *, stamp: bool = True,
              created: bool = False) -> list[Any]:
        """Rows (id on `side`, link id[, version stamp there]) of the links of these records;
        with `created`, only of those koppel created there."""
        column, version = ("erp_id", "erp_version") if side == "erp" else ("crm_id", "crm_version")
        selected = f"{column}, id, {version}" if stamp else f"{column}, id"
        only = f"AND {version} IS NOT NULL " if created else ""
        with self.connect() as conn:
            return select_in(conn, f"SELECT {selected} FROM links WHERE entity = ? {only}AND {column} IN",
                             list(set(ids)), entity)

    def by_link_ids(self, link_ids: Iterable[int]) -> dict[int, LinkRow]:
        found: dict[int, LinkRow] = {}
        with self.connect() as conn:
            for chunk in chunks(list(set(link_ids))):
                query = select(*_COLUMNS).where(t.links.c.id.in_(chunk))
                found.update((row.id, _link(row)) for row in conn.execute(query))
        return found

    def ids_on(self, side: str, link_ids: Iterable[int]) -> dict[int, str]:
        """The id on `side` of each link, without loading snapshots."""
        column = "erp_id" if side == "erp" else "crm_id"
        with self.connect() as conn:
            rows = select_in(conn, f"SELECT id, {column} FROM links WHERE id IN", list(set(link_ids)))
        return dict(rows)

    def add(self, entity: str, rows: Sequence[tuple[str, str, Mapping[str, Any]] | NewLink]) -> None:
        """Record new couplings (erp_id, crm_id, snapshot[, erp_version, crm_version]) in one
        statement."""
        if not rows:
            return
        values = [(n.erp_id, n.crm_id, dumps(n.snapshot), n.erp_version, n.crm_version)
                  for n in (r if isinstance(r, NewLink) else NewLink(*r) for r in rows)]
        with self.begin() as conn:
            insert_many(conn, t.links, _NEW_LINK, values, {"entity": entity, "synced_at": clock.now()})
            self._grown += len(values)
            if self._grown >= self._analyze_at and conn.dialect.name == "postgresql":
                # a load grows the table faster than autovacuum refreshes its statistics, and
                # PostgreSQL then scans every link of an entity per look-up: time quadratic in
                # the load. Refreshed at 5,000 new links, then at each doubling.
                conn.exec_driver_sql("ANALYZE links")
                self._analyze_at = 2 * self._grown

    def try_add(self, entity: str, rows: Sequence[NewLink]) -> bool:
        """Record new couplings unless the links' unique keys refuse one of them (another process
        coupled one of the records since): whether they were recorded. In a transaction of its
        own, never inside `Store.together()` (a refused insert ends PostgreSQL's transaction)."""
        assert self.unit.connection is None, "try_add runs in a transaction of its own"
        try:
            self.add(entity, rows)
        except IntegrityError:
            return False
        return True

    def update_snapshots(self, snapshots: Mapping[int, Mapping[str, Any]]) -> None:
        if not snapshots:
            return
        now = clock.now()
        statement = update(t.links).where(t.links.c.id == bind("link_id")).values(
            snapshot=bind("snap"), synced_at=now)
        with self.begin() as conn:
            conn.execute(statement, [{"link_id": k, "snap": dumps(v)} for k, v in snapshots.items()])

    def delete(self, link_ids: Iterable[int]) -> None:
        ids = list(link_ids)
        if ids:
            with self.begin() as conn:
                conn.execute(delete(t.links).where(t.links.c.id.in_(ids)))

    def all(self, entity: str) -> list[LinkRow]:
        with self.connect() as conn:
            return [_link(r) for r in conn.execute(
                select(t.links).where(t.links.c.entity == entity).order_by(t.links.c.id))]

    def search(self, entity: str, text: str, *, limit: int) -> list[LinkRow]:
        """Links of `entity` whose last-synced name or number, or whose id on either side (as
        `erp:ID` or `crm:ID`), contains `text` ignoring case; every link for no text. Oldest
        link first, at most `limit`: one query that matches the snapshots in SQL and stops at
        the limit, instead of decoding every snapshot here."""
        query = select(*_COLUMNS).where(t.links.c.entity == entity).order_by(t.links.c.id).limit(limit)
        with self.connect() as conn:
            if text:
                query = query.where(_matching(conn.dialect.name, text))
            return [_link(r) for r in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        query = select(t.links.c.entity, func.count()).group_by(t.links.c.entity)
        with self.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    def synced_at(self, link_id: int) -> datetime | None:
        with self.connect() as conn:
            found: datetime | None = conn.execute(
                select(t.links.c.synced_at).where(t.links.c.id == link_id)).scalar_one_or_none()
        return found


class Cursors(Repository):
    """Where each system's change read of each entity stands (opaque to the store)."""

    def get(self, system: str, entity: str) -> str | None:
        query = select(t.cursors.c.value).where(t.cursors.c.system == system,
                                                t.cursors.c.entity == entity)
        with self.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def set(self, system: str, entity: str, value: str) -> None:
        key = and_(t.cursors.c.system == system, t.cursors.c.entity == entity)
        with self.begin() as conn:
            changed = conn.execute(update(t.cursors).where(key).values(
                value=value, updated_at=clock.now())).rowcount
            if not changed:
                conn.execute(insert(t.cursors).values(system=system, entity=entity, value=value,
                                                      updated_at=clock.now()))

    def reset(self) -> None:
        with self.begin() as conn:
            conn.execute(delete(t.cursors))


def _matching(dialect: str, text: str) -> ColumnElement[bool]:
    """"Contains `text`, ignoring case" on a link's snapshot name or number or on its two ids:
    ILIKE on PostgreSQL; on SQLite, whose LIKE ignores the case of ASCII letters only, LIKE for
    an ASCII text and the store's `koppel_fold` (Python's casefold) for another. Where the text
    is written as itself in JSON, the snapshot's raw text is tested first: most rows fail that
    cheap test and are never parsed."""
    c = t.links.c

    def contains(value: ColumnElement[Any]) -> ColumnElement[bool]:
        if dialect == "postgresql":
            return value.ilike(like_pattern(text), escape="\\")
        if text.isascii():
            return value.like(like_pattern(text), escape="\\")
        return func.koppel_fold(value).like(like_pattern(text.casefold()), escape="\\")

    if dialect == "postgresql":
        snapshot = cast(c.snapshot, JSON)
        fields = [snapshot["name"].as_string(), snapshot["number"].as_string()]
    else:
        fields = [func.json_extract(c.snapshot, "$.name"), func.json_extract(c.snapshot, "$.number")]
    in_snapshot = or_(*(contains(f) for f in fields))
    if dumps(text) == f'"{text}"':
        in_snapshot = and_(contains(c.snapshot), in_snapshot)
    return or_(in_snapshot, contains(literal("erp:") + c.erp_id), contains(literal("crm:") + c.crm_id))


def _link(row: Any) -> LinkRow:
    return LinkRow(row.id, row.entity, row.erp_id, row.crm_id, raw=row.snapshot,
                   erp_version=row.erp_version, crm_version=row.crm_version)
