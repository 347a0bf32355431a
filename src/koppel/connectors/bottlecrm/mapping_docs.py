"""Pure mapping of BottleCRM documents and service records: estimates (quotes), invoices,
cases and tasks (activities). No I/O; same rules as mapping.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from koppel.connectors.bottlecrm.mapping import (
    Json,
    amount_of,
    copy_present,
    decimal_text,
    money,
    ref_id,
    text,
)

# --- quote (estimate) ------------------------------------------------------------------

QUOTE_STATUS_IN = {"Draft": "draft", "Sent": "sent", "Viewed": "sent", "Accepted": "accepted",
                   "Declined": "declined", "Expired": "expired"}
QUOTE_CUSTOM = {"order_number": "erp_order_no", "order_status": "order_status",
                "shipment_status": "shipment_status", "invoice_status": "invoice_status",
                "planned_ship_date": "planned_ship_date", "erp_link": "erp_link",
                "history": "erp_history", "erp_note": "erp_note"}
QUOTE_READS = frozenset({"number", "title", "account", "contact", "status", "currency", "valid_until",
                         "lines", *QUOTE_CUSTOM})
# status is a guarded transition in BottleCRM (send/accept endpoints), number is generated
QUOTE_WRITES = QUOTE_READS - {"number", "status"}


def line_in(remote: Mapping[str, Any], currency: str) -> Json:
    percent = remote.get("discount_type") == "PERCENTAGE"
    discount = decimal_text(remote.get("discount_value")) if percent else None
    return {"product": ref_id(remote.get("product")),
            "description": text(remote.get("name")),
            "quantity": decimal_text(remote.get("quantity")) or "0",
            "unit_price": money(remote.get("unit_price"), currency),
            "discount": None if discount in (None, "0") else discount}


def line_out(line: Mapping[str, Any]) -> Json:
    body: Json = {"name": line.get("description") or "Item",
                  "quantity": str(line.get("quantity") or "0"),
                  "unit_price": amount_of(line.get("unit_price")) or "0"}
    if line.get("product"):
        body["product"] = line["product"]
    if line.get("discount") is not None:
        body.update(discount_type="PERCENTAGE", discount_value=str(line["discount"]))
    return body


def quote_in(remote: Mapping[str, Any], default_currency: str) -> Json:
    custom = remote.get("custom_fields") or {}
    currency = text(remote.get("currency")) or default_currency
    values: Json = {"number": text(remote.get("estimate_number")), "title": text(remote.get("title")),
                    "account": ref_id(remote.get("account")), "contact": ref_id(remote.get("contact")),
                    "status": QUOTE_STATUS_IN.get(str(remote.get("status")), "draft"),
                    "currency": currency, "valid_until": text(remote.get("expiry_date")),
                    "lines": [line_in(li, currency) for li in remote.get("line_items") or []]}
    values.update({name: text(custom.get(key)) for name, key in QUOTE_CUSTOM.items()})
    return values


def quote_out(values: Mapping[str, Any]) -> Json:
    body = copy_present(values, {"title": "title", "account": "account_id", "contact": "contact_id",
                                 "currency": "currency", "valid_until": "expiry_date"})
    if "lines" in values:
        body["line_items"] = [line_out(li) for li in values["lines"] or ()]
    custom = copy_present(values, QUOTE_CUSTOM)
    if custom:
        body["custom_fields"] = custom
    return body


# --- invoice ---------------------------------------------------------------------------

INVOICE_STATE_IN = {"Draft": "draft", "Pending": "validated", "Sent": "posted", "Viewed": "posted",
                    "Overdue": "posted", "Partially_Paid": "posted", "Paid": "paid",
                    "Cancelled": "cancelled"}
INVOICE_READS = frozenset({"number", "account", "state", "invoice_date", "due_date", "currency",
                           "untaxed", "tax", "total", "amount_to_pay", "lines"})
INVOICE_WRITES = frozenset({"number", "account", "invoice_date", "due_date", "currency", "lines"})


def invoice_in(remote: Mapping[str, Any], default_currency: str) -> Json:
    currency = text(remote.get("currency")) or default_currency
    return {"number": text(remote.get("invoice_title")) or text(remote.get("invoice_number")),
            "account": ref_id(remote.get("account")),
            "state": INVOICE_STATE_IN.get(str(remote.get("status")), "draft"),
            "invoice_date": text(remote.get("issue_date")), "due_date": text(remote.get("due_date")),
            "currency": currency, "untaxed": money(remote.get("subtotal"), currency),
            "tax": money(remote.get("tax_amount"), currency),
            "total": money(remote.get("total_amount"), currency),
            "amount_to_pay": money(remote.get("amount_due"), currency),
            "lines": [invoice_line_in(li, currency) for li in remote.get("line_items") or []]}


def invoice_line_in(remote: Mapping[str, Any], currency: str) -> Json:
    return {"product": ref_id(remote.get("product")), "description": text(remote.get("name")),
            "quantity": decimal_text(remote.get("quantity")) or "0",
            "unit_price": money(remote.get("unit_price"), currency),
            "amount": money(remote.get("total"), currency)}


def invoice_out(values: Mapping[str, Any]) -> Json:
    body = copy_present(values, {"number": "invoice_title", "account": "account_id",
                                 "currency": "currency", "invoice_date": "issue_date",
                                 "due_date": "due_date"})
    if "lines" in values:
        body["line_items"] = [line_out(li) for li in values["lines"] or ()]
    return body


# --- case ------------------------------------------------------------------------------

CASE_KIND_FIELD = "case_kind"
CASE_QUOTE_FIELD = "quote_id"  # the estimate a complaint is about: the ERP's sales order
CASE_TYPE_OUT = {"question": "Question", "complaint": "Problem", "warranty": "Incident", "other": None}
CASE_READS = frozenset({"number", "subject", "kind", "account", "contact", "status", "priority",
                        "description", "erp_state", "quote"})
CASE_WRITES = CASE_READS


def case_in(remote: Mapping[str, Any]) -> Json:
    custom = remote.get("custom_fields") or {}
    contacts = remote.get("contacts") or []
    kind = text(custom.get(CASE_KIND_FIELD))
    if kind is None:
        kind = "question" if remote.get("case_type") in (None, "", "Question") else "complaint"
    status, priority = text(remote.get("status")), text(remote.get("priority"))
    return {"number": text(custom.get("erp_complaint_no")), "subject": text(remote.get("name")),
            "kind": kind, "account": ref_id(remote.get("account")),
            "contact": ref_id(contacts[0]) if contacts else None,
            "status": status.lower() if status else "new",
            "priority": priority.lower() if priority else None,
            "description": text(remote.get("description")),
            "erp_state": text(custom.get("erp_complaint_state")),
            "quote": text(custom.get(CASE_QUOTE_FIELD))}


def case_out(values: Mapping[str, Any]) -> Json:
    body = copy_present(values, {"subject": "name", "account": "account", "description": "description"})
    if "status" in values:
        body["status"] = str(values["status"] or "new").capitalize()
    if "priority" in values:
        body["priority"] = str(values["priority"]).capitalize() if values["priority"] else None
    if "contact" in values:
        body["contacts"] = [values["contact"]] if values["contact"] else []
    custom = copy_present(values, {"number": "erp_complaint_no", "erp_state": "erp_complaint_state",
                                   "kind": CASE_KIND_FIELD, "quote": CASE_QUOTE_FIELD})
    if "kind" in values:
        body["case_type"] = CASE_TYPE_OUT.get(values["kind"] or "question")
    if custom:
        body["custom_fields"] = custom
    return body


# --- activity (task) -------------------------------------------------------------------

ACTIVITY_READS = frozenset({"kind", "subject", "account", "at", "done"})
ACTIVITY_WRITES = frozenset({"subject", "account", "at", "done"})


def activity_in(remote: Mapping[str, Any]) -> Json:
    due = text(remote.get("due_date"))
    at = datetime.combine(date.fromisoformat(due), time(), UTC).isoformat() if due else None
    return {"kind": "task", "subject": text(remote.get("title")), "account": ref_id(remote.get("account")),
            "at": at, "done": remote.get("status") == "Completed"}


def activity_out(values: Mapping[str, Any]) -> Json:
    body = copy_present(values, {"subject": "title", "account": "account"})
    if "at" in values:
        at = values["at"]
        body["due_date"] = datetime.fromisoformat(str(at)).date().isoformat() if at else None
    if "done" in values:
        body["status"] = "Completed" if values["done"] else "New"
    return body
