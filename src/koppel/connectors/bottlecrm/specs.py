"""One response adapter per entity: where BottleCRM keeps it, how its answers are shaped.

Every list and detail endpoint wraps its records differently (`active_accounts.open_accounts`,
`contact_obj`, bare objects …); an EntitySpec says where to look, which mapper to use, how
updates are sent and how changes are detected. Data only, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from koppel.connectors.bottlecrm import mapping as m
from koppel.connectors.bottlecrm import mapping_docs as d

Json = dict[str, Any]
#: stamp: the list carries `updated_at` and every mapped field; content: the list carries every
#: mapped field but no stamp (hash the mapped record); summary: the list is a summary (hash it,
#: read the detail of new and changed ids)
Strategy = Literal["stamp", "content", "summary"]


@dataclass(frozen=True)
class EntitySpec:
    entity: str
    path: str
    rows: Callable[[Json], list[list[Json]]]
    detail: Callable[[Json], Json]
    to_canonical: Callable[[Json, str], Json]
    to_remote: Callable[[Mapping[str, Any]], Json]
    readable: frozenset[str]
    writable: frozenset[str]
    strategy: Strategy
    update_method: Literal["PATCH", "PUT"] = "PATCH"
    can_delete: bool = True
    #: BottleCRM numbers these from a per-day sequence: parallel creates collide (500)
    serial_create: bool = False
    #: fields BottleCRM insists on at create time
    create_defaults: Json = field(default_factory=dict)
    #: list fields hashed for the summary strategy
    summary_keys: tuple[str, ...] = ()
    #: canonical reference field -> the list's query parameter that filters by it (one id each)
    filters: Mapping[str, str] = field(default_factory=dict)
    #: query parameters every request for the list carries (`slim`: leave out the catalogues of
    #: every account and contact that the case and task lists add for the UI's forms)
    list_params: Mapping[str, str] = field(default_factory=dict)
    #: the `entity_type` of the entity's rows in BottleCRM's activity feed, where every change
    #: made in a request writes one: polls read the feed and the records it names instead of
    #: scanning the list (None: every read scans)
    feed: str | None = None
    #: the list's query parameter that keeps the rows whose name contains a text, ignoring case
    #: (`search`); None: a text search scans the list
    search: str | None = None

    def query(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The parameters of a request for the list: `params` and the spec's own."""
        return {**self.list_params, **(params or {})}

    def created_id(self, answer: Json) -> str | None:
        """Accounts, contacts, cases answer {"id": …}; products and documents the full object."""
        if answer.get("id"):
            return str(answer["id"])
        for value in answer.values():
            if isinstance(value, dict) and value.get("id"):
                return str(value["id"])
        return None


def _key(name: str) -> Callable[[Json], list[list[Json]]]:
    return lambda page: [list(page.get(name) or [])]


def _obj(name: str) -> Callable[[Json], Json]:
    return lambda answer: dict(answer.get(name) or {})


def _accounts(page: Json) -> list[list[Json]]:
    active, closed = page.get("active_accounts") or {}, page.get("closed_accounts") or {}
    return [list(active.get("open_accounts") or []), list(closed.get("close_accounts") or [])]


def _plain(mapper: Callable[[Json], Json]) -> Callable[[Json, str], Json]:
    return lambda remote, _currency: mapper(remote)


_SHARING: Json = {"assigned_to": [], "teams": [], "contacts": []}
#: the documents' lists filter by their account (`?account=<id>`); the contacts' list cannot
BY_ACCOUNT = {"account": "account"}
#: without it the case and task lists carry every account and contact of the org (0.6 s a
#: request at 10,000 accounts, however few cases there are)
SLIM = {"slim": "true"}

SPECS: dict[str, EntitySpec] = {
    "account": EntitySpec(
        "account", "accounts/", _accounts, _obj("account_obj"), m.account_in, m.account_out,
        m.ACCOUNT_READS, m.ACCOUNT_WRITES, "content", feed="Account", search="name"),
    "contact": EntitySpec(
        "contact", "contacts/", _key("results"), _obj("contact_obj"), _plain(m.contact_in),
        m.contact_out, m.CONTACT_READS, m.CONTACT_WRITES, "stamp", feed="Contact"),
    "product": EntitySpec(
        "product", "invoices/products/", _key("results"), dict, m.product_in, m.product_out,
        m.PRODUCT_READS, m.PRODUCT_WRITES, "stamp", update_method="PUT"),
    "quote": EntitySpec(
        "quote", "invoices/estimates/", _key("results"), _obj("estimate"), d.quote_in, d.quote_out,
        d.QUOTE_READS, d.QUOTE_WRITES, "summary", update_method="PUT", serial_create=True,
        summary_keys=("estimate_number", "title", "status", "account", "contact", "total_amount",
                      "currency", "expiry_date", "issue_date"), filters=BY_ACCOUNT),
    "invoice": EntitySpec(
        "invoice", "invoices/", _key("results"), _obj("invoice"), d.invoice_in, d.invoice_out,
        d.INVOICE_READS, d.INVOICE_WRITES, "summary", update_method="PUT", can_delete=False,
        serial_create=True,
        summary_keys=("invoice_number", "invoice_title", "status", "account", "contact", "issue_date",
                      "due_date", "total_amount", "amount_due", "currency", "line_items_count"),
        filters=BY_ACCOUNT),
    "case": EntitySpec(
        "case", "cases/", _key("cases"), _obj("cases_obj"), _plain(d.case_in), d.case_out,
        d.CASE_READS, d.CASE_WRITES, "content",
        create_defaults={**_SHARING, "status": "New", "priority": "Normal"}, filters=BY_ACCOUNT, list_params=SLIM),
    "activity": EntitySpec(
        "activity", "tasks/", _key("tasks"), _obj("task_obj"), _plain(d.activity_in), d.activity_out,
        d.ACTIVITY_READS, d.ACTIVITY_WRITES, "content",
        create_defaults={**_SHARING, "status": "New", "priority": "Medium"}, filters=BY_ACCOUNT, feed="Task",
        list_params=SLIM),
}
