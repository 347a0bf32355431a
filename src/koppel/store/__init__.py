"""koppel's own state: links with snapshots, cursors, runs and audit, the error queue, conflicts
and violations, proposals, users and tokens, jobs; one repository each (see database.py)."""

from koppel.store.database import Store
from koppel.store.findings import ConflictRow, ViolationRow
from koppel.store.links import LinkRow, NewLink
from koppel.store.proposals import ProposalRow
from koppel.store.queue import ErrorRow, Parked
from koppel.store.runs import AuditEntry

__all__ = ["AuditEntry", "ConflictRow", "ErrorRow", "LinkRow", "NewLink", "Parked", "ProposalRow", "Store", "ViolationRow"]
