"""The operations people start from the workspace, the API or the command line: sync a record,
work the error queue, settle a conflict, couple or keep apart a proposal, repair drift, place an
order, push value tiers, erase a person. Each runs against the peers under the workspace's lock,
writes through the engine's one write path, and lands in the audit trail under the acting user.
API routes, web pages and CLI commands call these and nothing below them."""
