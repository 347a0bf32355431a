"""The one path for a write that no sync plan made: an order placed from the workspace, a value
tier, a conflict's winner, a repaired field, an erasure.

Like the executor's writes: an update whose own answer was a passing failure is sent again (a
create is sent once; its caller keeps it idempotent), what the system stored is read back and a
value it silently dropped is an error, every write lands in the audit trail, and the snapshot of
a coupled record moves along, so the next sync takes the write for no edit (echo suppression).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from koppel.config.policy import Side
from koppel.connectors.base import WriteOp, WriteOutcome
from koppel.engine.executor import dropped_outcome
from koppel.errors import KoppelError
from koppel.store import AuditEntry

if TYPE_CHECKING:
    from koppel.engine.sync import Engine


def write(engine: Engine, side: Side, entity: str, ops: Sequence[WriteOp], *, actor: str, origin: str,
          snapshots: Mapping[str, Mapping[str, Any]] | None = None) -> list[WriteOutcome]:
    """Write `ops` (in `side`'s own form) to `side`; one outcome per op, in order. `snapshots`:
    per record id on `side`, the engine-form values the write makes the last-synced state."""
    executor = engine.executor(None)
    updates = [op for op in ops if op.id is not None]
    creates = [op for op in ops if op.id is None]
    outcomes = dict(zip((op.key for op in updates), executor.write_updates(side, entity, updates), strict=True))
    outcomes.update(zip((op.key for op in creates), _create_once(engine, side, entity, creates), strict=True))
    done = [(op, outcomes[op.key]) for op in ops if outcomes[op.key].ok and outcomes[op.key].id]
    wrong = executor.verify(entity, side, [(o.id or "", dict(op.values)) for op, o in done])
    for op, o in done:
        if o.id in wrong:
            outcomes[op.key] = dropped_outcome(side, o.id or "", wrong[o.id or ""], key=op.key)
    written = [(op, o) for op, o in done if o.id not in wrong]
    engine.store.audit.add([AuditEntry(actor=actor, action="update" if op.id else "create", entity=entity,
                             record=f"{side}:{o.id}", after=dict(op.values), origin=origin)
                            for op, o in written])
    moved = {o.id or "": snapshots[o.id or ""] for _, o in written if snapshots and o.id in snapshots}
    links = engine.store.links.by_ids(entity, side, list(moved))
    engine.store.links.update_snapshots({link.id: {**link.snapshot, **moved[record_id]}
                                         for record_id, link in links.items()})
    return [outcomes[op.key] for op in ops]


def _create_once(engine: Engine, side: Side, entity: str, creates: list[WriteOp]) -> list[WriteOutcome]:
    if not creates:
        return []
    try:
        return engine.connectors[side].write(entity, creates)
    except KoppelError as exc:
        return [WriteOutcome(op.key, None, exc) for op in creates]
