"""What koppel needs in a Tryton database: the modules whose records it maps (activated by an
administrator with `trytond-admin`), the party relation type that makes a party a contact person
of a company, and a complaint type for complaints about sales (both created by `koppel setup`).
"""

from __future__ import annotations

from collections.abc import Sequence

from koppel.connectors.base import Requirement
from koppel.connectors.tryton import lookups
from koppel.connectors.tryton.client import TrytonClient
from koppel.connectors.tryton.config import TrytonSettings

#: module -> the canonical entities or "entity.field"s it stores
MODULES: dict[str, tuple[str, ...]] = {
    "party": ("account", "contact"),
    "party_relationship": ("contact.account",),
    "product": ("product",),
    "sale": ("quote", "order"),
    "stock": ("shipment",),
    "account_invoice": ("invoice", "credit_note", "payment", "account.payment_term"),
    "account_dunning": ("account.dunning_level",),
    "account_credit_limit": ("account.credit_limit",),
    "sale_complaint": ("case",),
}
#: complaint types koppel needs: about a sale, and about one of its lines (a product)
COMPLAINT_TYPES = {"sale.sale": "Complaint about a sale", "sale.line": "Complaint about a sale line"}


def requirements(client: TrytonClient, settings: TrytonSettings) -> list[Requirement]:
    active = _activated(client)
    found = [_module(name, stores, name in active, settings) for name, stores in MODULES.items()]
    relation = lookups.contact_relation(client, settings.contact_relation)
    found.append(Requirement("relation type", settings.contact_relation, frozenset({"contact.account"}),
                             relation is not None, "party relation type, with its reverse",
                             creatable="party_relationship" in active))
    if "sale_complaint" in active:
        for origin, name in COMPLAINT_TYPES.items():
            kind = lookups.complaint_type(client, origin)
            found.append(Requirement("complaint type", name, frozenset({"case"}), kind is not None,
                                     f"sale.complaint.type whose origin is a {origin}"))
    return found


def provision(client: TrytonClient, settings: TrytonSettings, missing: Sequence[Requirement]
              ) -> list[Requirement]:
    wanted = {(r.kind, r.name) for r in missing if r.creatable and not r.present}
    if ("relation type", settings.contact_relation) in wanted:
        _create_relation_type(client, settings.contact_relation)
    for model, name in COMPLAINT_TYPES.items():
        if ("complaint type", name) in wanted:
            [origin] = client.model("ir.model", "search", [("name", "=", model)], 0, 1, None)
            client.model("sale.complaint.type", "create", [{"name": name, "origin": origin}])
    return [r for r in requirements(client, settings) if (r.kind, r.name) in wanted]


def _activated(client: TrytonClient) -> set[str]:
    rows = client.model("ir.module", "search_read", [("name", "in", sorted(MODULES))], 0, None, None,
                        ["name", "state"])
    return {str(r["name"]) for r in rows if r.get("state") == "activated"}


def _module(name: str, stores: tuple[str, ...], present: bool, settings: TrytonSettings) -> Requirement:
    return Requirement("module", name, frozenset(stores), present, "Tryton module", creatable=False,
                       hint=f"an administrator activates it: `trytond-admin -c trytond.conf -d "
                            f"{settings.database} -u {name} --activate-dependencies`")


def _create_relation_type(client: TrytonClient, name: str) -> None:
    [forward] = client.model("party.relation.type", "create", [{"name": name}])
    [reverse] = client.model("party.relation.type", "create",
                             [{"name": f"{name} (reverse)", "reverse": forward}])
    client.model("party.relation.type", "write", [forward], {"reverse": reverse})
