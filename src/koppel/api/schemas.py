"""The API's request and response shapes: separate from the store's rows and the engine's types,
so either can change without changing the contract in /openapi.json.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

Side = Literal["erp", "crm"]
MAX_ID = 2**53  # larger ids cannot exist; refusing them keeps the database from overflowing
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="the row's id")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
RecordId = Annotated[str, Field(min_length=1, max_length=200)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- system ---------------------------------------------------------------------------------

class SystemHealth(Out):
    ok: bool
    connector: str
    error: str | None = None
    #: what the sync runs saw: the end of the last run that reached it, and since when it is down
    last_success_at: datetime | None = None
    down_since: datetime | None = None
    last_run_error: str | None = None


class Health(Out):
    ok: bool
    store: bool
    systems: dict[str, SystemHealth]


# --- runs and jobs --------------------------------------------------------------------------

class Run(Out):
    id: int
    kind: str
    scope: str | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    stats: dict[str, Any] | None
    message: str | None


class RunReport(Out):
    run_id: int
    status: str
    message: str | None
    stats: dict[str, dict[str, int]]
    plan: list[str]


class Job(Out):
    id: int
    kind: str
    status: str
    attempts: int
    payload: dict[str, Any]
    run_after: datetime
    locked_by: str | None
    created_at: datetime
    updated_at: datetime


class Worker(Out):
    id: int | str
    last_heartbeat: datetime | None
    alive: bool


class Fleet(Out):
    runner: str
    workers: list[Worker]
    waiting: dict[str, int]
    running: int
    oldest_waiting: datetime | None
    per_minute: float


class SyncRecordIn(In):
    system: Side
    entity: Name
    id: RecordId
    wait: bool = Field(True, description="run now and return the report; false: queue a job")


class ErasureIn(In):
    system: Side
    entity: Literal["contact"]
    id: RecordId


class ErasureOut(Out):
    entity: str
    ids: dict[str, str]
    how: str
    scrubbed: dict[str, int]


class SyncRecordOut(Out):
    queued: bool
    job_id: int | None = None
    report: RunReport | None = None


class SyncIn(In):
    entities: list[Name] | None = Field(None, max_length=50)
    full: bool = Field(False, description="read every record, not only changes (the nightly batch)")


class Queued(Out):
    job_id: int | None = Field(description="the new job; None when an identical job was already waiting")
    coalesced: bool


# --- error queue, conflicts, violations -----------------------------------------------------

class QueuedError(Out):
    id: int
    entity: str
    source: str
    source_id: str
    target: str
    operation: str
    payload: dict[str, Any]
    error_class: str
    message: str
    status: str
    attempts: int
    created_at: datetime


class PayloadIn(In):
    payload: dict[str, Any]


class Conflict(Out):
    id: int
    entity: str
    link_id: int
    field: str
    base: Any
    erp_value: Any
    crm_value: Any
    status: str
    resolution: str | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class ResolveIn(In):
    winner: Side


class Violation(Out):
    id: int
    at: datetime
    entity: str
    system: str
    record_id: str
    field: str | None
    attempted: Any
    restored: Any
    changed_by: str | None
    status: str


# --- match proposals ------------------------------------------------------------------------

MatchEntity = Literal["account", "contact"]


class MatchProposal(Out):
    id: int
    entity: str
    erp_id: str
    crm_id: str
    reason: str
    confidence: float = Field(description="0..1: how sure the rule is that both are the same record")
    status: str = Field(description="open, coupled, apart (kept apart) or superseded")
    copy_side: str | None = Field(description="for a possible duplicate: the system koppel created the copy in")
    copy_id: str | None = Field(description="the copy koppel created under another name; deleted when coupled")
    field: str | None = Field(description="the unique field whose value collided")
    alias: str | None = Field(description="the other name the copy was created under")
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None


class ProposeIn(In):
    entities: list[MatchEntity] | None = Field(None, max_length=2)


# --- reconcile ------------------------------------------------------------------------------

class Drift(Out):
    entity: str
    kind: str
    side: str
    record_id: str
    detail: str
    action: str


class ReconcileReport(Out):
    drift: list[Drift]
    repaired: dict[str, int] | None = None


class ReconcileIn(In):
    entities: list[Name] | None = Field(None, max_length=50)


# --- accounts -------------------------------------------------------------------------------

class DocumentLink(Out):
    system: str
    entity: str
    id: str
    href: str


class AccountSummary(Out):
    key: str
    name: str | None
    number: str | None
    erp_id: str | None
    crm_id: str | None
    coupled: bool


class FieldView(Out):
    name: str
    value: Any
    owner: str
    source: str | None = Field(description="the system the shown value came from")
    erp_value: Any
    crm_value: Any
    synced_value: Any
    synced_at: datetime | None
    stale: bool


class Contact(Out):
    erp_id: str | None
    crm_id: str | None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    invoice_recipient: bool | None = None


class Quote(Out):
    id: str
    number: str | None
    title: str | None
    status: str | None
    open: bool
    order_number: str | None
    order_status: str | None
    shipment_status: str | None
    invoice_status: str | None
    planned_ship_date: str | None
    erp_link: str | None


class Order(Out):
    entity: str
    id: str
    number: str | None
    reference: str | None
    status: str | None
    total: dict[str, Any] | None
    shipment_state: str | None
    invoice_state: str | None
    planned_ship_date: str | None
    shipped_date: str | None
    document: DocumentLink


class Invoice(Out):
    id: str
    number: str | None
    state: str | None
    invoice_date: str | None
    due_date: str | None
    total: dict[str, Any] | None
    amount_to_pay: dict[str, Any] | None
    paid: bool
    overdue: bool
    dunning_level: str | None
    document: DocumentLink


class Complaint(Out):
    id: str
    number: str | None
    subject: str | None
    kind: str | None
    status: str | None
    erp_state: str | None


class Account360(Out):
    key: str
    name: str | None
    erp_id: str | None
    crm_id: str | None
    synced_at: datetime | None
    fields: list[FieldView]
    contacts: list[Contact]
    quotes: list[Quote]
    orders: list[Order]
    invoices: list[Invoice]
    complaints: list[Complaint]
    open_amounts: dict[str, Decimal]
    overdue_amounts: dict[str, Decimal]


class Document(Out):
    system: str
    entity: str
    id: str
    record: dict[str, Any]


# --- users and tokens -----------------------------------------------------------------------

class User(Out):
    id: int
    name: str
    role: str
    created_at: datetime
    disabled: bool


class UserIn(In):
    name: Name
    role: Literal["viewer", "operator", "admin"]


class Token(Out):
    id: int
    user: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


class TokenIn(In):
    user: Name
    label: Annotated[str, Field(max_length=100)] | None = None


class TokenCreated(Token):
    token: str = Field(description="the secret: shown this once, stored only as a hash")
