"""Tryton's order-to-cash buttons and wizards, outside the connector contract.

Processes (quote -> order) and tests drive a sale through Tryton with these: quote, confirm,
process, ship its shipments, post its invoices, pay an invoice, credit it, move a complaint on.
Each takes Tryton ids as strings, like the rest of the connector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from koppel.connectors.tryton.client import TrytonClient
from koppel.connectors.tryton.config import TrytonSettings
from koppel.errors import UsageError

SHIPPING_STEPS = ("assign_try", "pick", "pack", "do")


def _ints(ids: Sequence[str | int]) -> list[int]:
    return [int(i) for i in ids]


def _form(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A wizard view's defaults without the dotted display values ("company.": {...})."""
    return {k: v for k, v in answer["view"]["defaults"].items() if "." not in k}


class Workflow:
    """Mixed into the connector: needs its `client` and `settings`."""

    client: TrytonClient
    settings: TrytonSettings

    # --- sales --------------------------------------------------------------------------

    def quote(self, sale_ids: Sequence[str]) -> None:
        self.client.accepting("sale.sale", "quote", _ints(sale_ids))

    def confirm(self, sale_ids: Sequence[str]) -> None:
        """Confirm; without a queue worker Tryton processes the sale in the same call."""
        self.client.accepting("sale.sale", "confirm", _ints(sale_ids))

    def process(self, sale_ids: Sequence[str]) -> None:
        self.client.accepting("sale.sale", "process", _ints(sale_ids))

    def sale_documents(self, sale_id: str) -> dict[str, list[str]]:
        """The shipment and invoice ids a sale has produced so far."""
        [row] = self.client.model("sale.sale", "read", [int(sale_id)], ["shipments", "invoices"])
        return {"shipments": [str(i) for i in row.get("shipments") or []],
                "invoices": [str(i) for i in row.get("invoices") or []]}

    # --- shipments and invoices ---------------------------------------------------------

    def ship(self, shipment_ids: Sequence[str]) -> None:
        """Run customer shipments through assign, pick, pack and done."""
        for step in SHIPPING_STEPS:
            self.client.accepting("stock.shipment.out", step, _ints(shipment_ids))

    def post_invoices(self, invoice_ids: Sequence[str]) -> None:
        self.client.accepting("account.invoice", "post", _ints(invoice_ids))

    def pay(self, invoice_id: str, amount: Decimal | None = None) -> None:
        """Record a payment with the `account.invoice.pay` wizard (the whole amount by default)."""
        context = {"active_model": "account.invoice", "active_id": int(invoice_id),
                   "active_ids": [int(invoice_id)]}
        session, _, _ = self.client.call("wizard.account.invoice.pay.create", [])
        try:
            view = self.client.call("wizard.account.invoice.pay.execute",
                                    [session, {}, "start"], context=context)
            start = {**_form(view), "payment_method": self._payment_method()}
            if amount is not None:
                start["amount"] = amount
            result = self.client.call("wizard.account.invoice.pay.execute",
                                      [session, {"start": start}, "choice"], context=context)
            if "ask" in result.get("view", {}).get("state", ""):  # partial: keep the rest open
                ask = {**_form(result), "type": "partial"}
                self.client.call("wizard.account.invoice.pay.execute",
                                 [session, {"start": start, "ask": ask}, "pay"], context=context)
        finally:
            self.client.call("wizard.account.invoice.pay.delete", [session])

    def credit(self, invoice_ids: Sequence[str], *, refund: bool = False) -> list[str]:
        """Credit invoices with the `account.invoice.credit` wizard; the new credit notes' ids."""
        ids = _ints(invoice_ids)
        context = {"active_model": "account.invoice", "active_id": ids[0], "active_ids": ids}
        before = set(self._credit_notes_of(ids))
        session, _, _ = self.client.call("wizard.account.invoice.credit.create", [])
        try:
            view = self.client.call("wizard.account.invoice.credit.execute",
                                    [session, {}, "start"], context=context)
            start = {**_form(view), "with_refund": refund}
            self.client.call("wizard.account.invoice.credit.execute",
                             [session, {"start": start}, "credit"], context=context)
        finally:
            self.client.call("wizard.account.invoice.credit.delete", [session])
        return [str(i) for i in self._credit_notes_of(ids) if i not in before]

    def _credit_notes_of(self, invoice_ids: list[int]) -> list[int]:
        lines = self.client.model("account.invoice.line", "search",
                                  [("invoice", "in", invoice_ids)], 0, None, None)
        origins = [f"account.invoice.line,{i}" for i in lines]
        rows = self.client.model("account.invoice.line", "search_read",
                                 [("origin", "in", origins)], 0, None, None, ["invoice"])
        return sorted({int(r["invoice"]) for r in rows})

    def _payment_method(self) -> int:
        setup: Mapping[str, Any] = self.settings.setup or {}
        if setup.get("payment_method"):
            return int(setup["payment_method"]["id"])
        found = self.client.model("account.invoice.payment.method", "search", [], 0, 1, None)
        if not found:
            raise UsageError("Tryton has no invoice payment method",
                             hint="create one in Tryton (Accounting > Payment Methods, e.g. Cash)")
        return int(found[0])

    # --- complaints ---------------------------------------------------------------------

    def complaint_step(self, complaint_ids: Sequence[str], button: str) -> None:
        """Press a sale.complaint button: wait, approve, reject, process, cancel, draft."""
        self.client.accepting("sale.complaint", button, _ints(complaint_ids))
