"""What lets several workers sync side by side without writing one record twice.

- **One cursor owner per entity.** A job that reads an entity's changes and moves its cursors
  holds the entity's owner lock exclusively: the live poll takes it if it is free and otherwise
  leaves the entity to the job that has it this round; a load's job waits for it. The shards of
  a load hold it shared (they apply, and move no cursor), so no poll reads the entity meanwhile.
- **A lock per record.** The plan and the apply of a batch (or of records synced by id) happen
  under a lock on each record's key: its id on the side it was read from and, once it is
  coupled, its link. Whoever comes second plans with the links the first one recorded, so a
  record is created once, whichever jobs race for it.
- **Shards.** A load may be split into `count` shards: shard `index` applies the records whose
  stable key (the link, else the record's id on its side) hashes to it.

On SQLite (one process, one job at a time) the locks are granted at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from koppel.connectors.base import RemoteRecord
from koppel.model import entity_class, ref_fields
from koppel.store import Store


@dataclass(frozen=True)
class Shard:
    """Part `index` of `count` of an entity's records."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count}")

    def holds(self, key: str) -> bool:
        return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % self.count == self.index


def owner_key(entity: str) -> str:
    return f"koppel:owner:{entity}"


@contextmanager
def owning(store: Store, entity: str, *, wait: bool, shard: Shard | None = None,
           reading: bool = False) -> Iterator[bool]:
    """The entity's owner lock: shared for a shard, else exclusive (waited for with `wait`, else
    taken only if free); none for `reading` only (a dry run). Yields whether it is held."""
    key = owner_key(entity)
    if reading:
        yield True
    elif shard is not None or wait:
        with store.locks.hold([key], shared=shard is not None):
            yield True
    else:
        with store.locks.try_hold(key) as got:
            yield got


@contextmanager
def holding(store: Store, entity: str, side: str, ids: Sequence[str]) -> Iterator[None]:
    """The record locks of records read from `side` (their ids there and their links)."""
    if not store.locks.enabled or not ids:
        yield
        return
    links = store.links.link_ids(entity, side, ids)
    keys = [f"koppel:record:{entity}:{side}:{i}" for i in ids]
    keys += [f"koppel:record:{entity}:link:{n}" for n in links.values()]
    with store.locks.hold(keys):
        yield


def part(store: Store, entity: str, side: str, records: Sequence[RemoteRecord], deleted: Sequence[str],
         shard: Shard | None) -> tuple[Sequence[RemoteRecord], Sequence[str]]:
    """The records and deletions of a batch that belong to `shard` (all of them without one)."""
    if shard is None or shard.count == 1:
        return records, deleted
    links = store.links.link_ids(entity, side, [r.id for r in records] + list(deleted))

    def mine(record_id: str) -> bool:
        link = links.get(record_id)
        return shard.holds(f"link:{link}" if link is not None else f"{side}:{record_id}")

    return [r for r in records if mine(r.id)], [i for i in deleted if mine(i)]


def dependencies(entities: Sequence[str]) -> dict[str, list[str]]:
    """For each of `entities` (in dependency order), those of them it references: a load of it
    waits for theirs (a contact waits for its account)."""
    chosen = set(entities)
    return {e: sorted({r.target for r in ref_fields(entity_class(e)) if r.target in chosen and r.target != e},
                      key=entities.index) for e in entities}
