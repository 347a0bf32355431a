"""Finding records by natural key: a server-side filter where BottleCRM has one, else a scan.

`?cf_<key>=` filters answer 500 on SQLite (a JSON `contains` lookup); the first such failure
switches this connector to scanning for custom-field keys. A scan is costly (the accounts list
takes about 3.5 ms per account on the server), so one scan answers every key that needs one
for `find_scan_ttl` seconds: it is refreshed by each change read of the entity (which scans the
list anyway) and kept up to date with the connector's own writes; a write that failed for a
passing reason (it may have been applied) drops it. Without that, a load of N new accounts costs
N/batch scans of a growing list: quadratic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from koppel.connectors.base import JsonValues
from koppel.connectors.bottlecrm.client import BottleCrmClient, Json
from koppel.connectors.bottlecrm.specs import EntitySpec
from koppel.errors import TransientError
from koppel.model import Entity

Canonical = Callable[[EntitySpec, Json], Entity | None]
Values = dict[str, Any]
#: more keys than this in one call: one scan answers them all
SCAN_ABOVE = 4

# (entity, key fields) -> (query parameter, field whose value goes in it)
FILTERS: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {
    ("account", ("number",)): ("cf_erp_customer_no", "number"),
    ("account", ("vat_id",)): ("cf_vat_id", "vat_id"),
    ("account", ("name", "postcode")): ("name", "name"),
    ("contact", ("email",)): ("search", "email"),
    ("product", ("code",)): ("search", "code"),
    ("case", ("number",)): ("cf_erp_complaint_no", "number"),
}


class Finder:
    """Answers `find` for one connector; remembers whether custom-field filters work."""

    def __init__(self, client: BottleCrmClient, canonical: Canonical, ttl: float = 120.0) -> None:
        self.client = client
        self.canonical = canonical
        self.ttl = ttl
        self.cf_filters_work = True
        self._scans: dict[str, tuple[float, dict[str, Values]]] = {}  # entity -> (when, id -> values)
        self._lock = threading.Lock()

    def find(self, spec: EntitySpec, keys: Sequence[JsonValues]) -> list[str | None]:
        params = [self._params(spec, key) for key in keys]
        if len(keys) > SCAN_ABOVE or (spec.entity in self._scans and self._fresh(spec.entity)):
            params = [None] * len(keys)
        scan = self._scan(spec) if None in params else {}
        return self.client.parallel(lambda pair: _match(self._rows(spec, pair[1], scan), pair[0]),
                                    list(zip(keys, params, strict=True)))

    # --- the scan, kept fresh by change reads and by the connector's own writes -------------

    def scanned(self, spec: EntitySpec, rows: Iterable[Json]) -> None:
        """A full list of the entity was just read (a change read): it answers finds from now."""
        index = {str(row["id"]): values for row in rows if (values := self._values(spec, row)) is not None}
        with self._lock:
            self._scans[spec.entity] = (time.monotonic(), index)

    def changed(self, spec: EntitySpec, rows: Iterable[Json], deleted: Iterable[str]) -> None:
        """A change read through the activity feed saw these rows change and these ids go: a
        cached scan learns them (its age stays: the feed does not see every change)."""
        index = {str(row["id"]): values for row in rows if (values := self._values(spec, row)) is not None}
        with self._lock:
            if spec.entity in self._scans:
                scan = self._scans[spec.entity][1]
                scan.update(index)
                for record_id in deleted:
                    scan.pop(record_id, None)

    def written(self, entity: str, record_id: str, values: JsonValues) -> None:
        """The connector created or updated a record: a cached scan learns its new values."""
        with self._lock:
            if entity in self._scans:
                self._scans[entity][1].setdefault(record_id, {}).update(values)

    def forget(self, entity: str) -> None:
        """A write failed in a way that may still have changed the system (a lost answer): the
        next find scans again, so a record that was made after all is found and not made twice."""
        with self._lock:
            self._scans.pop(entity, None)

    def deleted(self, entity: str, record_id: str) -> None:
        with self._lock:
            if entity in self._scans:
                self._scans[entity][1].pop(record_id, None)

    def _fresh(self, entity: str) -> bool:
        return time.monotonic() - self._scans[entity][0] < self.ttl

    def _scan(self, spec: EntitySpec) -> dict[str, Values]:
        with self._lock:
            if spec.entity in self._scans and self._fresh(spec.entity):
                return dict(self._scans[spec.entity][1])  # a copy: writes may add to it meanwhile
        self.scanned(spec, self.client.pages(spec.path, spec.rows, spec.query()))
        with self._lock:
            return dict(self._scans[spec.entity][1])

    def _values(self, spec: EntitySpec, row: Json) -> Values | None:
        record = self.canonical(spec, row)
        return None if record is None else record.model_dump(mode="json")

    # --- filtered requests ----------------------------------------------------------------

    def _params(self, spec: EntitySpec, key: JsonValues) -> dict[str, Any] | None:
        found = FILTERS.get((spec.entity, tuple(key)))
        if found is None or (found[0].startswith("cf_") and not self.cf_filters_work):
            return None
        return {found[0]: key[found[1]]}

    def _rows(self, spec: EntitySpec, params: dict[str, Any] | None, scan: dict[str, Values]
              ) -> dict[str, Values]:
        if params is None:
            return scan
        try:
            rows = self.client.pages(spec.path, spec.rows, spec.query(params))
            return {str(row["id"]): values for row in rows if (values := self._values(spec, row)) is not None}
        except TransientError:
            if not any(p.startswith("cf_") for p in params):
                raise
            self.cf_filters_work = False  # SQLite: JSON contains is not supported
            return self._scan(spec)


def _match(rows: dict[str, Values], key: JsonValues) -> str | None:
    """The id of the first record whose canonical values equal the key's."""
    for record_id, values in rows.items():
        if all(_same(values.get(f), v) for f, v in key.items()):
            return record_id
    return None


def _same(have: Any, want: Any) -> bool:
    if have is None or want is None:
        return have is want
    if isinstance(have, str) and "@" in have:
        return have.strip().lower() == str(want).strip().lower()
    return bool(have == want) or str(have) == str(want)


__all__ = ["FILTERS", "Finder"]
