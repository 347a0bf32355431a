"""Before a record is created, the target may hold it already: a record with the same natural
key (tried depth by depth: number, then VAT id, then name and postcode …), or, for an entity
without one, the record an earlier try made (a lost answer, a killed run), found by the
reference of its source that koppel gave it. Such pairs become merges in the plan instead of
creates. This is planning: it reads the target, it never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from koppel.connectors.base import References
from koppel.engine.plan import Create, Merge, Plan
from koppel.engine.planner import Scope, are_distinct, plan_merge

if TYPE_CHECKING:
    from koppel.engine.executor import Executor


def match(executor: Executor, scope: Scope, plan: Plan) -> None:
    """Turn the plan's creates that the target holds already into merges."""
    if not plan.creates:
        return
    hits, _ = find(executor, scope, plan.creates)
    merges, apart = merges_for(executor, scope, hits)
    merged = {m.create.source_id for m in merges}
    plan.merges += merges
    plan.creates = [c for c in plan.creates if c.source_id not in merged or c in apart]


def find(executor: Executor, scope: Scope, creates: Sequence[Create]) -> tuple[list[tuple[Create, str]], list[Create]]:
    """The creates whose record the target holds already, with its id; and the rest."""
    hits: list[tuple[Create, str]] = []
    pending, rest = [c for c in creates if c.keys], [c for c in creates if not c.keys]
    depth = 0
    while pending:
        keyed = [c for c in pending if len(c.keys) > depth]
        rest += [c for c in pending if len(c.keys) <= depth]
        if not keyed:
            break
        keys = executor.translate.outgoing_many(scope.entity, scope.target, [c.keys[depth] for c in keyed])
        found = executor.call(scope.target, executor.connectors[scope.target].find, scope.entity, keys)
        hits += [(c, i) for c, i in zip(keyed, found, strict=True) if i]
        pending = [c for c, i in zip(keyed, found, strict=True) if not i]
        depth += 1
    by_reference, rest = _by_reference(executor, scope, rest)
    return hits + by_reference, rest


def references(scope: Scope, creates: Sequence[Create]) -> list[str]:
    """koppel's key of each create's source, kept by a target that has a field for it."""
    source = scope.source
    return [f"{source}:{c.source_id}" for c in creates]


def _by_reference(executor: Executor, scope: Scope, creates: list[Create]
                  ) -> tuple[list[tuple[Create, str]], list[Create]]:
    connector = executor.connectors[scope.target]
    keyless = [c for c in creates if not c.keys]
    if not keyless or not isinstance(connector, References):
        return [], creates
    found = executor.call(scope.target, connector.find_references, scope.entity, references(scope, keyless))
    if found is None:
        return [], creates
    ids = {c.source_id: i for c, i in zip(keyless, found, strict=True) if i}
    return [(c, ids[c.source_id]) for c in creates if c.source_id in ids], [c for c in creates if c.source_id not in ids]


def merges_for(executor: Executor, scope: Scope, hits: Sequence[tuple[Create, str]]
               ) -> tuple[list[Merge], list[Create]]:
    """The merge of each pair, by ownership; and the creates whose record differs in a field that
    tells records apart (or that a person kept apart): they are created after all."""
    if not hits:
        return [], []
    store = executor.store
    apart_pairs = store.proposals.kept_apart(scope.entity, [_pair(scope, c, i) for c, i in hits])
    taken = store.links.by_ids(scope.entity, scope.target, [i for _, i in hits])
    theirs = {r.id: r for r in executor.call(scope.target, executor.connectors[scope.target].read,
                                             scope.entity, [i for _, i in hits])}
    merges: list[Merge] = []
    apart: list[Create] = []
    for create, target_id in hits:
        if target_id in taken or target_id not in theirs:
            merges.append(Merge(create, target_id, {}, {}, {}, refused=(
                f"matches {scope.target}:{target_id}, which is already coupled to another record")))
            continue
        values = executor.translate.values(scope.entity, scope.target, theirs[target_id].canonical())
        if are_distinct(scope.entity, create.values, values) or _pair(scope, create, target_id) in apart_pairs:
            apart.append(create)
            continue
        merges.append(Merge(create, target_id, *plan_merge(scope, create, values)))
    return merges, apart


def _pair(scope: Scope, create: Create, target_id: str) -> tuple[str, str]:
    ids = {scope.source: create.source_id, scope.target: target_id}
    return ids["erp"], ids["crm"]
