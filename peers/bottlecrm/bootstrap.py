"""Bootstrap a freshly migrated BottleCRM database without human steps.

Run by peer.py with the venv's python, DJANGO_SETTINGS_MODULE=koppel_bottlecrm_settings
and DEBUG=true (devlogin refuses to run otherwise). Steps: devlogin (user) -> org ->
switch-org -> personal access token -> custom field definitions -> read pipelines and
lead sources. Prints ONE JSON line on stdout (the template record) and exits 0;
on any unexpected answer it prints the response to stderr and exits 1.
"""
import json
import os
import sys
from io import StringIO

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

EMAIL = os.environ.get("KOPPEL_CRM_EMAIL", "sync@koppel.example")
ORG_NAME = os.environ.get("KOPPEL_CRM_ORG", "Koppel Sync Org")

# (key, label, field_type, extra) per target model.  field_type values accepted by
# django-crm 1.35.0 (common.models.CustomFieldDefinition.FIELD_TYPE_CHOICES):
# text, textarea, number, dropdown, date, checkbox.
FIELDS = {
    "Account": [
        ("erp_customer_no", "ERP customer no.", "text", {"is_filterable": True}),
        ("vat_id", "VAT id", "text", {"is_filterable": True}),
        ("payment_terms", "Payment terms", "text", {}),
        ("credit_limit", "Credit limit", "number", {}),
        ("open_amount", "Open amount", "number", {}),
        ("overdue_amount", "Overdue amount", "number", {}),
        ("dunning_level", "Dunning level", "text", {}),
        ("revenue_this_year", "Revenue this year", "number", {}),
        ("revenue_last_year", "Revenue last year", "number", {}),
        ("customer_value_tier", "Customer value tier", "dropdown",
         {"options": [{"value": v, "label": v} for v in ("A", "B", "C")]}),
        ("erp_link", "ERP link", "text", {}),
    ],
    "Contact": [
        ("erp_contact_id", "ERP contact id", "text", {"is_filterable": True}),
        ("invoice_recipient", "Invoice recipient", "checkbox", {}),
    ],
    "Case": [
        ("erp_complaint_no", "ERP complaint no.", "text", {"is_filterable": True}),
        ("erp_complaint_state", "ERP complaint state", "text", {}),
        ("erp_link", "ERP link", "text", {}),
    ],
}
_ORDER_FIELDS = [
    ("erp_order_no", "ERP order no.", "text", {"is_filterable": True}),
    ("order_status", "Order status", "text", {}),
    ("shipment_status", "Shipment status", "text", {}),
    ("invoice_status", "Invoice status", "text", {}),
    ("planned_ship_date", "Planned ship date", "date", {}),
    ("erp_link", "ERP link", "text", {}),
]
FIELDS["Opportunity"] = _ORDER_FIELDS
FIELDS["Estimate"] = _ORDER_FIELDS


def die(what, resp):
    body = resp.content.decode(errors="replace")[:2000]
    print(f"bootstrap: {what} failed: HTTP {resp.status_code}: {body}", file=sys.stderr)
    sys.exit(1)


def main():
    out = StringIO()
    call_command("devlogin", EMAIL, "--create", stdout=out)
    lines = out.getvalue().splitlines()
    jwt = [ln.split()[1] for ln in lines if ln.startswith("access_token")]
    if not jwt:
        print("bootstrap: devlogin printed no access_token:\n" + out.getvalue(), file=sys.stderr)
        sys.exit(1)
    c = Client(HTTP_HOST="127.0.0.1")

    def call(method, path, jwt_or_pat, body=None):
        kw = {"HTTP_AUTHORIZATION": f"Bearer {jwt_or_pat}"}
        if body is not None:
            kw["data"] = json.dumps(body)
            kw["content_type"] = "application/json"
        return getattr(c, method)(path, **kw)

    r = call("post", "/api/org/", jwt[0], {"name": ORG_NAME})
    if r.status_code not in (200, 201):
        die("POST /api/org/", r)
    org = r.json()["org"]
    r = call("post", "/api/auth/switch-org/", jwt[0], {"org_id": org["id"]})
    if r.status_code != 200:
        die("POST /api/auth/switch-org/", r)
    jwt_org = r.json()["access_token"]
    r = call("post", "/api/profile/tokens/", jwt_org, {"name": "koppel-sync"})
    if r.status_code not in (200, 201):
        die("POST /api/profile/tokens/", r)
    pat = r.json()["token"]

    custom_fields = {}
    for model, defs in FIELDS.items():
        for order, (key, label, ftype, extra) in enumerate(defs):
            body = {"target_model": model, "key": key, "label": label,
                    "field_type": ftype, "display_order": order, **extra}
            r = call("post", "/api/custom-fields/", pat, body)
            if r.status_code not in (200, 201):
                die(f"POST /api/custom-fields/ {model}.{key}", r)
            custom_fields.setdefault(model, {})[key] = ftype

    r = call("get", "/api/opportunities/pipelines/", pat)
    if r.status_code != 200:
        die("GET /api/opportunities/pipelines/", r)
    pj = r.json()
    plist = pj if isinstance(pj, list) else (pj.get("pipelines") or pj.get("results") or [])
    pipelines = [{"id": p["id"], "name": p.get("name"), "is_default": p.get("is_default"),
                  "stages": [{"id": s.get("id"), "code": s.get("code"), "label": s.get("label"),
                              "kind": s.get("kind")} for s in p.get("stages", [])]}
                 for p in plist]
    default = [p for p in pipelines if p.get("is_default")] or pipelines
    r = call("get", "/api/leads/sources/", pat)
    if r.status_code != 200:
        die("GET /api/leads/sources/", r)
    sj = r.json()
    slist = sj if isinstance(sj, list) else (sj.get("sources") or sj.get("results") or [])
    lead_sources = [{"id": s.get("id"), "key": s.get("key"), "label": s.get("label") or s.get("name")}
                    for s in slist]

    r = call("get", "/api/accounts/?limit=1", pat)
    if r.status_code != 200:
        die("GET /api/accounts/ with the new PAT", r)

    print(json.dumps({
        "org_id": org["id"],
        "org_name": ORG_NAME,
        "token": pat,
        "email": EMAIL,
        "custom_fields": custom_fields,
        "default_pipeline_id": default[0]["id"] if default else None,
        "pipelines": pipelines,
        "lead_sources": lead_sources,
    }))


main()
