"""What the planner decides and the executor applies: plain data, printable for --dry-run.

Values are canonical JSON in the ERP's vocabulary; references hold link ids (ints) until the
executor turns them into the target system's ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from koppel.config.policy import Side


@dataclass  # not frozen: one is made per new record, and a frozen one costs twice as much
class Create:
    """Create the record in `target`; couple it to `source_id` right after."""

    entity: str
    source: Side
    source_id: str
    target: Side
    values: dict[str, Any]
    keys: list[dict[str, Any]]  # natural-key candidates, tried before creating
    #: what is written when it differs from what is synced (a quote's lines resolved to ERP
    #: products): the snapshot keeps `values`, the record as its source holds it
    write_values: dict[str, Any] | None = None


@dataclass(frozen=True)
class Merge:
    """A new record the target holds already (the same natural key, or koppel's reference of a
    create whose answer was lost): couple the two, each side getting what the other owns.
    `refused`: why they cannot be coupled (the target's record is coupled to another one)."""

    create: Create
    target_id: str
    to_target: dict[str, Any]
    to_source: dict[str, Any]
    snapshot: dict[str, Any]
    refused: str | None = None


@dataclass(frozen=True)
class Update:
    """Write changed fields to a coupled record; `revert` writes the owner's value back."""

    entity: str
    link_id: int
    target: Side
    target_id: str
    values: dict[str, Any]
    source: Side
    source_id: str
    revert: bool = False


@dataclass(frozen=True)
class Delete:
    entity: str
    link_id: int
    target: Side
    target_id: str
    source: Side
    source_id: str


@dataclass(frozen=True)
class Hold:
    """Not propagated yet: waits for a coupling trigger or for a record it references."""

    entity: str
    source: Side
    source_id: str
    reason: str
    waiting: bool  # True: retried each run (a dependency); False: waits for a trigger
    missing: tuple[tuple[str, str], ...] = ()  # the uncoupled references it waits for


@dataclass(frozen=True)
class Conflict:
    entity: str
    link_id: int
    field: str
    base: Any
    erp_value: Any
    crm_value: Any


@dataclass(frozen=True)
class Violation:
    """A system changed (or created, or deleted) what it does not own."""

    entity: str
    system: Side
    record_id: str
    field: str | None
    attempted: Any
    restored: Any


@dataclass
class Plan:
    """Everything to do for one batch of changes from one side."""

    creates: list[Create] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    snapshots: dict[int, dict[str, Any]] = field(default_factory=dict)  # link id -> new snapshot
    unlinks: list[int] = field(default_factory=list)
    restores: list[str] = field(default_factory=list)  # owner ids to copy back after a delete
    restoring: Plan | None = None  # the owner's copies of `restores`, planned from the owner's side
    skipped: int = 0

    @property
    def empty(self) -> bool:
        """Nothing to do: every record of the batch was skipped (echoes, nothing new)."""
        return not (self.creates or self.merges or self.updates or self.deletes or self.holds or self.conflicts
                    or self.violations or self.snapshots or self.unlinks or self.restores or self.restoring)

    def extend(self, other: Plan) -> None:
        for name in ("creates", "merges", "updates", "deletes", "holds", "conflicts", "violations",
                     "unlinks", "restores"):
            getattr(self, name).extend(getattr(other, name))
        self.snapshots.update(other.snapshots)
        self.skipped += other.skipped

    def lines(self) -> list[str]:
        """One human-readable line per action, for --dry-run."""
        out = [f"create {c.entity} in {c.target} from {c.source}:{c.source_id} "
               f"({len(c.values)} fields)" for c in self.creates]
        out += [f"{'refuse' if m.refused else 'match'} {m.create.entity} {m.create.source}:{m.create.source_id} "
                f"with {m.create.target}:{m.target_id}" + (f" ({m.refused})" if m.refused else "")
                for m in self.merges]
        out += [f"{'revert' if u.revert else 'update'} {u.entity} {u.target}:{u.target_id} "
                f"{sorted(u.values)}" for u in self.updates]
        out += [f"delete {d.entity} {d.target}:{d.target_id} (deleted in {d.source})"
                for d in self.deletes]
        out += [f"hold {h.entity} {h.source}:{h.source_id}: {h.reason}" for h in self.holds]
        out += [f"conflict {c.entity} link {c.link_id} field {c.field}: erp={c.erp_value!r} "
                f"crm={c.crm_value!r}" for c in self.conflicts]
        out += [f"violation {v.entity} {v.system}:{v.record_id} {v.field}: {v.attempted!r} "
                f"-> {v.restored!r}" for v in self.violations]
        return out + (self.restoring.lines() if self.restoring else [])
