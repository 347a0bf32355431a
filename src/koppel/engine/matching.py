"""The first coupling of two populated systems: pairs of existing, uncoupled records that are the
same customer (or contact), each with its reason and a confidence, for a person to confirm.

Rules, strongest first: the same customer number, the same VAT id, the same e-mail, the same
normalised name and postcode. A pair whose VAT ids (or customer numbers) differ is never
proposed (`Entity.distinct_fields`). Each record is in at most one proposal: its strongest.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from koppel.config.policy import Side
from koppel.engine import matcher
from koppel.engine.plan import Create, Plan
from koppel.engine.planner import are_distinct, creation_values
from koppel.engine.sync import Engine
from koppel.errors import UsageError
from koppel.store import AuditEntry, ProposalRow

Values = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    reason: str
    confidence: float
    key: Callable[[Values], str | None]


def _clean(value: Any) -> str | None:
    text = re.sub(r"[\W_]+", " ", str(value or "").casefold()).strip()
    return text or None


def _vat(values: Values) -> str | None:
    return re.sub(r"[^0-9A-Za-z]", "", str(values.get("vat_id") or "")).upper() or None


def _number(values: Values) -> str | None:
    return str(values.get("number") or "").strip().casefold() or None


def _email(values: Values) -> str | None:
    return str(values.get("email") or "").strip().lower() or None


def _name_postcode(values: Values) -> str | None:
    name = _clean(values.get("name"))
    postcode = re.sub(r"\s+", "", str(values.get("postcode") or "")).upper()
    return f"{name}|{postcode}" if name and postcode else None


def _person(values: Values) -> str | None:
    first, last = _clean(values.get("first_name")), _clean(values.get("last_name"))
    return f"{first}|{last}" if first and last else None


RULES: dict[str, tuple[Rule, ...]] = {
    "account": (Rule("same customer number", 1.0, _number), Rule("same VAT id", 0.95, _vat),
                Rule("same e-mail", 0.8, _email), Rule("same name and postcode", 0.7, _name_postcode)),
    "contact": (Rule("same e-mail", 0.9, _email), Rule("same first and last name", 0.6, _person)),
}
@dataclass(frozen=True)
class Candidate:
    entity: str
    erp_id: str
    crm_id: str
    reason: str
    confidence: float


def candidates(entity: str, erp: Mapping[str, Values], crm: Mapping[str, Values]) -> list[Candidate]:
    """Pure: the proposals for two sets of uncoupled records (id -> canonical values)."""
    if entity not in RULES:
        raise UsageError(f"koppel cannot match {entity} records",
                         hint=f"choose from {', '.join(RULES)}")
    found: list[Candidate] = []
    used: set[tuple[Side, str]] = set()
    for rule in RULES[entity]:
        by_key: dict[str, list[str]] = {}
        for crm_id, values in crm.items():
            if ("crm", crm_id) not in used and (key := rule.key(values)):
                by_key.setdefault(key, []).append(crm_id)
        for erp_id, values in erp.items():
            key = rule.key(values)
            if ("erp", erp_id) in used or not key or len(by_key.get(key, ())) != 1:
                continue  # no twin, or several: a person must look
            crm_id = by_key[key][0]
            if ("crm", crm_id) in used or are_distinct(entity, values, crm[crm_id]):
                continue
            found.append(Candidate(entity, erp_id, crm_id, rule.reason, rule.confidence))
            used.update({("erp", erp_id), ("crm", crm_id)})
    return found


def propose(engine: Engine, entities: Sequence[str] | None = None) -> list[ProposalRow]:
    """Read both systems, store the new proposals, return every open one."""
    for entity in entities or ["account", "contact"]:
        if entity not in engine.entities():
            continue
        erp, crm = (_uncoupled(engine, entity, side) for side in ("erp", "crm"))
        for c in candidates(entity, erp, crm):
            engine.store.proposals.add(entity, c.erp_id, c.crm_id, c.reason, c.confidence)
    return [p for p in engine.store.proposals.list() if not entities or p.entity in entities]


def _uncoupled(engine: Engine, entity: str, side: Side) -> dict[str, Values]:
    executor = engine.executor(None)
    records = {r.id: r.canonical() for batch in
               executor.each(side, lambda: engine.connectors[side].read_changes(entity, None, batch_size=500))
               for r in batch.records}
    coupled = engine.store.links.by_ids(entity, side, list(records))
    return {i: v for i, v in records.items() if i not in coupled}


def couple(engine: Engine, proposal: ProposalRow, actor: str) -> Counter[str]:
    """Couple the pair: a link and a snapshot, the owner's values written by policy. For a
    unique-name collision, the copy koppel made under another name is deleted first."""
    stats: Counter[str] = Counter()
    executor = engine.executor(None)
    if proposal.copy_id and proposal.copy_side:
        _drop_copy(engine, proposal)
    scope = engine.scope(proposal.entity, "erp")
    found = executor.call("erp", engine.connectors["erp"].read, proposal.entity, [proposal.erp_id])
    if not found:
        raise UsageError(f"erp:{proposal.erp_id} no longer exists", hint="keep the pair apart instead")
    record = found[0]
    [change] = engine.translator.records(proposal.entity, "erp", [record])
    create = Create(proposal.entity, "erp", proposal.erp_id, "crm", creation_values(scope, change), [])
    merges, _ = matcher.merges_for(executor, scope, [(create, proposal.crm_id)])
    executor.apply(scope, Plan(merges=merges), stats)
    if stats["matched"]:
        engine.store.proposals.decide(proposal.id, "coupled", actor)
        engine.store.proposals.close_of(proposal.entity, proposal.erp_id, proposal.crm_id, actor)
        for side in ("erp", "crm"):
            engine.store.errors.resolve_for(proposal.entity, side, [proposal.id_on(side)])
        engine.store.audit.add([AuditEntry(actor=actor, action="couple", entity=proposal.entity,
                             record=f"erp:{proposal.erp_id}", after={"crm": proposal.crm_id},
                             origin=f"proposal:{proposal.id}")])
    return stats


def _drop_copy(engine: Engine, proposal: ProposalRow) -> None:
    side: Side = "crm" if proposal.copy_side == "crm" else "erp"
    link = engine.store.links.by_ids(proposal.entity, side, [proposal.copy_id or ""])
    engine.store.links.delete([row.id for row in link.values()])
    engine.connectors[side].delete(proposal.entity, [proposal.copy_id or ""])


def keep_apart(engine: Engine, proposal: ProposalRow, actor: str) -> None:
    """Two different records: what waited for the decision goes on as usual."""
    engine.store.proposals.decide(proposal.id, "apart", actor)
    engine.store.audit.add([AuditEntry(actor=actor, action="keep apart", entity=proposal.entity,
                         record=f"erp:{proposal.erp_id}", after={"crm": proposal.crm_id},
                         origin=f"proposal:{proposal.id}")])
    for side in ("erp", "crm"):
        if not engine.store.links.by_ids(proposal.entity, side, [proposal.id_on(side)]):
            engine.sync_record(side, proposal.entity, proposal.id_on(side))


def apply(engine: Engine, min_confidence: float, actor: str) -> Iterator[tuple[ProposalRow, Counter[str]]]:
    """Couple every open proposal at or above `min_confidence` (collisions wait for a person)."""
    for proposal in engine.store.proposals.list():
        if proposal.confidence >= min_confidence and not proposal.copy_id:
            yield proposal, couple(engine, proposal, actor)
