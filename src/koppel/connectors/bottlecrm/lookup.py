"""Finding records by natural key: a server-side filter where BottleCRM has one, else a scan.

`?cf_<key>=` filters answer 500 on SQLite (a JSON `contains` lookup); the first such failure
switches this connector to scanning for custom-field keys. Keys that need a scan share one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from koppel.connectors.base import JsonValues
from koppel.connectors.bottlecrm.adapters import EntitySpec
from koppel.connectors.bottlecrm.client import BottleCrmClient, Json
from koppel.errors import TransientError
from koppel.model import Entity

Canonical = Callable[[EntitySpec, Json], Entity | None]
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

    def __init__(self, client: BottleCrmClient, canonical: Canonical) -> None:
        self.client = client
        self.canonical = canonical
        self.cf_filters_work = True

    def find(self, spec: EntitySpec, keys: Sequence[JsonValues]) -> list[str | None]:
        params = [self._params(spec, key) for key in keys]
        if len(keys) > SCAN_ABOVE:
            params = [None] * len(keys)
        scan = self._scan(spec) if None in params else []
        return self.client.parallel(
            lambda pair: _match(self._rows(spec, pair[1], scan), pair[0], spec, self.canonical),
            list(zip(keys, params, strict=True)))

    def _params(self, spec: EntitySpec, key: JsonValues) -> dict[str, Any] | None:
        found = FILTERS.get((spec.entity, tuple(key)))
        if found is None or (found[0].startswith("cf_") and not self.cf_filters_work):
            return None
        return {found[0]: key[found[1]]}

    def _rows(self, spec: EntitySpec, params: dict[str, Any] | None, scan: list[Json]) -> list[Json]:
        if params is None:
            return scan
        try:
            return list(self.client.pages(spec.path, spec.rows, params))
        except TransientError:
            if not any(p.startswith("cf_") for p in params):
                raise
            self.cf_filters_work = False  # SQLite: JSON contains is not supported
            return self._scan(spec)

    def _scan(self, spec: EntitySpec) -> list[Json]:
        return list(self.client.pages(spec.path, spec.rows))


def _match(rows: list[Json], key: JsonValues, spec: EntitySpec, canonical: Canonical) -> str | None:
    """The id of the first row whose canonical values equal the key's."""
    for row in rows:
        record = canonical(spec, row)
        if record is not None and all(_same(getattr(record, f), v) for f, v in key.items()):
            return str(row["id"])
    return None


def _same(have: Any, want: Any) -> bool:
    if have is None or want is None:
        return have is want
    if isinstance(have, str) and "@" in have:
        return have.strip().lower() == str(want).strip().lower()
    return bool(have == want) or str(have) == str(want)


__all__ = ["FILTERS", "Finder"]
