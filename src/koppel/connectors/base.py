"""The connector contract: a small, batch-first protocol every peer system implements.

A connector speaks one system's API and translates its records to and from the canonical
model. It never touches the link store; the engine owns identity, snapshots and policy.
Values crossing this boundary are canonical records on the way in and canonical JSON values
(`Entity.model_dump(mode="json")`, possibly partial) on the way out.

Beyond the contract a connector may have optional abilities, each a Protocol below with its
own fact types (provisioning, references, related reads, text search, stock, invoice facts,
owners, the company currency). Callers find an ability one way: `isinstance(connector, Ability)`,
and import no connector; `read_related` below is the one way to ask for related records, and
`search_records` the one way to find records by a piece of their name or number.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from koppel.errors import KoppelError
from koppel.model import Entity

JsonValues = Mapping[str, Any]


@dataclass(frozen=True)
class EntityInfo:
    """One entity as a system supports it: the canonical fields it reads and writes."""

    readable: frozenset[str]
    writable: frozenset[str]
    #: what the system's users call a canonical field, where it is not obvious (a custom field)
    labels: Mapping[str, str] = field(default_factory=dict)


class RemoteRecord:
    """A record as read from a system: its id there, its canonical content.

    Made from a validated `record`, or (`RemoteRecord.of`) from the canonical JSON values a
    connector keeps already, validated only when `record` is first asked for: the engine works
    on the values, and knows the echo of its own write by its version, so a load does not
    build a model per record it reads back."""

    __slots__ = ("_kind", "_record", "id", "values", "version")

    def __init__(self, id: str, record: Entity, version: str | None = None,
                 values: JsonValues | None = None) -> None:
        self.id = id
        #: a stamp that changes with every change of the record (a revision counter), where the
        #: system has one: a record read with the stamp koppel's own write left is that write's echo
        self.version = version
        #: `record`'s canonical JSON, where the connector keeps the record in that form already
        #: (it is not copied: read-only); `canonical()` then spares a dump per record
        self.values = values
        self._record: Entity | None = record
        self._kind: type[Entity] | None = None

    @classmethod
    def of(cls, id: str, kind: type[Entity], values: JsonValues,
           version: str | None = None) -> RemoteRecord:
        """A record from canonical JSON `values` that are valid for `kind` (a connector's own
        dump, or one made from it); the model is validated on first use of `record`."""
        made = cls.__new__(cls)
        made.id, made.version, made.values, made._record, made._kind = id, version, values, None, kind
        return made

    @property
    def record(self) -> Entity:
        if self._record is None:
            assert self._kind is not None and self.values is not None
            self._record = self._kind.load(self.values)
        return self._record

    def canonical(self) -> dict[str, Any]:
        """The record's canonical JSON values (`record.model_dump(mode="json")`), a new dict."""
        return dict(self.values) if self.values is not None else self.record.dump()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemoteRecord):
            return NotImplemented
        return (self.id, self.version, self.record) == (other.id, other.version, other.record)

    def __hash__(self) -> int:
        return hash((self.id, self.version))

    def __repr__(self) -> str:
        return f"RemoteRecord(id={self.id!r}, record={self.record!r}, version={self.version!r})"


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
    #: the record's version stamp right after this write, where the system answers it
    version: str | None = None
    #: the record as the system stored it, as canonical JSON values, where its answer to the
    #: write carries it (the engine then verifies the write from it instead of reading it back)
    stored: JsonValues | None = None

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
class FieldReader(Protocol):
    """Optional: a connector whose system reads some fields at a cost (Tryton's company-dependent
    fields, facts computed from other records), and that reads only the fields a caller needs:
    verifying a write reads back what was written, not the whole record."""

    def read_fields(self, entity: str, ids: Sequence[str], fields: Collection[str]) -> list[RemoteRecord]:
        """As `read`, where only the canonical `fields` must hold what the system holds; the
        others may be left empty."""


@runtime_checkable
class RelatedReader(Protocol):
    """Optional: a connector that reads the records related to given ids with its system's own
    filter (a Tryton domain, a REST query parameter), so that a caller asking for one account's
    documents does not read every document of the system."""

    def read_related(self, entity: str, field: str, ids: Sequence[str]) -> list[RemoteRecord]:
        """The records of `entity` whose reference `field` (a canonical field, e.g. "account")
        holds one of `ids`, in no particular order; none for no ids."""


@runtime_checkable
class TextSearch(Protocol):
    """Optional: a connector that finds records by a piece of their name or number with its
    system's own filter (a Tryton domain with `ilike`, a REST list's name parameter), page by
    page, so that a person looking for one customer does not make koppel read every customer."""

    def search(self, entity: str, text: str, *, page_size: int, fields: Collection[str] | None = None
               ) -> Iterator[list[RemoteRecord]]:
        """The records of `entity` whose name or number contains `text`, ignoring case (every
        record for an empty text), in pages of about `page_size` in an order the system keeps;
        each page is read when the caller asks for it, so a caller that has enough stops the
        reading. With `fields`, only those canonical fields must hold what the system holds
        (as `read_fields`)."""


@runtime_checkable
class WriteLimits(Protocol):
    """Optional: a connector whose system cannot take some writes side by side, whoever sends
    them (BottleCRM numbers quotes per day, and two quotes created at once collide). koppel
    holds these caps across all its workers (engine/caps.py)."""

    def write_limits(self) -> Mapping[str, int]:
        """Per entity, how many creates the system takes at once."""


@runtime_checkable
class Connector(Protocol):
    """The contract. Batches in, per-record outcomes out; errors sorted by koppel.errors."""

    name: str

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


# --- optional abilities with their facts ------------------------------------------------------


@dataclass(frozen=True)
class Supply:
    """Goods expected in the warehouse on a date (an incoming move or a purchase request)."""

    on: date
    quantity: Decimal
    source: str  # "move" or "purchase_request"


@dataclass(frozen=True)
class StockFacts:
    """What an ERP knows about one product's availability in one warehouse."""

    product: str
    on_hand: Decimal
    forecast: Decimal  # at the asked date, all planned moves up to it included
    lead_time_days: int | None  # the sale lead time (product, else the configured default)
    supplies: tuple[Supply, ...] = ()


@runtime_checkable
class StockSource(Protocol):
    """An ERP connector that reports availability (R7; the Tryton connector does)."""

    def availability(self, product_ids: Sequence[str], at: date) -> Mapping[str, StockFacts]:
        """Per product id: on hand, forecast at `at`, lead time and the supply still to come."""


@dataclass(frozen=True)
class InvoiceFact:
    """One posted (or paid) customer invoice or credit note."""

    id: str
    number: str | None
    party: str
    party_name: str
    invoice_date: date
    untaxed: Decimal  # company currency, negative for a credit note
    cost: Decimal  # cost of goods at today's cost prices, same sign as the quantities

    @property
    def kind(self) -> str:
        return "credit_note" if self.untaxed < 0 else "invoice"


@runtime_checkable
class InvoiceSource(Protocol):
    """An ERP connector that lists posted invoices in bulk (R9; the Tryton connector does)."""

    def invoice_facts(self, start: date, end: date) -> list[InvoiceFact]:
        """Posted invoices and credit notes dated from `start` to `end`."""


@runtime_checkable
class CompanyFacts(Protocol):
    """An ERP connector that knows its company's currency (the one revenue is counted in)."""

    def company_currency(self) -> str:
        """ISO code of the company currency."""


@runtime_checkable
class OwnerSource(Protocol):
    """A CRM connector that says who owns each account (R9 revenue per owner; BottleCRM does)."""

    def account_owners(self) -> dict[str, str | None]:
        """Account id -> its owner's name (None: nobody), for every account."""


# --- partial and related reads: the system's own way where it has one ----------------------


def read_fields(connector: Connector, entity: str, ids: Sequence[str], fields: Collection[str]
                ) -> list[RemoteRecord]:
    """The records `ids`, holding at least the canonical `fields` (all of them where the
    connector is no `FieldReader`)."""
    if isinstance(connector, FieldReader):
        return connector.read_fields(entity, ids, fields)
    return connector.read(entity, ids)


def read_related(connector: Connector, entity: str, field: str, ids: Sequence[str]) -> list[RemoteRecord]:
    """The records of `entity` whose `field` holds one of `ids`: natively where the connector is
    a `RelatedReader`, else by one full read of the entity (`scan_related`)."""
    if not ids:
        return []
    if isinstance(connector, RelatedReader):
        return connector.read_related(entity, field, ids)
    return scan_related(connector, entity, field, ids)


def scan_related(connector: Connector, entity: str, field: str, ids: Sequence[str]) -> list[RemoteRecord]:
    """The fallback of `read_related`: every record of `entity` read, the related ones kept.
    Connectors call it too for a field their system cannot filter by."""
    wanted = {str(i) for i in ids}
    return [record for batch in connector.read_changes(entity, None) for record in batch.records
            if _refers(record, field, wanted)]


def _refers(record: RemoteRecord, field: str, wanted: set[str]) -> bool:
    value = getattr(record.record, field, None)
    return value is not None and str(value) in wanted


def search_records(connector: Connector, entity: str, text: str, *, page_size: int,
                   fields: Collection[str] | None = None) -> Iterator[list[RemoteRecord]]:
    """The records of `entity` whose name or number contains `text` (ignoring case), page by
    page: natively where the connector is a `TextSearch`, else from one full read of the
    entity (`scan_search`), which stops where the caller stops."""
    if isinstance(connector, TextSearch):
        return connector.search(entity, text, page_size=page_size, fields=fields)
    return scan_search(connector, entity, text, page_size=page_size)


def scan_search(connector: Connector, entity: str, text: str, *, page_size: int = 500
                ) -> Iterator[list[RemoteRecord]]:
    """The fallback of `search_records`: the entity read in full, batch by batch, the records
    that match kept. Connectors call it too for an entity their system cannot search."""
    for batch in connector.read_changes(entity, None, batch_size=page_size):
        found = [record for record in batch.records if matches_text(record.record, text)]
        if found:
            yield found


def matches_text(record: Entity, text: str) -> bool:
    """Whether the record's name or number contains `text`, ignoring case (any record for no text)."""
    wanted = text.casefold()
    if not wanted:
        return True
    values = (getattr(record, "name", None), getattr(record, "number", None))
    return any(wanted in str(value).casefold() for value in values if value is not None)
