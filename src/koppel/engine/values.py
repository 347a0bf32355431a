"""Pure value transformations between a system's canonical record and the engine's form.

The engine's form is canonical JSON in the ERP's vocabulary (value maps applied) with every
reference replaced by the link id of the referenced record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from koppel.config.policy import Policy, Side
from koppel.model import RefField


def map_refs(values: dict[str, Any], refs: list[RefField], fn: Callable[[str, Any], Any]) -> dict[str, Any]:
    """A copy of `values` with every reference passed through fn(target_entity, value)."""
    if not refs:
        return values
    out = dict(values)
    for ref in refs:
        head = ref.path[0]
        if head not in out or out[head] is None:
            continue
        if len(ref.path) == 1:
            out[head] = fn(ref.target, out[head])
        else:
            sub = ref.path[1]
            out[head] = [({**item, sub: fn(ref.target, item[sub])} if item.get(sub) is not None
                          else item) for item in out[head]]
    return out


def collect_refs(values: Mapping[str, Any], refs: list[RefField]) -> list[tuple[str, Any]]:
    """Every (target entity, referenced id) in `values`."""
    found: list[tuple[str, Any]] = []
    for ref in refs:
        head = values.get(ref.path[0])
        if head is None:
            continue
        if len(ref.path) == 1:
            found.append((ref.target, head))
        else:
            found += [(ref.target, item[ref.path[1]]) for item in head
                      if item.get(ref.path[1]) is not None]
    return found


def apply_maps(values: dict[str, Any], maps: Mapping[str, str], policy: Policy, *, to: Side) -> dict[str, Any]:
    """Translate mapped fields (field -> map name) into `to`'s vocabulary."""
    if not maps:
        return values
    out = dict(values)
    for field, map_name in maps.items():
        if field in out:
            out[field] = policy.map_value(map_name, out[field], to=to)
    return out
