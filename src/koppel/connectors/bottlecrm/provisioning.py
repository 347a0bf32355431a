"""What koppel needs in a BottleCRM: the custom fields that hold ERP data (numbers, terms, finance
facts, order status) and koppel's own keys. BottleCRM silently drops a custom value whose field is
not defined, so every one of them must exist before koppel writes.

`requirements` reads `custom-fields/` once; `provision` creates (or re-activates) what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from koppel.connectors.base import Requirement
from koppel.connectors.bottlecrm.client import BottleCrmClient, Json
from koppel.connectors.bottlecrm.mapping_docs import CASE_KIND_FIELD, CASE_QUOTE_FIELD


@dataclass(frozen=True)
class CustomField:
    model: str  # BottleCRM's target_model (case-sensitive)
    key: str
    label: str
    type: str  # text | textarea | number | dropdown | date | checkbox
    stores: tuple[str, ...]  # canonical "entity.field"
    filterable: bool = False
    options: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return f"{self.model}.{self.key}"

    def body(self, order: int) -> Json:
        body: Json = {"target_model": self.model, "key": self.key, "label": self.label,
                      "field_type": self.type, "display_order": order,
                      "is_filterable": self.filterable}
        if self.options:
            body["options"] = [{"value": v, "label": v.capitalize()} for v in self.options]
        return body


def _order_fields(model: str, entity: str) -> list[CustomField]:
    return [CustomField(model, "erp_order_no", "ERP order no.", "text", (f"{entity}.order_number",), True),
            CustomField(model, "order_status", "Order status", "text", (f"{entity}.order_status",)),
            CustomField(model, "shipment_status", "Shipment status", "text", (f"{entity}.shipment_status",)),
            CustomField(model, "invoice_status", "Invoice status", "text", (f"{entity}.invoice_status",)),
            CustomField(model, "planned_ship_date", "Planned ship date", "date",
                        (f"{entity}.planned_ship_date",)),
            CustomField(model, "erp_link", "ERP link", "text", (f"{entity}.erp_link",)),
            CustomField(model, "erp_history", "ERP order history", "textarea", (f"{entity}.history",)),
            CustomField(model, "erp_note", "ERP note", "textarea", (f"{entity}.erp_note",))]


FIELDS: tuple[CustomField, ...] = (
    CustomField("Account", "erp_customer_no", "ERP customer no.", "text", ("account.number",), True),
    CustomField("Account", "vat_id", "VAT id", "text", ("account.vat_id",), True),
    CustomField("Account", "payment_terms", "Payment terms", "text", ("account.payment_term",)),
    CustomField("Account", "credit_limit", "Credit limit", "number", ("account.credit_limit",)),
    CustomField("Account", "open_amount", "Open amount", "number", ("account.open_amount",)),
    CustomField("Account", "overdue_amount", "Overdue amount", "number", ("account.overdue_amount",)),
    CustomField("Account", "dunning_level", "Dunning level", "text", ("account.dunning_level",)),
    CustomField("Account", "revenue_this_year", "Revenue this year", "number",
                ("account.revenue_this_year",)),
    CustomField("Account", "revenue_last_year", "Revenue last year", "number",
                ("account.revenue_last_year",)),
    CustomField("Account", "customer_value_tier", "Customer value tier", "dropdown",
                ("account.value_tier",), options=("A", "B", "C")),
    CustomField("Contact", "invoice_recipient", "Invoice recipient", "checkbox",
                ("contact.invoice_recipient",)),
    CustomField("Case", "erp_complaint_no", "ERP complaint no.", "text", ("case.number",), True),
    CustomField("Case", "erp_complaint_state", "ERP complaint state", "text", ("case.erp_state",)),
    CustomField("Case", CASE_KIND_FIELD, "Case kind", "dropdown", ("case.kind",),
                options=("question", "complaint", "warranty", "other")),
    CustomField("Case", CASE_QUOTE_FIELD, "Quote / order", "text", ("case.quote", "case.order")),
    *_order_fields("Estimate", "quote"),
)


def labels(entity: str) -> dict[str, str]:
    """Canonical field -> how a BottleCRM user finds it: the custom field's label and key."""
    return {stored.split(".", 1)[1]: f"custom field {f.label!r} ({f.key}) of the {f.model.lower()}"
            for f in FIELDS for stored in f.stores if stored.startswith(f"{entity}.")}


def requirements(client: BottleCrmClient) -> list[Requirement]:
    defined = _definitions(client)
    return [_requirement(f, defined.get((f.model, f.key))) for f in FIELDS]


def provision(client: BottleCrmClient, missing: Sequence[Requirement]) -> list[Requirement]:
    wanted = {r.name for r in missing if r.creatable and not r.present}
    defined = _definitions(client)
    for order, spec in enumerate(FIELDS):
        if spec.name not in wanted:
            continue
        existing = defined.get((spec.model, spec.key))
        if existing is None:
            client.post("custom-fields/", spec.body(order))
        else:  # soft-deleted: BottleCRM keeps it inactive, and drops values for it
            client.put(f"custom-fields/{existing['id']}/", {"is_active": True})
    now = _definitions(client)
    return [_requirement(f, now.get((f.model, f.key))) for f in FIELDS if f.name in wanted]


def _definitions(client: BottleCrmClient) -> dict[tuple[str, str], Json]:
    answer = client.get("custom-fields/", {"include_counts": "false"})
    rows: list[Json] = answer.get("definitions") or answer.get("results") or []
    return {(str(r.get("target_model")), str(r.get("key"))): r for r in rows}


def _requirement(spec: CustomField, existing: dict[str, Any] | None) -> Requirement:
    detail = f"{spec.type} field {spec.label!r}"
    if existing is None:
        return Requirement("custom field", spec.name, frozenset(spec.stores), False, detail)
    if existing.get("field_type") != spec.type:
        return Requirement(
            "custom field", spec.name, frozenset(spec.stores), False,
            f"exists as a {existing.get('field_type')} field; koppel needs {spec.type}", creatable=False,
            hint=f"delete the custom field {spec.key!r} of {spec.model} in BottleCRM (its type cannot "
                 "change), then run `koppel setup`")
    if not existing.get("is_active", True):
        return Requirement("custom field", spec.name, frozenset(spec.stores), False,
                           f"{detail} (deactivated)")
    return Requirement("custom field", spec.name, frozenset(spec.stores), True, detail)
