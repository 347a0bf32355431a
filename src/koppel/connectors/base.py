"""The connector contract: a small, batch-first protocol every peer system implements.

A connector speaks one system's API and translates its records to and from the canonical
model. It never touches the link store; the engine owns identity, snapshots and policy.
Values crossing this boundary are canonical records on the way in and canonical JSON values
(`Entity.model_dump(mode="json")`, possibly partial) on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from koppel.errors import KoppelError
from koppel.model import Entity

JsonValues = Mapping[str, Any]


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do natively; the engine falls back where it cannot."""

    modified_since: bool = False
    batch_create: bool = False
    deletes_visible: bool = False
    webhooks: bool = False


@dataclass(frozen=True)
class EntityInfo:
    """One entity as a system supports it: the canonical fields it reads and writes."""

    readable: frozenset[str]
    writable: frozenset[str]
    can_create: bool = True
    can_delete: bool = True
    #: what the system's users call a canonical field, where it is not obvious (a custom field)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteRecord:
    """A record as read from a system: its id there, its canonical content, when it changed."""

    id: str
    record: Entity
    modified_at: datetime | None = None


@dataclass(frozen=True)
class ChangeBatch:
    """Records changed or created since a cursor, ids deleted, and the cursor to resume from."""

    records: Sequence[RemoteRecord]
    deleted: Sequence[str]
    cursor: str


@dataclass(frozen=True)
class WriteOp:
    """Create (id is None) or update one record with canonical JSON values.

    `key` correlates the outcome with the caller's bookkeeping; for an update only the
    changed fields are present.
    """

    key: str
    values: JsonValues
    id: str | None = None
    #: koppel's key of the source record ("crm:ID"), kept by a target that has a field for it
    #: (`References`), so that a create whose answer was lost is found again instead of repeated
    ref: str | None = None


@dataclass(frozen=True)
class WriteOutcome:
    """Result of one write: the record's id in the system, or the error that stopped it."""

    key: str
    id: str | None = None
    error: KoppelError | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Requirement:
    """One thing a system must hold before koppel can store there what the policy sends it:
    a custom field, a relation type, an activated module.

    `stores` names the canonical fields ("entity.field") that are lost without it; `creatable`
    says whether `provision` can make it (a module must be activated by an administrator, as
    `hint` says).
    """

    kind: str
    name: str
    stores: frozenset[str]
    present: bool
    detail: str = ""
    creatable: bool = True
    hint: str = ""


@runtime_checkable
class Provisioning(Protocol):
    """Optional: a connector that knows what it needs in its system and can create it."""

    def requirements(self) -> list[Requirement]:
        """Everything koppel needs in this system, each marked present or not (reads only)."""

    def provision(self, missing: Sequence[Requirement]) -> list[Requirement]:
        """Create the given creatable requirements; return them as they now stand."""


@runtime_checkable
class References(Protocol):
    """Optional: a connector that keeps the `WriteOp.ref` of the records it creates, for the
    entities that have no natural key (a complaint has no number until the ERP gives it one)."""

    def find_references(self, entity: str, refs: Sequence[str]) -> list[str | None] | None:
        """For each ref, the id of the record created with it, or None; None for an entity
        whose records do not keep one."""


@runtime_checkable
class Connector(Protocol):
    """The contract. Batches in, per-record outcomes out; errors sorted by koppel.errors."""

    name: str
    capabilities: Capabilities

    def check(self) -> None:
        """Raise FatalError/AuthError unless the system answers and accepts our credentials."""

    def discover(self) -> Mapping[str, EntityInfo]:
        """The entities this system holds, keyed by canonical entity name."""

    def read_changes(self, entity: str, cursor: str | None, *, batch_size: int = 500
                     ) -> Iterator[ChangeBatch]:
        """Everything changed since `cursor` (None: everything), oldest first, in batches.

        Each batch carries a cursor to resume after it. Reads overlap by a lag window so late
        commits are not missed, and de-duplicate at the boundary so nothing is seen twice.
        """

    def read(self, entity: str, ids: Sequence[str]) -> list[RemoteRecord]:
        """The current content of the given records; missing ids are left out."""

    def find(self, entity: str, keys: Sequence[JsonValues]) -> list[str | None]:
        """For each natural-key value set, the id of the one matching record, or None."""

    def write(self, entity: str, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        """Create or update records; one outcome per op, in order."""

    def delete(self, entity: str, ids: Sequence[str]) -> list[WriteOutcome]:
        """Delete records; one outcome per id, keyed by the id."""

    def close(self) -> None:
        """Release sessions and connections."""
