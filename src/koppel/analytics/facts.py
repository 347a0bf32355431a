"""The facts analytics compute on (R9), read once through the engine's connectors and links.

`RevenueFact` is one posted ERP invoice or credit note, already tied to its CRM account and
owner; the computations in revenue.py, evolution.py and customer_value.py take lists of these
(plain data) and never do I/O themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from koppel.connectors.base import CompanyFacts, Connector, InvoiceFact, InvoiceSource, OwnerSource
from koppel.engine import Engine
from koppel.errors import Unsupported

UNASSIGNED = "unassigned"


class RevenueFact(BaseModel):
    """One posted customer invoice (positive) or credit note (negative), untaxed, company currency."""

    model_config = ConfigDict(frozen=True)
    erp_account: str
    account: str | None  # the CRM account id (None: not coupled)
    name: str
    owner: str = UNASSIGNED
    day: date
    amount: Decimal
    cost: Decimal = Decimal(0)  # cost of goods sold on it
    document: str | None = None

    @property
    def key(self) -> str:
        """The account as reports name it: its CRM id, else the ERP's."""
        return self.account or f"erp:{self.erp_account}"


class ActivityCount(BaseModel):
    model_config = ConfigDict(frozen=True)
    tasks: int = 0
    cases: int = 0


def revenue_facts(invoices: Sequence[InvoiceFact], crm_ids: Mapping[str, str],
                  owners: Mapping[str, str | None]) -> list[RevenueFact]:
    """ERP invoices tied to CRM accounts (through links) and their owners (pure)."""
    facts = []
    for inv in invoices:
        account = crm_ids.get(inv.party)
        owner = (owners.get(account) if account else None) or UNASSIGNED
        facts.append(RevenueFact(erp_account=inv.party, account=account, name=inv.party_name,
                                 owner=owner, day=inv.invoice_date, amount=inv.untaxed,
                                 cost=inv.cost, document=inv.number))
    return facts


def read_revenue_facts(engine: Engine, start: date, end: date) -> list[RevenueFact]:
    """Posted invoices and credit notes dated from `start` to `end`, with CRM account and owner."""
    erp = engine.connectors["erp"]
    if not isinstance(erp, InvoiceSource):
        raise Unsupported(f"the ERP connector {erp.name!r} does not list invoices for analytics",
                         hint="revenue analytics need an ERP connector with `invoice_facts` (Tryton)")
    invoices = erp.invoice_facts(start, end)
    links = engine.store.links.by_ids("account", "erp", sorted({i.party for i in invoices}))
    crm_ids = {party: link.crm_id for party, link in links.items()}
    return revenue_facts(invoices, crm_ids, account_owners(engine.connectors["crm"]))


def account_owners(crm: Connector) -> dict[str, str | None]:
    """CRM account id -> owner, where the CRM connector can say (BottleCRM: assigned user)."""
    return crm.account_owners() if isinstance(crm, OwnerSource) else {}


def activity_counts(crm: Connector) -> dict[str, ActivityCount]:
    """Tasks and cases per CRM account (one full read of each)."""
    counts: dict[str, Counter[str]] = {}
    for entity, kind in (("activity", "tasks"), ("case", "cases")):
        for batch in crm.read_changes(entity, None):
            for record in batch.records:
                account: Any = getattr(record.record, "account", None)
                if account:
                    counts.setdefault(str(account), Counter())[kind] += 1
    return {a: ActivityCount(tasks=c["tasks"], cases=c["cases"]) for a, c in counts.items()}


def company_currency(engine: Engine) -> str:
    erp = engine.connectors["erp"]
    return erp.company_currency() if isinstance(erp, CompanyFacts) else "EUR"
