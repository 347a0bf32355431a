"""Links (which record in the ERP is which in the CRM, with the last-synced values) and the
change cursors of each system and entity."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update

from koppel import clock
from koppel.store import tables as t
from koppel.store.base import Repository, bind, chunks, dumps


@dataclass
class LinkRow:
    """One coupled record: its id on each side and the last-synced value of every field."""

    id: int
    entity: str
    erp_id: str
    crm_id: str
    snapshot: dict[str, Any]

    def id_on(self, side: str) -> str:
        return self.erp_id if side == "erp" else self.crm_id


_COLUMNS = (t.links.c.id, t.links.c.entity, t.links.c.erp_id, t.links.c.crm_id, t.links.c.snapshot)


class Links(Repository):
    def by_ids(self, entity: str, side: str, ids: Iterable[str]) -> dict[str, LinkRow]:
        """Links of records known by their id on `side`, keyed by that id."""
        column = t.links.c.erp_id if side == "erp" else t.links.c.crm_id
        found: dict[str, LinkRow] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(set(ids))):
                query = select(*_COLUMNS).where(t.links.c.entity == entity, column.in_(chunk))
                for row in conn.execute(query):
                    link = _link(row)
                    found[link.id_on(side)] = link
        return found

    def by_link_ids(self, link_ids: Iterable[int]) -> dict[int, LinkRow]:
        found: dict[int, LinkRow] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(set(link_ids))):
                query = select(*_COLUMNS).where(t.links.c.id.in_(chunk))
                found.update((row.id, _link(row)) for row in conn.execute(query))
        return found

    def ids_on(self, side: str, link_ids: Iterable[int]) -> dict[int, str]:
        """The id on `side` of each link, without loading snapshots."""
        column = t.links.c.erp_id if side == "erp" else t.links.c.crm_id
        found: dict[int, str] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(set(link_ids))):
                query = select(t.links.c.id, column).where(t.links.c.id.in_(chunk))
                found.update((row[0], row[1]) for row in conn.execute(query))
        return found

    def add(self, entity: str, rows: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Record new couplings (erp_id, crm_id, snapshot) in one transaction."""
        if not rows:
            return
        now = clock.now()
        values = [{"entity": entity, "erp_id": e, "crm_id": c, "snapshot": dumps(s),
                   "synced_at": now} for e, c, s in rows]
        with self.engine.begin() as conn:
            conn.execute(insert(t.links), values)

    def update_snapshots(self, snapshots: Mapping[int, Mapping[str, Any]]) -> None:
        if not snapshots:
            return
        now = clock.now()
        statement = update(t.links).where(t.links.c.id == bind("link_id")).values(
            snapshot=bind("snap"), synced_at=now)
        with self.engine.begin() as conn:
            conn.execute(statement, [{"link_id": k, "snap": dumps(v)} for k, v in snapshots.items()])

    def delete(self, link_ids: Iterable[int]) -> None:
        ids = list(link_ids)
        if ids:
            with self.engine.begin() as conn:
                conn.execute(delete(t.links).where(t.links.c.id.in_(ids)))

    def all(self, entity: str) -> list[LinkRow]:
        with self.engine.connect() as conn:
            return [_link(r) for r in conn.execute(
                select(t.links).where(t.links.c.entity == entity).order_by(t.links.c.id))]

    def counts(self) -> dict[str, int]:
        query = select(t.links.c.entity, func.count()).group_by(t.links.c.entity)
        with self.engine.connect() as conn:
            return {row[0]: row[1] for row in conn.execute(query)}

    def synced_at(self, link_id: int) -> datetime | None:
        with self.engine.connect() as conn:
            found: datetime | None = conn.execute(
                select(t.links.c.synced_at).where(t.links.c.id == link_id)).scalar_one_or_none()
        return found


class Cursors(Repository):
    """Where each system's change read of each entity stands (opaque to the store)."""

    def get(self, system: str, entity: str) -> str | None:
        query = select(t.cursors.c.value).where(t.cursors.c.system == system,
                                                t.cursors.c.entity == entity)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def set(self, system: str, entity: str, value: str) -> None:
        key = and_(t.cursors.c.system == system, t.cursors.c.entity == entity)
        with self.engine.begin() as conn:
            changed = conn.execute(update(t.cursors).where(key).values(
                value=value, updated_at=clock.now())).rowcount
            if not changed:
                conn.execute(insert(t.cursors).values(system=system, entity=entity, value=value,
                                                      updated_at=clock.now()))

    def reset(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.cursors))


def _link(row: Any) -> LinkRow:
    return LinkRow(row.id, row.entity, row.erp_id, row.crm_id, json.loads(row.snapshot))
