#!/usr/bin/env python3
"""Smoke check of a running BottleCRM peer (stdlib only).

Usage:
  python3 peers/bottlecrm/peer.py start --name smoke > /tmp/crm.json
  python3 peers/bottlecrm/smoke.py /tmp/crm.json            # or: ... | smoke.py -
  python3 peers/bottlecrm/smoke.py /tmp/crm.json --shapes shapes.json   # also dump response shapes

Exit 0 when every check passed; prints one line per step to stdout.
"""
import json
import sys
import time
import urllib.error
import urllib.request


class Api:
    def __init__(self, url, token):
        self.base = url.rstrip("/") + "/api/"
        self.token = token

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
            "Accept": "application/json"})
        t0 = time.time()
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                code, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            code, raw = exc.code, exc.read()
        ms = (time.time() - t0) * 1000
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")[:500]
        return code, payload, ms


def shape(obj, depth=0):
    """A compact description of a JSON value: keys and types, lists by their first element."""
    if depth > 4:
        return "…"
    if isinstance(obj, dict):
        return {k: shape(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [f"list[{len(obj)}]", shape(obj[0], depth + 1)] if obj else "list[0]"
    return type(obj).__name__ if obj is not None else "null"


FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)
    return cond


def main():
    args = sys.argv[1:]
    shapes_file = None
    if "--shapes" in args:
        i = args.index("--shapes")
        shapes_file = args[i + 1]
        del args[i:i + 2]
    src = args[0] if args else "-"
    info = json.loads(sys.stdin.read() if src == "-" else open(src).read())
    api = Api(info["url"], info["token"])
    setup = info.get("setup", {})
    shapes = {}
    sfx = str(int(time.time() * 1000))[-7:]

    def do(method, path, body=None, expect=(200, 201), label=None):
        code, payload, ms = api.call(method, path, body)
        label = label or f"{method} {path.split('?')[0]}"
        check(code in expect, f"{label} -> {code} ({ms:.0f} ms)" +
              ("" if code in expect else f": {json.dumps(payload)[:600]}"))
        shapes.setdefault(label, shape(payload))
        return code, payload

    # --- account with custom fields
    cf = {"erp_customer_no": f"C-{sfx}", "vat_id": "DE123456789", "credit_limit": 5000}
    _, r = do("POST", "accounts/", {"name": f"ACME GmbH {sfx}", "email": "info@acme.example",
                                    "phone": "+49 30 1234567", "city": "Berlin", "country": "DE",
                                    "currency": "EUR", "custom_fields": cf})
    acc = (r or {}).get("id")
    if not check(bool(acc), f"account id returned: {acc}"):
        return finish(shapes, shapes_file)
    _, r = do("GET", f"accounts/{acc}/", label="GET accounts/{id}/")
    got = find_key(r, "custom_fields")
    check(isinstance(got, dict) and all(str(got.get(k)) in (str(v), f"{v}.0") or got.get(k) == v
                                        for k, v in cf.items()),
          f"account custom_fields came back: {got}")
    do("PATCH", f"accounts/{acc}/", {"phone": "+49 89 555", "custom_fields": {"credit_limit": 7500}},
       label="PATCH accounts/{id}/")
    _, r = do("GET", f"accounts/{acc}/", label="GET accounts/{id}/ (after PATCH)")
    got = find_key(r, "custom_fields") or {}
    check(str(got.get("credit_limit")) in ("7500", "7500.0") and got.get("vat_id") == "DE123456789",
          f"PATCH merged custom_fields: {got}")
    _, r = do("GET", "accounts/?limit=100", label="GET accounts/")
    check(acc in json.dumps(r), "new account is in the list")
    code, r, _ = api.call("GET", f"accounts/?cf_erp_customer_no=C-{sfx}")
    print(f"info GET accounts/?cf_erp_customer_no=… -> {code} "
          f"({'found' if acc in json.dumps(r) else 'not found'}; 500 expected on SQLite)")

    # --- contact
    _, r = do("POST", "contacts/", {"first_name": "Erika", "last_name": f"Mustermann{sfx}",
                                    "email": f"erika{sfx}@acme.example", "title": "Buyer", "account": acc,
                                    "custom_fields": {"erp_contact_id": f"P-{sfx}", "invoice_recipient": True}})
    con = (r or {}).get("id")
    check(bool(con), f"contact id {con}")
    do("GET", f"contacts/{con}/", label="GET contacts/{id}/")
    do("GET", "contacts/?limit=5", label="GET contacts/")

    # --- product
    _, r = do("POST", "invoices/products/", {"name": f"Widget {sfx}", "sku": f"W-{sfx}", "price": "50.00",
                                             "currency": "EUR"})
    prod = rid(r, "product")
    check(bool(prod), f"product id {prod}")
    do("GET", f"invoices/products/{prod}/", label="GET invoices/products/{id}/")
    do("GET", "invoices/products/?limit=5", label="GET invoices/products/")

    # --- opportunity
    pipe = setup.get("default_pipeline_id")
    stages = next((p.get("stages") for p in setup.get("pipelines", []) if p.get("id") == pipe), []) or []
    stage = stages[0].get("code") if stages else "PROSPECTING"
    _, r = do("POST", "opportunities/", {"name": f"ACME 500 widgets {sfx}", "account": acc, "pipeline": pipe,
                                         "stage": stage, "amount": "25000", "currency": "EUR",
                                         "probability": 20, "closed_on": "2026-12-31", "assigned_to": [],
                                         "contacts": [con] if con else [], "teams": [],
                                         "custom_fields": {"erp_order_no": f"SO-{sfx}",
                                                           "planned_ship_date": "2026-12-15"}})
    opp = (r or {}).get("id")
    check(bool(opp), f"opportunity id {opp}")
    do("GET", f"opportunities/{opp}/", label="GET opportunities/{id}/")
    do("GET", "opportunities/?limit=5", label="GET opportunities/")

    # --- estimate (quote) with one line
    _, r = do("POST", "invoices/estimates/", {"title": f"Quote {sfx}", "account_id": acc, "contact_id": con,
                                              "opportunity_id": opp, "currency": "EUR", "tax_rate": "19",
                                              "custom_fields": {"erp_order_no": f"SO-{sfx}"},
                                              "line_items": [{"product": prod, "name": "Widget",
                                                              "quantity": "500", "unit_price": "50.00"}]})
    est = rid(r, "estimate")
    e = (r or {}).get("estimate") or {}
    check(bool(est), f"estimate id {est}, number {e.get('estimate_number')}, total {e.get('total_amount')}, "
                     f"line product {((e.get('line_items') or [{}])[0]).get('product')}")
    do("GET", f"invoices/estimates/{est}/", label="GET invoices/estimates/{id}/")
    do("GET", "invoices/estimates/?limit=5", label="GET invoices/estimates/")

    # --- case, task, interaction
    _, r = do("POST", "cases/", {"name": f"Broken widget {sfx}", "status": "New", "priority": "High",
                                 "account": acc, "contacts": [con] if con else [], "teams": [],
                                 "assigned_to": [], "custom_fields": {"erp_complaint_no": f"RMA-{sfx}"}})
    case = (r or {}).get("id")
    check(bool(case), f"case id {case}")
    do("GET", f"cases/{case}/", label="GET cases/{id}/")
    do("GET", "cases/?limit=5", label="GET cases/")
    _, r = do("POST", "tasks/", {"title": f"Call Erika {sfx}", "status": "New", "priority": "High",
                                 "account": acc, "contacts": [], "teams": [], "assigned_to": [],
                                 "due_date": "2026-12-01"})
    task = rid(r, "task")
    if not task:  # POST tasks/ answers only {"error": false, "message": ...}: look the id up by title
        _, lst, _ = api.call("GET", f"tasks/?search=Call%20Erika%20{sfx}&limit=100")
        task = next((t["id"] for t in walk_records(lst) if t.get("title") == f"Call Erika {sfx}"), None)
    check(bool(task), f"task id {task} (looked up by title: the create answer has no id)")
    do("GET", f"tasks/{task}/", label="GET tasks/{id}/")
    do("GET", "tasks/?limit=5", label="GET tasks/")
    _, r = do("POST", "interactions/", {"kind": "call", "direction": "outbound", "subject": f"Follow-up {sfx}",
                                        "account": acc})
    inter = (r or {}).get("id")
    check(bool(inter), f"interaction id {inter}")
    code, _, _ = api.call("GET", f"interactions/{inter}/")
    print(f"info GET interactions/{{id}}/ -> {code} (no detail GET; read them through the list)")
    _, r = do("GET", f"interactions/?account={acc}&limit=5", label="GET interactions/?account=")
    check(inter in json.dumps(r), "interaction is in the list filtered by account")

    # --- invalid record: must be a 400 with a field error body
    code, r, _ = api.call("POST", "accounts/", {"email": "not-an-email", "custom_fields": {"credit_limit": "lots"}})
    check(code == 400, f"invalid account -> {code}: {json.dumps(r)[:400]}")
    shapes["POST accounts/ (invalid)"] = r
    code, r, _ = api.call("POST", "accounts/", {"name": f"Bad CF {sfx}", "custom_fields": {"credit_limit": "lots"}})
    check(code == 400, f"invalid custom field value -> {code}: {json.dumps(r)[:400]}")
    shapes["POST accounts/ (invalid custom field)"] = r

    # --- delete (hard). An account with estimates/invoices linked answers 409: delete the estimate first.
    code, r, _ = api.call("DELETE", f"accounts/{acc}/")
    print(f"info DELETE accounts/{{id}}/ with an estimate linked -> {code}: {json.dumps(r)[:200]}")
    do("DELETE", f"invoices/estimates/{est}/", label="DELETE invoices/estimates/{id}/")
    do("DELETE", f"accounts/{acc}/", label="DELETE accounts/{id}/")
    code, _, _ = api.call("GET", f"accounts/{acc}/")
    check(code == 404, f"deleted account GET -> {code}")
    return finish(shapes, shapes_file)


def rid(resp, wrapper):
    """The new record's id: top-level "id" (accounts, contacts, ...) or resp[wrapper]["id"]."""
    if not isinstance(resp, dict):
        return None
    return resp.get("id") or (resp.get(wrapper) or {}).get("id")


def walk_records(obj):
    """Every dict with an "id" anywhere in a list response."""
    if isinstance(obj, dict):
        if "id" in obj:
            yield obj
        for v in obj.values():
            yield from walk_records(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk_records(v)


def find_key(obj, key, depth=0):
    """Find the first value for key anywhere in a nested response (detail GETs wrap objects)."""
    if depth > 4:
        return None
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            found = find_key(v, key, depth + 1)
            if found is not None:
                return found
    return None


def finish(shapes, shapes_file):
    if shapes_file:
        with open(shapes_file, "w") as fh:
            json.dump(shapes, fh, indent=1)
    print(f"{'SMOKE OK' if not FAILED else 'SMOKE FAILED: ' + str(len(FAILED)) + ' check(s)'}")
    return 0 if not FAILED else 1


if __name__ == "__main__":
    sys.exit(main())
