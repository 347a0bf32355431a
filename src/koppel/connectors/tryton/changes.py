"""Change capture on Tryton: which records changed (or vanished) since a point in time.

A record's version stamp is the newest `last_modified_at` (Tryton's coalesce of write_date and
create_date, searchable and sortable in 8.2) of the record itself and of its related rows
(addresses, contact mechanisms, identifiers, sale lines, the product template...), so editing
an address bumps its party. Deletes come from `ir.model.log`; see `deleted_since`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from koppel.connectors.tryton.client import TrytonClient

ALL_RECORDS = {"active_test": False}


def stamp_of(value: datetime | None) -> float:
    """Tryton's naive-UTC timestamps as epoch seconds (the cursor's unit)."""
    return value.replace(tzinfo=UTC).timestamp() if value is not None else 0.0


def moment(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)


class Related(NamedTuple):
    """Rows of `model` whose changes count as changes of the record `path` points at.

    `path` is a field of `model` (many2one, x2many, function or reference field) or a dotted
    path through one x2many ("outgoing_moves.sale"); `domain` narrows the rows scanned.
    """

    model: str
    path: str
    domain: tuple[Any, ...] = ()


def _ids(value: Any) -> Iterable[int]:
    if isinstance(value, list):
        return (i for v in value for i in _ids(v))
    if value in (None, False, ""):
        return ()
    if isinstance(value, str) and "," in value:  # a reference: "sale.sale,12"
        tail = value.split(",", 1)[1]
        return (int(tail),) if tail.isdigit() else ()
    return (int(value),)


def parents_of(row: Any, path: str) -> Iterable[int]:
    """The ids a related row points at through `path` (see Related)."""
    head, _, tail = path.partition(".")
    if not tail:
        return _ids(row.get(head))
    nested = row.get(f"{head}.") or []
    return (i for child in (nested if isinstance(nested, list) else [nested])
            for i in _ids(child.get(tail)))


def changed_stamps(client: TrytonClient, model: str, domain: Sequence[Any],
                   related: Sequence[Related], since: datetime | None, lag: float) -> dict[int, float]:
    """Id -> version stamp of every record of `domain` changed at or after `since`.

    Without `since` (a first or a full read) every record is in already; its related rows
    are read only from `lag` before the newest record's stamp: an older child's stamp is below
    where the next read starts (`Cursor.since`), so it would change nothing there, and the full
    read of all of a system's addresses and receivables is spared."""
    window = [("last_modified_at", ">=", since)] if since is not None else []
    rows = client.model(model, "search_read", [*domain, *window], 0, None, None,
                        ["last_modified_at"], context=ALL_RECORDS)
    stamps = {int(r["id"]): stamp_of(r["last_modified_at"]) for r in rows}
    if since is None:
        if not stamps:
            return stamps
        window = [("last_modified_at", ">=", moment(max(stamps.values()) - lag))]
    bumped: dict[int, float] = {}
    for child in related:
        rows = client.model(child.model, "search_read", [*child.domain, *_through(child.path, domain), *window],
                            0, None, None, [child.path, "last_modified_at"], context=ALL_RECORDS)
        for row in rows:
            for parent in parents_of(row, child.path):
                bumped[parent] = max(bumped.get(parent, 0.0), stamp_of(row["last_modified_at"]))
    outside = [i for i in bumped if i not in stamps]
    if outside:  # a child changed, the parent did not: keep parents of this entity only
        keep = set(client.model(model, "search", [*domain, ("id", "in", outside)], 0, None, None,
                                context=ALL_RECORDS)) if since is not None else set()  # a full read has them all
        bumped = {i: s for i, s in bumped.items() if i in stamps or i in keep}
    for parent, when in bumped.items():
        stamps[parent] = max(stamps.get(parent, 0.0), when)
    return stamps


def _through(path: str, domain: Sequence[Any]) -> list[Any]:
    """The records' `domain` as a domain of their related rows that point at them through
    `path` (one field): only the rows of this entity's records are read (an account's
    addresses, not its contact persons'). None where the path or a clause is not that simple:
    all rows are read, and the parents outside the domain dropped after."""
    simple = "." not in path and all(isinstance(c, list | tuple) and len(c) == 3 and isinstance(c[0], str)
                                     for c in domain)
    return [(f"{path}.{name}", operator, value) for name, operator, value in domain] if simple else []


def deleted_since(client: TrytonClient, model: str, since: datetime | None,
                  pinned: dict[int, int]) -> list[tuple[int, float]]:
    """(id, when) of records of `model` deleted through RPC at or after `since`, by id.

    Tryton logs deletes in ir.model.log, but a log's `resource` reads back as null once the
    record is gone; it can still be searched. So the candidates (ids no longer present) are
    split in halves until each log is pinned to one id: about 2·log2(candidates) calls per
    delete, and nothing at all when no delete was logged in the window.

    A log names the same record for ever, so `pinned` (log id -> record id) keeps what was
    pinned for the next call: another entity of the same model, the next run. It is kept to
    this window's logs.
    """
    domain: list[Any] = [("event", "=", "delete"), ("resource", "like", f"{model},%")]
    window = [("create_date", ">=", since)] if since is not None else []
    logs = client.model("ir.model.log", "search_read", [*domain, *window], 0, None, None,
                        ["create_date"])
    when = {int(log["id"]): stamp_of(log["create_date"]) for log in logs}
    for gone in set(pinned).difference(when):
        del pinned[gone]
    new = [log for log in when if log not in pinned]
    if new:
        present = set(client.model(model, "search", [], 0, None, None, context=ALL_RECORDS))
        ever = len(logs) if since is None else client.model("ir.model.log", "search_count", domain)
        upper = max(present, default=0) + int(ever)
        _pin(client, model, new, [i for i in range(1, upper + 1) if i not in present], pinned)
    found: dict[int, float] = {}
    for log, stamp in when.items():
        if log in pinned:
            found[pinned[log]] = max(found.get(pinned[log], 0.0), stamp)
    return sorted(found.items())


def _pin(client: TrytonClient, model: str, logs: list[int], candidates: list[int], pinned: dict[int, int]) -> None:
    hits = client.model("ir.model.log", "search",
                        [("id", "in", logs), ("resource", "in", [f"{model},{c}" for c in candidates])],
                        0, None, None)
    if not hits:
        return
    if len(candidates) == 1:
        pinned.update((int(h), candidates[0]) for h in hits)
        return
    half = len(candidates) // 2
    _pin(client, model, hits, candidates[:half], pinned)
    _pin(client, model, hits, candidates[half:], pinned)
