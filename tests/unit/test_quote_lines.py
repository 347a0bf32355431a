"""R5: an accepted quote's lines become lines for ERP products, by the CRM's product link, a
product code in the line, or the exact product name; a line that finds none holds the whole quote,
never a partial order. What is synced stays the quote as the CRM holds it."""

from __future__ import annotations

from typing import Any

from koppel.testing.builders import Pair, make_pair, policy_with


def catalogue(pair: Pair) -> dict[str, str]:
    products = {"pump": ("Hydraulic pump", "HP-1"), "motor": ("Gear motor", "GM-2"), "valve": ("Valve block", "VB-3")}
    ids = {k: pair.erp.put("product", {"name": n, "code": c, "list_price": {"amount": "10", "currency": "EUR"}})
           for k, (n, c) in products.items()}
    pair.engine.sync(["product"])
    return ids


def accepted_quote(pair: Pair, lines: list[dict[str, Any]]) -> str:
    account = pair.crm.put("account", {"name": "NewCo AG", "status": "prospect", "postcode": "1000"})
    return pair.crm.put("quote", {"number": "Q-1", "account": account, "status": "accepted", "lines": [
        {"quantity": "2", "unit_price": {"amount": "9", "currency": "EUR"}, **line} for line in lines]})


def test_lines_find_their_products_by_link_code_and_name(pair: Pair) -> None:
    ids = catalogue(pair)
    linked = pair.store.links.by_ids("product", "erp", [ids["valve"]])[ids["valve"]].crm_id
    quote = accepted_quote(pair, [{"description": "Hydraulic pump"}, {"description": "2x GM-2 as discussed"},
                                  {"description": "Valve", "product": linked}])
    report = pair.engine.sync()
    assert report.status == "ok", report.message
    [sale] = pair.erp.ids("quote")
    assert [line["product"] for line in pair.erp.get("quote", sale)["lines"]] == [
        ids["pump"], ids["motor"], ids["valve"]]
    assert pair.engine.sync().total("violations") == 0  # the CRM's lines, as handed over, are no edit
    assert pair.crm.get("quote", quote)["lines"][0].get("product") is None


def test_a_line_no_product_matches_holds_the_whole_quote_until_it_is_fixed(pair: Pair) -> None:
    catalogue(pair)
    quote = accepted_quote(pair, [{"description": "Hydraulic pump"}, {"description": "Hydraulc pmp"}])
    pair.engine.sync()
    assert pair.erp.ids("quote") == [] and pair.erp.ids("account") == []
    [held] = [e for e in pair.store.errors.list("held") if e.entity == "quote"]
    assert "line 2 'Hydraulc pmp' matches no ERP product" in held.message
    lines = pair.crm.get("quote", quote)["lines"]
    pair.crm.put("quote", {"lines": [lines[0], {**lines[1], "description": "Hydraulic pump"}]}, quote)
    pair.engine.sync()
    pair.engine.sync()
    assert len(pair.erp.ids("quote")) == 1


def test_two_products_with_the_name_are_no_match() -> None:
    pair = make_pair()
    catalogue(pair)
    pair.erp.put("product", {"name": "Hydraulic pump", "code": "HP-9", "list_price": {"amount": "1", "currency": "EUR"}})
    accepted_quote(pair, [{"description": "Hydraulic pump"}])
    pair.engine.sync()
    assert pair.erp.ids("quote") == []


def test_free_text_lines_go_as_they_are_when_the_policy_allows_it() -> None:
    pair = make_pair(policy_with(policy={"quote": {"free_text_lines": True}}))
    catalogue(pair)
    accepted_quote(pair, [{"description": "Installation on site"}, {"description": "HP-1"}])
    pair.engine.sync()
    [sale] = pair.erp.ids("quote")
    free, coded = pair.erp.get("quote", sale)["lines"]
    assert free.get("product") is None and coded["product"] is not None
