"""koppel's own state: links with snapshots, cursors, runs, jobs, audit, errors, conflicts."""

from koppel.store.proposals import ProposalRow
from koppel.store.repository import ErrorRow, LinkRow, Store

__all__ = ["ErrorRow", "LinkRow", "ProposalRow", "Store"]
