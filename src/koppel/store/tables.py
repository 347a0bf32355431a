"""The store's tables (SQLAlchemy Core). Migrations in migrations/ create and evolve them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

metadata = MetaData()
_id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, always read back with its time zone (SQLite keeps none: its values are UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

links = Table(
    "links", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("entity", String(40), nullable=False),
    Column("erp_id", String(200), nullable=False),
    Column("crm_id", String(200), nullable=False),
    Column("snapshot", Text, nullable=False),  # JSON: last-synced canonical value of each field
    Column("synced_at", UtcDateTime(), nullable=False),
    # the version stamp the create answered, on the side koppel created the record (its echo is skipped)
    Column("erp_version", String(64), nullable=True),
    Column("crm_version", String(64), nullable=True),
    UniqueConstraint("entity", "erp_id", name="uq_links_erp"),
    UniqueConstraint("entity", "crm_id", name="uq_links_crm"),
)

cursors = Table(
    "cursors", metadata,
    Column("system", String(10), primary_key=True),
    Column("entity", String(40), primary_key=True),
    Column("value", Text, nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # full | incremental | record | reconcile
    Column("scope", String(200), nullable=True),
    Column("status", String(20), nullable=False),  # running | ok | partial | failed
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("stats", JSON, nullable=True),
    Column("message", Text, nullable=True),
)

jobs = Table(
    "jobs", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("lock_key", String(300), nullable=True),  # one record is never synced twice at once
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False),  # queued | running | done | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("run_after", UtcDateTime(), nullable=False),
    Column("locked_by", String(100), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_jobs_status_run_after", "status", "run_after"),
)

audit = Table(
    "audit", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False),
    Column("entity", String(40), nullable=True),
    Column("record", String(300), nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("origin", String(100), nullable=True),
    Column("run_id", _id, nullable=True),
)

errors = Table(
    "errors", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("run_id", _id, nullable=True),
    Column("entity", String(40), nullable=False),
    Column("source", String(10), nullable=False),  # side the change came from
    Column("source_id", String(200), nullable=False),
    Column("target", String(10), nullable=False),
    Column("operation", String(20), nullable=False),  # create | update | delete | revert
    Column("payload", JSON, nullable=False),
    Column("error_class", String(20), nullable=False),  # permanent | transient | waiting
    Column("message", Text, nullable=False),
    Column("status", String(20), nullable=False),  # open | retried | skipped | resolved
    Column("attempts", Integer, nullable=False, default=1),
    Column("edited", Boolean, nullable=False, default=False),  # an operator changed the payload
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_errors_status", "status"),
    Index("ix_errors_record", "entity", "source", "source_id"),
)

conflicts = Table(
    "conflicts", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("entity", String(40), nullable=False),
    Column("link_id", _id, nullable=False),
    Column("field", String(80), nullable=False),
    Column("base", JSON, nullable=True),
    Column("erp_value", JSON, nullable=True),
    Column("crm_value", JSON, nullable=True),
    Column("status", String(20), nullable=False),  # open | resolved
    Column("resolution", String(20), nullable=True),  # erp | crm
    Column("created_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("resolved_by", String(100), nullable=True),
    Index("ix_conflicts_status", "status"),
)

violations = Table(
    "violations", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("entity", String(40), nullable=False),
    Column("system", String(10), nullable=False),  # the system that broke the policy
    Column("record_id", String(200), nullable=False),
    Column("field", String(80), nullable=True),
    Column("attempted", JSON, nullable=True),
    Column("restored", JSON, nullable=True),
    Column("changed_by", String(200), nullable=True),
    Column("status", String(20), nullable=False),  # open | acknowledged
    Column("run_id", _id, nullable=True),
)

users = Table(
    "users", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("role", String(20), nullable=False),  # viewer | operator | admin
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("language", String(10), nullable=True),  # en | de | nl, chosen on the page; none: the browser's
    UniqueConstraint("name", name="uq_users_name"),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("user_id", _id, nullable=False),
    Column("token_hash", String(64), nullable=False),  # sha256 hex of the secret; the secret is never stored
    Column("label", String(100), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
    UniqueConstraint("token_hash", name="uq_api_tokens_hash"),
    Index("ix_api_tokens_user", "user_id"),
)

match_proposals = Table(
    "match_proposals", metadata,
    Column("id", _id, primary_key=True, autoincrement=True),
    Column("entity", String(40), nullable=False),
    Column("erp_id", String(200), nullable=False),
    Column("crm_id", String(200), nullable=False),
    # a unique-name collision: the copy koppel created under another name beside crm_id
    Column("copy_side", String(10), nullable=True),
    Column("copy_id", String(200), nullable=True),
    Column("field", String(80), nullable=True),  # the unique field, and the name the copy got
    Column("alias", Text, nullable=True),
    Column("reason", String(200), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("status", String(20), nullable=False),  # open | coupled | apart
    Column("created_at", UtcDateTime(), nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("decided_by", String(100), nullable=True),
    Index("ix_match_proposals_status", "entity", "status"),
)

submissions = Table(
    "submissions", metadata,
    Column("key", String(100), primary_key=True),  # the idempotency key of one submission
    Column("kind", String(40), nullable=False),  # order
    Column("made", JSON, nullable=False),  # what the submission has made so far: {"crm_quote": id, ...}
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

system_status = Table(
    "system_status", metadata,
    Column("system", String(10), primary_key=True),  # erp | crm
    Column("up", Boolean, nullable=False),
    Column("last_success_at", UtcDateTime(), nullable=True),  # the end of the last run that reached it
    Column("down_since", UtcDateTime(), nullable=True),  # the first failed run since then
    Column("last_error", Text, nullable=True),
    Column("checked_at", UtcDateTime(), nullable=False),
)
