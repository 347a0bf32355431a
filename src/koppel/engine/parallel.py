"""What lets several workers sync side by side without writing one record twice.

- **One cursor owner per entity.** A job that reads an entity's changes and moves its cursors
  holds the entity's owner lock: the live poll takes it if it is free and otherwise leaves the
  entity to the job that has it this round; a load's job waits for it.
- **A lock per record.** The plan and the apply of a batch (or of records synced by id) happen
  under the locks of its records' keys (`key`: a record's link, else its id on the side it was
  read from). Whoever comes second plans with the links the first one recorded, so a record is
  created once, whichever jobs race for it. The keys are hashed into 64 locks per shard and
  entity (`bucket`), a shard's never another's: a batch of hundreds of records takes a few dozen
  locks, in one statement.
- **Shards.** A load may be read once by its cursor owner and applied in `count` shards side by
  side (`split`): a record's shard is the hash of its stable key (its link, else its id on its
  side), so the parts of one record read twice go to the same shard, one after the other.

On SQLite (one process, one job at a time) the locks are granted at once.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager

import orjson

from koppel.connectors.base import ChangeBatch, RemoteRecord
from koppel.model import entity_class, ref_fields
from koppel.store import Store

#: takes a batch an entity's cursor owner read from a side, to be applied elsewhere
Dispatch = Callable[[str, str, ChangeBatch], None]


#: record locks per shard and entity
BUCKETS = 64


def _hash(key: str) -> int:
    """A hash of a key that every process computes alike (Python's own is salted per process)."""
    return zlib.crc32(key.encode())


def key(side: str, record_id: str, link: int | None) -> str:
    """A record's stable key: its link once it is coupled (the same read from either side),
    else its id on the side it was read from."""
    return f"link:{link}" if link is not None else f"{side}:{record_id}"


def shard_of(key: str, count: int) -> int:
    return _hash(key) % count


def bucket(key: str, shards: int) -> int:
    """The record lock of a key: one of BUCKETS for each shard, never another shard's."""
    number = _hash(key)
    return number % shards + shards * ((number // shards) % BUCKETS)


def owner_key(entity: str) -> str:
    return f"koppel:owner:{entity}"


@contextmanager
def owning(store: Store, entity: str, *, wait: bool, reading: bool = False) -> Iterator[bool]:
    """The entity's owner lock: waited for with `wait`, else taken only if free; none for
    `reading` only (a dry run). Yields whether it is held."""
    key = owner_key(entity)
    if reading:
        yield True
    elif wait:
        with store.locks.hold([key]):
            yield True
    else:
        with store.locks.try_hold(key) as got:
            yield got


#: what a batch's look-up of its keys found: record id -> (link id, the stamp of koppel's create)
Coupled = dict[str, tuple[int, str | None]]


@contextmanager
def holding(store: Store, entity: str, side: str, ids: Sequence[str], shards: int = 1) -> Iterator[Coupled | None]:
    """The record locks of records read from `side`. Yields what the look-up of their keys found
    before the locks were granted (None where no look-up was needed: no locks, or no ids). A
    link's stamp never changes, so a record it shows as koppel's own create is that still."""
    if not store.locks.enabled or not ids:
        yield None
        return
    coupled = store.links.coupled(entity, side, ids)
    buckets = {bucket(key(side, i, coupled[i][0] if i in coupled else None), shards) for i in ids}
    with store.locks.hold(f"koppel:record:{entity}:{b}" for b in buckets):
        yield coupled


def is_echo(record: RemoteRecord, coupled: Coupled, unlinked: Collection[int] = ()) -> bool:
    """Is this record read koppel's own create, unchanged since (its stamp is the one the create
    answered), on a link not being dropped?"""
    found = coupled.get(record.id)
    return found is not None and record.version is not None and found[1] == record.version \
        and found[0] not in unlinked


def split(store: Store, entity: str, side: str, records: Sequence[RemoteRecord], deleted: Sequence[str],
          count: int, *, drop_echoes: bool = True) -> dict[int, tuple[list[RemoteRecord], list[str]]]:
    """The records and deletions of a batch by shard (of `count`); shards with nothing left out,
    and so are, with `drop_echoes`, the echoes of koppel's own creates (known by their stamp)."""
    coupled = store.links.coupled(entity, side, [r.id for r in records] + list(deleted)) \
        if drop_echoes or count > 1 else {}
    if drop_echoes:
        records = [r for r in records if not is_echo(r, coupled)]
    parts: dict[int, tuple[list[RemoteRecord], list[str]]] = {}

    def shard(record_id: str) -> tuple[list[RemoteRecord], list[str]]:
        link = coupled[record_id][0] if record_id in coupled else None
        index = shard_of(key(side, record_id, link), count) if count > 1 else 0
        return parts.setdefault(index, ([], []))

    for record in records:
        shard(record.id)[0].append(record)
    for record_id in deleted:
        shard(record_id)[1].append(record_id)
    return dict(sorted(parts.items()))


def pack(records: Sequence[RemoteRecord]) -> str:
    """Records for a job's payload: [id, canonical values, version stamp] each, as compressed JSON
    in one string (a job queue escapes a JSON structure of hundreds of records slowly, field by
    field; one string of letters and digits it passes through)."""
    rows = [[r.id, r.canonical(), r.version] for r in records]
    return base64.b64encode(zlib.compress(orjson.dumps(rows), 1)).decode()


def unpack(entity: str, packed: str) -> list[RemoteRecord]:
    cls = entity_class(entity)
    return [RemoteRecord.of(str(i), cls, values, version=None if v is None else str(v))
            for i, values, v in orjson.loads(zlib.decompress(base64.b64decode(packed)))]


def dependencies(entities: Sequence[str]) -> dict[str, list[str]]:
    """For each of `entities` (in dependency order), those of them it references: a load of it
    waits for theirs (a contact waits for its account)."""
    chosen = set(entities)
    return {e: sorted({r.target for r in ref_fields(entity_class(e)) if r.target in chosen and r.target != e},
                      key=entities.index) for e in entities}
