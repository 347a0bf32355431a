"""What each system must hold before koppel can store there what the policy sends it, and
`koppel setup`, which creates what is missing.

A requirement is *needed* when the policy writes a field it stores: a sync refuses to start while
a needed requirement is missing, because the system would drop those values without a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from koppel.config.policy import Policy, Side, other
from koppel.connectors.base import Connector, Provisioning, Requirement
from koppel.errors import UsageError

SIDES: tuple[Side, Side] = ("erp", "crm")


@dataclass(frozen=True)
class SetupItem:
    side: Side
    requirement: Requirement
    needed: bool

    @property
    def missing(self) -> bool:
        return not self.requirement.present

    def describe(self) -> str:
        r = self.requirement
        text = f"{self.side}: {r.kind} {r.name} ({r.detail})" if r.detail else f"{self.side}: {r.kind} {r.name}"
        if not r.present and r.hint:
            text += f" — {r.hint}"
        return text


class NotProvisioned(UsageError):
    """A system lacks what it needs to store values the policy writes to it."""


def written_fields(policy: Policy, entities: Sequence[str], side: Side) -> set[str]:
    """Every "entity" and "entity.field" the policy may write to `side`."""
    written: set[str] = set()
    for entity in entities:
        rules = policy.rules(entity)
        creates_here = other(side) in rules.create
        for name, rule in rules.fields.items():
            if rule.direction == "none":
                continue
            if creates_here or rule.flows(other(side)):
                written.update({entity, f"{entity}.{name}"})
    return written


def survey(connectors: dict[Side, Connector], policy: Policy, entities: Sequence[str]) -> list[SetupItem]:
    """Each system's requirements, present or not, and whether this policy needs them (reads only)."""
    items = []
    for side in SIDES:
        connector = connectors[side]
        if not isinstance(connector, Provisioning):
            continue
        written = written_fields(policy, entities, side)
        items += [SetupItem(side, r, bool(r.stores & written)) for r in connector.requirements()]
    return items


def setup(connectors: dict[Side, Connector], policy: Policy, entities: Sequence[str], *,
          dry_run: bool = False) -> tuple[list[SetupItem], list[SetupItem]]:
    """Create what is missing and can be created. Returns (before, after): the survey before,
    and the items that were missing, as they stand now (created, or still missing with a hint)."""
    before = survey(connectors, policy, entities)
    if dry_run:
        return before, [i for i in before if i.missing]
    after = []
    for side in SIDES:
        connector = connectors[side]
        missing = [i.requirement for i in before if i.side == side and i.missing]
        if not missing or not isinstance(connector, Provisioning):
            continue
        made = {(r.kind, r.name): r for r in connector.provision(missing)}
        after += [SetupItem(side, made.get((r.kind, r.name), r), i.needed)
                  for i in before if i.side == side and i.missing for r in [i.requirement]]
    return before, after


def require(connectors: dict[Side, Connector], policy: Policy, entities: Sequence[str]) -> None:
    """Refuse to sync while a system cannot store a field the policy writes to it."""
    blocking = [i for i in survey(connectors, policy, entities) if i.needed and i.missing]
    if not blocking:
        return
    lines = "\n".join(f"  {i.describe()}" for i in blocking)
    fixable = any(i.requirement.creatable for i in blocking)
    raise NotProvisioned(
        f"{len(blocking)} thing(s) missing in the systems; they would drop the values koppel writes:\n{lines}",
        hint="run `koppel setup` to create them (`--dry-run` shows what it would do)" if fixable
        else "ask the system's administrator to do what each line says")
