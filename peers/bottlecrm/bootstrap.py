"""Bootstrap a freshly migrated BottleCRM database without human steps.

Run by peer.py with the venv's python, DJANGO_SETTINGS_MODULE=koppel_bottlecrm_settings
and DEBUG=true (devlogin refuses to run otherwise). Steps: devlogin (user) -> org ->
switch-org -> personal access token -> read pipelines and lead sources: the vendor's steps and
nothing of koppel's (the custom fields koppel needs are created by `koppel setup`, as on any
user's BottleCRM). Prints ONE JSON line on stdout (the template record) and exits 0; on any
unexpected answer it prints the response to stderr and exits 1.
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
        "default_pipeline_id": default[0]["id"] if default else None,
        "pipelines": pipelines,
        "lead_sources": lead_sources,
    }))


main()
