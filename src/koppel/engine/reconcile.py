"""Reconciliation: compare both systems entity by entity against the links and report drift.

Each line says what is wrong (missing on one side, not coupled, a value that disagrees with
the policy) and the action that repairs it; `apply` carries the actions out through the
same engine paths a sync uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from koppel.config.policy import Side, other
from koppel.connectors.base import WriteOp
from koppel.engine import writes
from koppel.engine.sync import SIDES, Engine


@dataclass(frozen=True)
class Drift:
    entity: str
    kind: str  # missing | uncoupled | differs
    side: Side  # where the problem shows
    record_id: str
    detail: str
    action: str


def reconcile(engine: Engine, entities: Sequence[str] | None = None) -> list[Drift]:
    """The drift report for the given entities (all synced ones by default)."""
    report: list[Drift] = []
    for entity in engine.entities(entities):
        report += _entity_drift(engine, entity)
    return report


def _read_all(engine: Engine, entity: str, side: Side) -> dict[str, dict[str, Any]]:
    records = [r for batch in engine.connectors[side].read_changes(entity, None) for r in batch.records]
    changes = engine.translator.records(entity, side, records)
    return {c.source_id: c.values for c in changes}


def _entity_drift(engine: Engine, entity: str) -> list[Drift]:
    values = {side: _read_all(engine, entity, side) for side in SIDES}
    links = engine.store.links.all(entity)
    drift: list[Drift] = []
    coupled: dict[Side, set[str]] = {"erp": set(), "crm": set()}
    for link in links:
        present = {side: link.id_on(side) in values[side] for side in SIDES}
        for side in SIDES:
            coupled[side].add(link.id_on(side))
            if not present[side] and present[other(side)]:
                drift.append(Drift(entity, "missing", side, link.id_on(side),
                                   f"coupled to {other(side)}:{link.id_on(other(side))}",
                                   f"sync {other(side)}:{link.id_on(other(side))} again"))
        if all(present.values()):
            drift += _field_drift(engine, entity, link.erp_id, link.crm_id, values)
    held = {(e.source, e.source_id) for e in engine.store.errors.list("held") if e.entity == entity}
    for side in SIDES:
        for record_id in values[side].keys() - coupled[side]:
            if (side, record_id) not in held and side in engine.policy.rules(entity).create:
                drift.append(Drift(entity, "uncoupled", side, record_id, "no counterpart",
                                   f"sync {side}:{record_id}"))
    return drift


def _field_drift(engine: Engine, entity: str, erp_id: str, crm_id: str,
                 values: dict[Side, dict[str, dict[str, Any]]]) -> list[Drift]:
    scope = engine.scope(entity, "erp")
    erp, crm = values["erp"][erp_id], values["crm"][crm_id]
    out = []
    for name, rule in scope.field_rules(erp_id).items():
        readable = all(name in scope.readable[s] for s in SIDES)
        if rule.direction in ("none", "once") or not readable or erp.get(name) == crm.get(name):
            continue
        winner: Side = "crm" if rule.owner == "crm" else "erp"
        loser = other(winner)
        winner_id, loser_id = (erp_id, crm_id) if winner == "erp" else (crm_id, erp_id)
        out.append(Drift(entity, "differs", loser, loser_id,
                         f"{name}: erp={erp.get(name)!r} crm={crm.get(name)!r}",
                         f"write {winner}'s {name} to {loser}:{loser_id} (from {winner}:{winner_id})"))
    return out


def apply(engine: Engine, drift: Sequence[Drift]) -> Counter[str]:
    """Repair: re-sync the records concerned; differing fields get the owner's value."""
    stats: Counter[str] = Counter()
    executor = engine.executor(None)
    for line in drift:
        if line.kind == "differs":
            _repair_field(engine, line, stats)
        else:
            side = line.side if line.kind == "uncoupled" else other(line.side)
            record = line.record_id if line.kind == "uncoupled" else line.detail.rsplit(":", 1)[1]
            if line.kind == "missing":
                engine.store.links.delete(link.id for link in engine.store.links.by_ids(
                    line.entity, side, [record]).values())
            engine.sync_ids(line.entity, side, [record], executor, stats)
    return stats


def _repair_field(engine: Engine, line: Drift, stats: Counter[str]) -> None:
    field = line.detail.split(":", 1)[0]
    winner = other(line.side)
    link = engine.store.links.by_ids(line.entity, line.side, [line.record_id])[line.record_id]
    executor = engine.executor(None)
    [record] = executor.call(winner, engine.connectors[winner].read, line.entity, [link.id_on(winner)])
    value = engine.translator.records(line.entity, winner, [record])[0]
    new = value.values.get(field)
    op = WriteOp("repair", engine.translator.outgoing(line.entity, line.side, {field: new}), line.record_id)
    [outcome] = writes.write(engine, line.side, line.entity, [op], actor="reconcile", origin="reconcile",
                             snapshots={line.record_id: {field: new}})
    if outcome.ok:
        stats["repaired"] += 1
    else:
        stats["errors"] += 1
