"""Erasing a person (GDPR): the contact is anonymised (or deleted, as `[policy.contact] erasure`
says) in both systems, and koppel's own copies of it are scrubbed. The audit keeps only that an
erasure happened, by whom and when."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from koppel.config.policy import Side, other
from koppel.connectors.base import WriteOp
from koppel.engine import writes
from koppel.engine.sync import Engine
from koppel.errors import UsageError

#: what is left of a person once erased: no name, no way to reach them
ANONYMOUS: dict[str, dict[str, Any]] = {
    "contact": {"first_name": "(erased)", "last_name": "(erased)", "email": None, "phone": None, "title": None,
                "address": None, "invoice_recipient": False},
}


@dataclass
class Erased:
    entity: str
    ids: dict[str, str]
    how: str
    scrubbed: dict[str, int] = field(default_factory=dict)


def erase(engine: Engine, entity: str, side: Side, record_id: str, actor: str) -> Erased:
    if entity not in ANONYMOUS:
        raise UsageError(f"koppel erases people, not {entity} records", hint="erase a contact: contact crm:ID")
    link = engine.store.links.by_ids(entity, side, [record_id]).get(record_id)
    ids: dict[str, str] = {side: record_id, **({other(side): link.id_on(other(side))} if link else {})}
    executor = engine.executor(None)
    if not executor.call(side, engine.connectors[side].read, entity, [record_id]):
        raise UsageError(f"{side} has no {entity} {record_id}", hint="give the id as the system shows it")
    how = engine.policy.rules(entity).erasure
    for system, target in ids.items():
        sys: Side = "erp" if system == "erp" else "crm"
        if how == "delete":
            [outcome] = executor.call(sys, engine.connectors[sys].delete, entity, [target])
        else:
            values = engine.translator.outgoing(entity, sys, ANONYMOUS[entity])
            [outcome] = writes.write(engine, sys, entity, [WriteOp(target, values, target)], actor=actor,
                                     origin="erasure")
        if outcome.error is not None:
            raise outcome.error
    snapshot = {**link.snapshot, **ANONYMOUS[entity]} if link and how != "delete" else None
    scrubbed = engine.store.erasure.scrub(entity, ids, link.id if link else None, snapshot, actor)
    if link and how == "delete":
        engine.store.links.delete([link.id])
    return Erased(entity, ids, how, scrubbed)
