"""The three-way planner: for each change, diff against the last-synced snapshot and decide
per field — propagate, revert (a non-owner changed an owned field), conflict (both sides
changed a field either may change), or skip (nothing new, e.g. the echo of our own write).

Pure: no I/O. The sync runner gathers links, snapshots and target values and hands them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from koppel.config.policy import EntityRules, FieldRule, Policy, Side, other
from koppel.engine.plan import Conflict, Create, Delete, Hold, Plan, Update, Violation
from koppel.model import entity_class
from koppel.store import LinkRow

_MISSING = object()


@dataclass
class Scope:
    """What the planner knows about one entity flowing from one side."""

    entity: str
    source: Side
    policy: Policy
    readable: Mapping[Side, frozenset[str]]
    writable: Mapping[Side, frozenset[str]]
    suppress_echo: bool = True
    triggered: set[str] = field(default_factory=set)
    _creatable: Creatable | None = field(default=None, init=False, repr=False)

    @cached_property
    def target(self) -> Side:
        return other(self.source)

    @cached_property
    def rules(self) -> EntityRules:
        return self.policy.rules(self.entity)

    def field_rules(self, record_id: str) -> dict[str, FieldRule]:
        if not self.policy.has_overrides:
            return self.rules.fields
        return self.policy.field_rules(self.entity, self.source, record_id)

    def creatable(self, record_id: str) -> Creatable:
        """Every non-local field the target can store, and the policy defaults among them."""
        if not self.policy.has_overrides and self._creatable is not None:
            return self._creatable
        writable = self.writable[self.target]
        rules = {name: rule for name, rule in self.field_rules(record_id).items()
                 if rule.direction != "none" and name in writable}
        found = Creatable(tuple(rules), tuple((n, r.default) for n, r in rules.items() if r.default is not None))
        if not self.policy.has_overrides:
            self._creatable = found
        return found


@dataclass(frozen=True)
class Creatable:
    """The fields a create carries (in the policy's order) and (field, default) where the policy
    has a default for an empty value."""

    names: tuple[str, ...]
    defaults: tuple[tuple[str, Any], ...]


@dataclass
class Change:
    """One changed record in the engine's form; `missing` lists references not coupled yet."""

    source_id: str
    values: dict[str, Any]
    missing: tuple[tuple[str, str], ...] = ()  # (entity, id in the source system)

    @property
    def waits_for(self) -> str:
        entity, ref = self.missing[0]
        return f"waits for {entity} {ref} to be coupled"


def plan_batch(scope: Scope, changes: list[Change], links: Mapping[str, LinkRow],
               current: Mapping[int, Mapping[str, Any]] | None = None,
               open_conflicts: set[tuple[int, str]] | None = None) -> Plan:
    """Plan a batch of changes from `scope.source` against their links."""
    plan = Plan()
    for change in changes:
        link = links.get(change.source_id)
        if link is None:
            _plan_new(scope, change, plan)
        else:
            _plan_linked(scope, change, link, (current or {}).get(link.id), open_conflicts or set(), plan)
    return plan


def _plan_new(scope: Scope, change: Change, plan: Plan) -> None:
    rules, source = scope.rules, scope.source
    if source not in rules.create:
        if rules.owner == scope.target:
            plan.violations.append(Violation(scope.entity, source, change.source_id, None,
                                             "created", f"only {scope.target} creates {scope.entity}"))
        plan.skipped += 1
        return
    trigger = rules.coupling_trigger
    if (source == "crm" and trigger != "always" and change.source_id not in scope.triggered):
        plan.holds.append(Hold(scope.entity, source, change.source_id,
                               f"waits for its coupling trigger ({trigger})", waiting=False))
        return
    if not _wanted(scope, change.values):
        plan.skipped += 1
        return
    if change.missing:
        plan.holds.append(Hold(scope.entity, source, change.source_id, change.waits_for, waiting=True,
                               missing=change.missing))
        return
    plan.creates.append(Create(scope.entity, source, change.source_id, scope.target,
                               creation_values(scope, change), natural_keys(scope, change.values)))


def _wanted(scope: Scope, values: Mapping[str, Any]) -> bool:
    """Does a new record pass the entity's `create_when` filter (e.g. only accepted quotes)?"""
    when = scope.rules.create_when
    return not when or all(values.get(name) in allowed for name, allowed in when.items())


def creation_values(scope: Scope, change: Change) -> dict[str, Any]:
    """Every non-local field the target can store, with policy defaults filled in."""
    fields = scope.creatable(change.source_id)
    get = change.values.get
    values = {name: get(name) for name in fields.names}
    for name, default in fields.defaults:
        if values[name] is None:
            values[name] = default
    return values


def natural_keys(scope: Scope, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Natural-key candidates with every part present, in the policy's order."""
    keys = []
    get = values.get
    for key in scope.rules.match:
        if len(key) == 1:  # the usual key: one field (a number, a VAT id, an email)
            value = get(key[0])
            if value is not None and value != "":
                keys.append({key[0]: value})
            continue
        parts = tuple(map(get, key))
        if None not in parts and "" not in parts:
            keys.append(dict(zip(key, parts, strict=True)))
    return keys


def _plan_linked(scope: Scope, change: Change, link: LinkRow, current: Mapping[str, Any] | None,
                 open_conflicts: set[tuple[int, str]], plan: Plan) -> None:
    source, target = scope.source, scope.target
    base = link.snapshot
    forward: dict[str, Any] = {}
    back: dict[str, Any] = {}
    snapshot = dict(base)
    for name, rule in scope.field_rules(change.source_id).items():
        if rule.direction == "none" or name not in scope.readable[source]:
            continue
        new = change.values.get(name)
        old = base.get(name, _MISSING)
        if scope.suppress_echo and (new == old or (new is None and old is _MISSING)):
            continue
        if rule.once:
            _flag_once(scope, change, link, name, rule, new, snapshot, plan)
            continue
        if rule.flows(source):
            if (link.id, name) in open_conflicts:
                continue
            theirs = current.get(name, _MISSING) if current is not None else _MISSING
            if rule.direction == "both" and theirs is not _MISSING and theirs != old and theirs != new:
                erp, crm = (new, theirs) if source == "erp" else (theirs, new)
                plan.conflicts.append(Conflict(scope.entity, link.id, name, _plain(old), erp, crm))
                continue
            snapshot[name] = new
            if name in scope.writable[target] and not (theirs is not _MISSING and theirs == new):
                forward[name] = new
        elif old is not _MISSING and name in scope.writable[source] and name in scope.readable[target]:
            back[name] = old
            plan.violations.append(Violation(scope.entity, source, change.source_id, name, new, old))
    _emit_updates(scope, change, link, forward, back, snapshot, plan)


def _flag_once(scope: Scope, change: Change, link: LinkRow, name: str, rule: FieldRule, new: Any,
               snapshot: dict[str, Any], plan: Plan) -> None:
    """A field handed over once (a quote's lines): the owner's later change is reported, not applied;
    the other system may keep its own version (the ERP reprices an order)."""
    if rule.owner != scope.source:
        return
    plan.violations.append(Violation(scope.entity, scope.source, change.source_id, name, new,
                                      f"not applied: {scope.target} keeps the version handed over"))
    snapshot[name] = new


def _emit_updates(scope: Scope, change: Change, link: LinkRow, forward: dict[str, Any],
                  back: dict[str, Any], snapshot: dict[str, Any], plan: Plan) -> None:
    if change.missing and forward:
        plan.holds.append(Hold(scope.entity, scope.source, change.source_id, change.waits_for, waiting=True,
                               missing=change.missing))
        return
    if forward:
        plan.updates.append(Update(scope.entity, link.id, scope.target, link.id_on(scope.target),
                                   forward, scope.source, change.source_id))
    if back:
        plan.updates.append(Update(scope.entity, link.id, scope.source, change.source_id, back,
                                   scope.source, change.source_id, revert=True))
    if snapshot != link.snapshot:
        plan.snapshots[link.id] = snapshot
    if not (forward or back or snapshot != link.snapshot):
        plan.skipped += 1


def plan_deletes(scope: Scope, deleted: list[str], links: Mapping[str, LinkRow]) -> Plan:
    """Deleted in `source`: propagate, restore from the owner, or just uncouple, by policy."""
    plan = Plan()
    rules = scope.rules
    for source_id in deleted:
        link = links.get(source_id)
        if link is None:
            continue
        if scope.source in rules.delete:
            plan.deletes.append(Delete(scope.entity, link.id, scope.target, link.id_on(scope.target),
                                       scope.source, source_id))
        else:
            plan.unlinks.append(link.id)
            if rules.owner == scope.target:
                plan.restores.append(link.id_on(scope.target))
                plan.violations.append(Violation(scope.entity, scope.source, source_id, None,
                                                  "deleted", f"restored from {scope.target}"))
    return plan


def are_distinct(entity: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Do two records differ in a field that tells records apart (a VAT id, a customer number)?
    Compared without spaces, dots and case: "DE 123.456.789" is "de123456789"."""
    for name in entity_class(entity).distinct_fields:
        mine, theirs = _compact(a.get(name)), _compact(b.get(name))
        if mine and theirs and mine != theirs:
            return True
    return False


def _compact(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isalnum()).casefold()


def plan_merge(scope: Scope, create: Create, theirs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A new record matched an existing one by natural key: merge them by ownership.

    Returns (values for the target, values for the source, the shared snapshot).
    """
    to_target: dict[str, Any] = {}
    to_source: dict[str, Any] = {}
    snapshot: dict[str, Any] = {}
    for name, rule in scope.field_rules(create.source_id).items():
        if rule.direction == "none" or name not in create.values:
            continue
        mine, their = create.values[name], theirs.get(name)
        winner_is_target = rule.owner == scope.target and name in scope.readable[scope.target]
        value = their if winner_is_target else mine
        snapshot[name] = value
        if value != their and name in scope.writable[scope.target]:
            to_target[name] = value
        if value != mine and name in scope.writable[scope.source]:
            to_source[name] = value
    return to_target, to_source, snapshot


def _plain(value: Any) -> Any:
    return None if value is _MISSING else value
