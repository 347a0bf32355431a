"""Turns canonical write batches into Tryton create/write calls, one entity kind per class.

`prepare` maps each op to Tryton values (reading what it needs in one batch: current child
rows, product facts, party addresses); a MappingError there stays with its op. `commit` sends a
prepared batch in as few calls as possible. The connector retries a failed batch one op at a
time, so both must accept any subset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from koppel.connectors.base import WriteOp
from koppel.connectors.tryton import mapping as m
from koppel.connectors.tryton import mapping_docs as d
from koppel.connectors.tryton import quotes as q
from koppel.connectors.tryton.client import RpcError, TrytonClient
from koppel.connectors.tryton.mapping import Lookups, MappingError, Row, Vals
from koppel.errors import RecordError

Prepared = list[tuple[WriteOp, Vals | MappingError]]
ALL = {"active_test": False}


class Writer:
    """Default: one model, values mapped without looking at the current record."""

    model = ""
    fields: ClassVar[list[str]] = []
    #: the field a create keeps koppel's key of its source in (`WriteOp.ref`), if the model has one
    reference: ClassVar[str | None] = None

    def __init__(self, client: TrytonClient, lookups: Lookups) -> None:
        self.client, self.lk = client, lookups

    def prepare(self, ops: Sequence[WriteOp]) -> Prepared:
        current = self.current([int(op.id) for op in ops if op.id is not None])
        prepared: Prepared = []
        for op in ops:
            try:
                row = current.get(int(op.id), {}) if op.id is not None else {}
                vals = self.vals(op.values, row, creating=op.id is None)
                if op.id is None and op.ref and self.reference:
                    vals[self.reference] = op.ref
                prepared.append((op, vals))
            except (MappingError, ValueError, TypeError) as exc:
                prepared.append((op, exc if isinstance(exc, MappingError) else MappingError(str(exc))))
        return prepared

    def current(self, ids: list[int]) -> dict[int, Row]:
        if not ids or not self.fields:
            return {}
        rows = self.client.model(self.model, "read", ids, self.fields, context=ALL)
        return {int(r["id"]): r for r in rows}

    def vals(self, values: Mapping[str, Any], current: Row, *, creating: bool) -> Vals:
        raise NotImplementedError

    def create(self, vals: list[Vals]) -> list[int]:
        return [int(i) for i in self.client.model(self.model, "create", vals)]

    def update(self, pairs: list[tuple[int, Vals]]) -> None:
        args: list[Any] = []
        for record_id, vals in pairs:
            args += [[record_id], vals]
        if args:
            self.client.model(self.model, "write", *args)

    def delete(self, ids: list[int]) -> None:
        self.client.model(self.model, "delete", ids)

    def finish(self, ids: list[int]) -> dict[int, RecordError]:
        """Work done on records just created (they stay created): the errors per id."""
        return {}

    def first_addresses(self, parties: set[int]) -> dict[int, int]:
        rows = self.client.model("party.address", "search_read", [("party", "in", sorted(parties))],
                                 0, None, [["sequence", "ASC"], ["id", "ASC"]], ["party"])
        first: dict[int, int] = {}
        for row in rows:
            first.setdefault(int(row["party"]), int(row["id"]))
        return first


class PartyWriter(Writer):
    model = "party.party"
    fields: ClassVar[list[str]] = m.PARTY_FIELDS

    def __init__(self, client: TrytonClient, lookups: Lookups, entity: str) -> None:
        super().__init__(client, lookups)
        self.entity = entity

    def vals(self, values: Mapping[str, Any], current: Row, *, creating: bool) -> Vals:
        if creating and self.entity == "contact" and not values.get("account"):
            raise MappingError("a contact person in Tryton is a party related to its company; "
                               "give it an account")
        return m.party_vals(self.entity, values, current, self.lk)


class ProductWriter(Writer):
    """A product is a template (name, price, unit) with one variant (code, cost price)."""

    model = "product.product"
    fields: ClassVar[list[str]] = ["template"]

    def vals(self, values: Mapping[str, Any], current: Row, *, creating: bool) -> Vals:
        if creating:
            return m.new_template_vals(values, self.lk)
        return {"template": current["template"], "template_vals": m.template_vals(values, self.lk),
                "variant_vals": m.variant_vals(values, self.lk)}

    def create(self, vals: list[Vals]) -> list[int]:
        templates = self.client.model("product.template", "create", vals)
        rows = self.client.model(self.model, "search_read", [("template", "in", templates)],
                                 0, None, [["id", "ASC"]], ["template"], context=ALL)
        variant = {int(r["template"]): int(r["id"]) for r in rows}
        return [variant[int(t)] for t in templates]

    def update(self, pairs: list[tuple[int, Vals]]) -> None:
        templates = [([v["template"]], v["template_vals"]) for _, v in pairs if v["template_vals"]]
        variants = [([i], v["variant_vals"]) for i, v in pairs if v["variant_vals"]]
        for model, groups in (("product.template", templates), (self.model, variants)):
            if groups:
                self.client.model(model, "write", *[x for g in groups for x in g])

    def delete(self, ids: list[int]) -> None:
        """Delete the variants (so ir.model.log records them), then templates left empty."""
        rows = self.client.model(self.model, "read", ids, ["template"], context=ALL)
        templates = sorted({int(r["template"]) for r in rows})
        self.client.model(self.model, "delete", ids)
        left = self.client.model(self.model, "search_read", [("template", "in", templates)],
                                 0, None, None, ["template"], context=ALL)
        empty = sorted(set(templates) - {int(r["template"]) for r in left})
        if empty:
            self.client.model("product.template", "delete", empty)


class SaleWriter(Writer):
    """Sales are created in draft; their lines carry product, unit, price and taxes."""

    model = "sale.sale"
    fields: ClassVar[list[str]] = ["lines", "party"]

    def prepare(self, ops: Sequence[WriteOp]) -> Prepared:
        values = [op.values for op in ops]
        self.facts = self._facts({int(line["product"]) for v in values
                                  for line in v.get("lines") or [] if line.get("product")})
        self.addresses = self.first_addresses({int(v["account"]) for v in values if v.get("account")})
        return super().prepare(ops)

    def vals(self, values: Mapping[str, Any], current: Row, *, creating: bool) -> Vals:
        party = values.get("account") if "account" in values else current.get("party")
        address = self.addresses.get(int(party)) if party and (creating or "account" in values) else None
        vals = d.sale_vals(values, self.lk, self.facts, address, creating=creating)
        if "lines" in vals and not creating:
            vals["lines"] = [["delete", list(current.get("lines") or [])], *vals["lines"]]
        return vals

    def _facts(self, products: set[int]) -> dict[int, d.ProductFacts]:
        if not products:
            return {}
        rows = self.client.model("product.product", "read", sorted(products),
                                 ["sale_uom", "default_uom", "list_price_used", "account_category"],
                                 context=ALL)
        categories = {int(r["account_category"]) for r in rows if r.get("account_category")}
        taxes = {int(c["id"]): tuple(c.get("customer_taxes_used") or ()) for c in self.client.model(
            "product.category", "read", sorted(categories), ["customer_taxes_used"])}
        return {int(r["id"]): d.ProductFacts(
            int(r.get("sale_uom") or r["default_uom"]), Decimal(r.get("list_price_used") or 0),
            taxes.get(int(r.get("account_category") or 0), ())) for r in rows}


class QuoteWriter(Writer):
    """A handed-over quote becomes a sale priced by Tryton, then quoted and confirmed.

    Prices come from `sale.line.on_change` with the customer's sale price list (or the
    default one); Tryton's warnings on quote and confirm are accepted, its errors leave the
    sale where it stopped and are reported with its id.
    """

    model = "sale.sale"
    fields: ClassVar[list[str]] = ["state", "number", "lines", "party", "currency", "price_list"]
    STEPS = ("quote", "confirm")

    def __init__(self, client: TrytonClient, lookups: Lookups) -> None:
        super().__init__(client, lookups)
        self.ship_dates: dict[int, Any] = {}  # sale id -> the shipping date it was created with
        self.requote: set[int] = set()  # sales in quotation that go back to draft for an edit

    def prepare(self, ops: Sequence[WriteOp]) -> Prepared:
        parties = {int(op.values["account"]) for op in ops
                   if str(op.values.get("account") or "").isdigit()}
        self.customers = self._customers(parties)
        self.prices: dict[tuple[Any, ...], Any] = {}
        return super().prepare(ops)

    def vals(self, values: Mapping[str, Any], current: Row, *, creating: bool) -> Vals:
        if not creating and q.check_editable(values, current):
            self.requote.add(int(current["id"]))
        if creating and not values.get("account"):
            raise MappingError("a Tryton sale needs a customer (account)")
        customer = None
        if "account" in values:
            customer = self.customers.get(int(values["account"] or 0))
            if customer is None:
                raise MappingError(f"Tryton has no customer (party) {values['account']}")
        lines = self._lines(values, current, customer) if "lines" in values else None
        vals = q.quote_sale_vals(values, current, self.lk, customer, lines, creating=creating)
        if creating and lines:
            note = q.price_note(list(zip(values["lines"], lines, strict=True)),
                                values.get("currency") or self.lk.currency)
            if note:
                vals["comment"] = note
        return vals

    def update(self, pairs: list[tuple[int, Vals]]) -> None:
        """Sales in quotation go back to draft for new lines, then are quoted again."""
        requote = [i for i, _ in pairs if i in self.requote]
        if requote:
            self.client.model(self.model, "draft", requote)
        try:
            super().update(pairs)
        finally:
            if requote:
                self.client.accepting(self.model, "quote", requote)

    def create(self, vals: list[Vals]) -> list[int]:
        ids = super().create(vals)
        self.ship_dates.update((i, v["shipping_date"]) for i, v in zip(ids, vals, strict=True)
                               if v.get("shipping_date"))
        return ids

    def finish(self, ids: list[int]) -> dict[int, RecordError]:
        errors: dict[int, RecordError] = {}
        for step in self.STEPS:
            errors.update(self._step(step, [i for i in ids if i not in errors]))
        for sale in [i for i in ids if i in self.ship_dates and i not in errors]:
            self._replan(sale, self.ship_dates[sale])
        return errors

    def _replan(self, sale: int, ship_date: Any) -> None:
        """Tryton plans a product without lead time for today whatever the sale's shipping
        date; shipments planned before the promised date are moved to it (draft, plan, wait)."""
        [sold] = self.client.model(self.model, "read", [sale], ["shipments"], context=ALL)
        rows = self.client.model("stock.shipment.out", "search_read", [
            ("id", "in", sold.get("shipments") or []), ("state", "in", ["draft", "waiting"]),
            ("planned_date", "<", ship_date)], 0, None, None, ["state"], context=ALL)
        waiting = [int(r["id"]) for r in rows if r["state"] == "waiting"]
        if not rows:
            return
        if waiting:
            self.client.model("stock.shipment.out", "draft", waiting)
        self.client.model("stock.shipment.out", "write", [int(r["id"]) for r in rows],
                          {"planned_date": ship_date})
        if waiting:
            self.client.accepting("stock.shipment.out", "wait", waiting)

    def _step(self, step: str, ids: list[int]) -> dict[int, RecordError]:
        """Press a sale button on all ids at once; when Tryton refuses, on each one alone."""
        if not ids:
            return {}
        try:
            self.client.accepting(self.model, step, ids)
            return {}
        except RecordError as exc:
            if len(ids) > 1:
                return {k: e for i in ids for k, e in self._step(step, [i]).items()}
            return {ids[0]: RecordError(
                f"Tryton made sale {ids[0]} for the quote but refused to {step} it: {exc.message}",
                system=exc.system, hint="the sale waits in Tryton: fix and confirm it there; "
                "a retry of this create couples it by the quote number")}

    def _lines(self, values: Mapping[str, Any], current: Row, customer: q.Customer | None
               ) -> list[Vals]:
        party = int(values["account"]) if customer is not None else int(current["party"])
        price_list = customer.price_list if customer is not None else current.get("price_list")
        code = values.get("currency") or self.lk.currencies.code_of(current.get("currency")) \
            or self.lk.currency
        currency = self.lk.currencies.id_of(code, "currency")
        return [q.priced_line(line, self._price(line, party, currency, price_list) if line.get(
            "product") else None, code) for line in values["lines"]]

    def _price(self, line: Mapping[str, Any], party: int, currency: int | None,
               price_list: int | None) -> Any:
        request = q.price_request(line, party, currency, price_list, self.lk)
        key = (request["product"], request["quantity"], party, currency, price_list)
        if key not in self.prices:
            try:
                self.prices[key] = self.client.model("sale.line", "on_change", request, ["product"])
            except RpcError as exc:
                raise MappingError(f"Tryton cannot price product {line['product']}: "
                                   f"{exc.message}") from exc
        return self.prices[key]

    def _customers(self, parties: set[int]) -> dict[int, q.Customer]:
        if not parties:
            return {}
        rows = self.client.model("party.party", "search_read", [("id", "in", sorted(parties))],
                                 0, None, None, ["sale_price_list", "customer_payment_term"],
                                 context=ALL)
        addresses = self.first_addresses(parties)
        return {int(r["id"]): q.Customer(r.get("sale_price_list") or self.lk.price_list,
                                         r.get("customer_payment_term") or self.lk.goods.default_payment_term,
                                         addresses.get(int(r["id"])))
                for r in rows}


class ComplaintWriter(Writer):
    """A CRM complaint becomes a sale.complaint about its order, or about the order's line of the
    product the case names (by code or name, when exactly one product of the order is named)."""

    model = "sale.complaint"
    fields: ClassVar[list[str]] = ["description"]
    reference: ClassVar[str | None] = "reference"

    def prepare(self, ops: Sequence[WriteOp]) -> Prepared:
        sales = sorted({int(str(s)) for op in ops if op.id is None
                        for s in [op.values.get("order") or op.values.get("quote")] if str(s or "").isdigit()})
        self.lines: dict[int, list[Row]] = {}
        if sales:
            for row in self.client.model("sale.line", "search_read", [("sale", "in", sales), ("type", "=", "line")],
                                         0, None, [["id", "ASC"]], ["sale", "product.code", "product.name"],
                                         context=ALL):
                self.lines.setdefault(int(row["sale"]), []).append(row)
        return super().prepare(ops)

    def vals(self, values: Mapping[str, Any], current: Row, *, creating: bool) -> Vals:
        sale = values.get("order") or values.get("quote")
        line = self._named_line(values, int(str(sale))) if creating and str(sale or "").isdigit() else None
        return d.complaint_vals(values, current, self.lk, creating=creating, sale_line=line)

    def _named_line(self, values: Mapping[str, Any], sale: int) -> int | None:
        said = f"{values.get('subject') or ''} {values.get('description') or ''}".casefold()
        named: dict[str, int] = {}
        for row in self.lines.get(sale, []):
            product = row.get("product.") or {}
            names = [str(product.get(k) or "").casefold() for k in ("code", "name")]
            if any(n and n in said for n in names):
                named.setdefault(str(product.get("id") or row["id"]), int(row["id"]))
        return next(iter(named.values())) if len(named) == 1 else None


def writer_for(entity: str, client: TrytonClient, lookups: Lookups) -> Writer | None:
    if entity in ("account", "contact"):
        return PartyWriter(client, lookups, entity)
    kinds: dict[str, type[Writer]] = {"product": ProductWriter, "order": SaleWriter,
                                      "quote": QuoteWriter, "case": ComplaintWriter}
    kind = kinds.get(entity)
    return kind(client, lookups) if kind else None
