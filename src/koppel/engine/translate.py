"""The translator between the two systems and the engine: records read from a side become the
engine's form (the ERP's vocabulary, references as link ids), and the engine's values become
what a side stores (its own ids, its own vocabulary). Translation reads links and nothing else;
it never writes and never calls a connector.

A reference to a record that is not coupled is kept as is and listed in `Change.missing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from koppel.config.policy import Policy, Side
from koppel.connectors.base import RemoteRecord
from koppel.engine.planner import Change
from koppel.engine.values import apply_maps, collect_refs, map_refs
from koppel.model import entity_class, ref_fields
from koppel.store import Store


@dataclass(frozen=True)
class Translator:
    store: Store
    policy: Policy
    #: entities coupled between the two systems; a reference to any other entity stays as is
    coupled: frozenset[str] | None = None

    # --- a side -> the engine -------------------------------------------------------------

    def records(self, entity: str, side: Side, records: Sequence[RemoteRecord]) -> list[Change]:
        """Records a connector returned, in the engine's form."""
        return self.normalise(entity, side, [(r.id, r.canonical()) for r in records])

    def values(self, entity: str, side: Side, values: dict[str, Any]) -> dict[str, Any]:
        """One record's values read from `side`, in the engine's form."""
        return self.normalise(entity, side, [("", values)])[0].values

    def normalise(self, entity: str, side: Side, records: Sequence[tuple[str, dict[str, Any]]]
                  ) -> list[Change]:
        """(id, values) pairs read from `side`, in the engine's form."""
        maps = self._maps(entity)
        refs = [r for r in ref_fields(entity_class(entity)) if self.coupled is None or r.target in self.coupled]
        if side == "crm" and maps:
            records = [(i, apply_maps(v, maps, self.policy, to="erp")) for i, v in records]
        if not refs:
            return [Change(i, v) for i, v in records]
        referenced = [[(e, str(v)) for e, v in collect_refs(values, refs)] for _, values in records]
        pairs = {pair for found in referenced for pair in found}
        known: dict[tuple[str, str], int] = {}
        for target in {e for e, _ in pairs}:
            found = self.store.links.link_ids(target, side, [v for e, v in pairs if e == target])
            known.update(((target, k), link_id) for k, link_id in found.items())
        changes = []
        for (record_id, values), refers in zip(records, referenced, strict=True):
            mapped = map_refs(values, refs, lambda e, v: known.get((e, str(v)), v))
            changes.append(Change(record_id, mapped, tuple(p for p in refers if p not in known)))
        return changes

    # --- the engine -> a side -------------------------------------------------------------

    def outgoing(self, entity: str, side: Side, values: Mapping[str, Any]) -> dict[str, Any]:
        """Engine form -> what `side` stores: its ids for references, its vocabulary."""
        return self.outgoing_many(entity, side, [values])[0]

    def outgoing_many(self, entity: str, side: Side, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """`outgoing` for a batch, with one link lookup for all its references."""
        refs = ref_fields(entity_class(entity))
        maps = self._maps(entity) if side == "crm" else {}
        if not refs and not maps:
            return [dict(v) for v in rows]
        out = [v if isinstance(v, dict) else dict(v) for v in rows]  # mapping below copies each
        if refs:
            link_ids = [v for row in out for _, v in collect_refs(row, refs) if isinstance(v, int)]
            ids = self.store.links.ids_on(side, link_ids) if link_ids else {}
            out = [map_refs(row, refs, lambda e, v: ids.get(v, v) if isinstance(v, int) else v)
                   for row in out]
        if maps:
            out = [apply_maps(row, maps, self.policy, to="crm") for row in out]
        return out

    def _maps(self, entity: str) -> dict[str, Any]:
        return {n: r.map for n, r in self.policy.rules(entity).fields.items() if r.map}


__all__ = ["Translator"]
