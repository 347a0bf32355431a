"""Handoffs that are more than field copies, made ready before they are written to the ERP.

- R5: each line of an accepted quote becomes a line for an ERP product, found by the rules of
  `[policy.quote] line_match` (the CRM line's product link, a product code in its text, its exact
  product name). A line that finds no product, or several, holds the whole quote: never a partial
  order. `free_text_lines = true` lets such lines go as free text instead.
- R10: a complaint names the order it is about: the case's own quote or order, else the one order
  its account has in the ERP; else it waits, naming the CRM field to fill.

What is synced (the snapshot) stays the quote as the CRM holds it; only what is written differs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from koppel.engine.plan import Create, Hold, Plan

if TYPE_CHECKING:
    from koppel.engine.executor import Executor
    from koppel.engine.sync import Engine

#: a product code in a line's text: a word with a digit in it ("HP-1", "P-003", "4711")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*\d[A-Za-z0-9._/-]*")


def prepare(engine: Engine, entity: str, plan: Plan, executor: Executor,
            records: Mapping[str, Mapping[str, Any]]) -> None:
    """Make the plan's creates for the ERP complete, or hold them with what to do. `records` are
    the batch's records (engine form) by id: a quote still waiting for its prospect is checked
    too, so that a quote that cannot become an order does not make its prospect a customer."""
    if entity == "quote":
        _quote_lines(engine, plan, executor, records)
    elif entity == "case":
        _complaint_orders(engine, plan, executor)


# --- R5: quote lines to ERP products ---------------------------------------------------------


def _quote_lines(engine: Engine, plan: Plan, executor: Executor, records: Mapping[str, Mapping[str, Any]]
                 ) -> None:
    rules = engine.policy.rules("quote")
    waiting = [h.source_id for h in plan.holds if h.missing and h.source_id in records]
    quotes = {c.source_id: c.values for c in plan.creates} | {i: records[i] for i in waiting}
    lines = [(i, n, line) for i, values in quotes.items() for n, line in enumerate(values.get("lines") or [], 1)]
    found: dict[tuple[str, int], str | None] = {}
    for rule in rules.line_match:
        todo = [(i, n, line) for i, n, line in lines if (i, n) not in found]
        found.update(_by_rule(engine, executor, rule, todo))
    held: dict[str, list[str]] = {}
    for quote, n, line in lines:
        if found.get((quote, n)) is None and not rules.free_text_lines:
            held.setdefault(quote, []).append(_unresolved(n, line))
    why = {i: "; ".join(problems) + ": give the line the product's exact ERP name or code (or link the "
              "product) where the CRM still lets the quote change, or give an ERP product that name, then "
              "retry; nothing is ordered until every line has its product" for i, problems in held.items()}
    # a quote that cannot become an order is no first order: it no longer waits for its prospect
    plan.holds = [replace(h, reason=why[h.source_id], missing=()) if h.source_id in why else h
                  for h in plan.holds]
    plan.holds += [Hold("quote", c.source, c.source_id, why[c.source_id], waiting=True)
                   for c in plan.creates if c.source_id in why]
    plan.creates = [_with_products(c, found) for c in plan.creates if c.source_id not in why]


def _by_rule(engine: Engine, executor: Executor, rule: str, todo: Sequence[tuple[str, int, Any]]
             ) -> dict[tuple[str, int], str | None]:
    """The ERP product of each line this rule settles (None: the rule found several)."""
    if rule == "link":
        return {(i, n): line["product"] for i, n, line in todo if line.get("product") is not None}
    asks = [(i, n, key) for i, n, line in todo for key in _keys(rule, line)]
    if not asks:
        return {}
    ids = executor.call("erp", engine.connectors["erp"].find, "product", [key for _, _, key in asks])
    hits: dict[tuple[str, int], set[str]] = {}
    for (i, n, _), product in zip(asks, ids, strict=True):
        if product is not None:
            hits.setdefault((i, n), set()).add(product)
    return {key: next(iter(products)) if len(products) == 1 else None for key, products in hits.items()}


def _keys(rule: str, line: Mapping[str, Any]) -> list[dict[str, str]]:
    text = str(line.get("description") or "").strip()
    if not text:
        return []
    if rule == "code":
        return [{"code": code} for code in dict.fromkeys(_CODE.findall(text))]
    return [{"name": text}]


def _unresolved(n: int, line: Mapping[str, Any]) -> str:
    return f"line {n} {str(line.get('description') or '')!r} matches no ERP product (or several)"


def _with_products(create: Create, found: Mapping[tuple[str, int], str | None]) -> Create:
    lines = [{**line, "product": found.get((create.source_id, n), line.get("product"))}
             for n, line in enumerate(create.values.get("lines") or [], 1)]
    return replace(create, write_values={**(create.write_values or create.values), "lines": lines})


# --- R10: the order a complaint is about -----------------------------------------------------


def _complaint_orders(engine: Engine, plan: Plan, executor: Executor) -> None:
    lacking = [c for c in plan.creates if not (c.values.get("order") or c.values.get("quote"))
               and isinstance(c.values.get("account"), int)]
    if not lacking or "order" not in engine.connectors["erp"].discover():
        return
    accounts = engine.store.links.ids_on("erp", [c.values["account"] for c in lacking])
    found = executor.call("erp", engine.connectors["erp"].find, "order",
                          [{"account": accounts[c.values["account"]]} for c in lacking])
    label = engine.connectors["crm"].discover()["case"].labels.get("quote", "quote")
    chosen = {c.source_id: order for c, order in zip(lacking, found, strict=True)}
    plan.holds += [Hold("case", c.source, c.source_id, "a complaint needs the order it is about, and the "
                        f"account has none or several in the ERP: fill the case's {label} in the CRM",
                        waiting=True) for c in lacking if chosen[c.source_id] is None]
    plan.creates = [replace(c, write_values={**(c.write_values or c.values), "order": chosen[c.source_id]})
                    if c.source_id in chosen else c
                    for c in plan.creates if chosen.get(c.source_id, "") is not None]
