"""The Tryton connector's pure parts, no server: quote mapping, finance folding, change paths."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from koppel.connectors.tryton import finance, mapping, quotes
from koppel.connectors.tryton.changes import parents_of
from koppel.connectors.tryton.mapping import Codes, Goods, Lookups, MappingError

TODAY = date(2026, 6, 15)
LK = Lookups(company=1, company_party=1, currency="EUR", currencies=Codes({"EUR": 1, "USD": 2}),
             countries=Codes(), payment_terms=Codes(), contact_relation=1, hidden_parties=frozenset(),
             load_goods=Goods(uoms=Codes({"u": 1}), unit=1, load_category=1, default_payment_term=None,
                              complaint_type=None), price_list=7, web_url="http://erp:8000/#demo")


def _line(debit: str, credit: str, maturity: date | None) -> dict[str, object]:
    return {"party": 5, "debit": Decimal(debit), "credit": Decimal(credit), "maturity_date": maturity}


def test_open_credits_settle_the_oldest_debt_first() -> None:
    lines = [_line("300", "0", date(2026, 5, 1)), _line("200", "0", date(2026, 7, 1)),
             _line("0", "120", None)]
    assert finance.receivables(lines, TODAY) == (Decimal(380), Decimal(180))
    assert finance.receivables([_line("50", "0", TODAY), _line("0", "80", None)], TODAY) == (
        Decimal(-30), Decimal(0)), "due today is not overdue, and overdue never goes negative"


def test_revenue_counts_invoices_minus_credit_notes_by_invoice_year() -> None:
    invoices = [{"party": 5, "invoice_date": date(2026, 1, 3), "company_untaxed": Decimal(100)},
                {"party": 5, "invoice_date": date(2026, 2, 1), "company_untaxed": Decimal(-40)},
                {"party": 5, "invoice_date": date(2025, 12, 31), "company_untaxed": Decimal(70)}]
    facts = finance.account_facts([], invoices, [], [5, 6], "EUR", TODAY)
    assert facts[5]["revenue_this_year"] == {"amount": "60", "currency": "EUR"}
    assert facts[5]["revenue_last_year"] == {"amount": "70", "currency": "EUR"}
    assert facts[6]["open_amount"] == {"amount": "0", "currency": "EUR"}
    assert facts[6]["dunning_level"] is None


def test_foreign_invoices_count_at_their_posting_rate() -> None:
    row = {"untaxed_amount": Decimal(100), "total_amount": Decimal(119)}
    booked = {"lines_to_pay.": [{"debit": Decimal("110.18"), "credit": Decimal(0)}]}
    assert finance.company_untaxed(row, booked) == Decimal("92.59")
    assert finance.company_untaxed(row, None) == Decimal(100)


def test_the_highest_dunning_level_wins() -> None:
    dunnings = [{"level.": {"sequence": 1, "rec_name": "0@Standard"}},
                {"level.": {"sequence": 3, "rec_name": "2@Standard"}}]
    assert finance.highest_level(dunnings) == "2@Standard"
    assert finance.highest_level([]) is None


def test_a_sale_reads_as_a_quote_with_its_order_facts() -> None:
    row = {"id": 9, "reference": "Q-1", "description": "", "party": 5, "state": "processing",
           "currency": 1, "number": "SO-9", "shipment_state": "waiting", "invoice_state": "none",
           "shipments.": [{"planned_date": date(2026, 7, 2), "state": "waiting"},
                          {"planned_date": date(2026, 6, 20), "state": "cancelled"}],
           "lines.": [{"type": "line", "product": 3, "quantity": 2.0, "unit_price": Decimal("81.0000"),
                       "description": "Pump"}, {"type": "comment", "description": "note"}]}
    values = quotes.quote_values(row, LK)
    assert (values["number"], values["title"], values["status"], values["order_number"]) == (
        "Q-1", None, "accepted", "SO-9")
    assert values["planned_ship_date"] == "2026-07-02"
    assert values["erp_link"] == "http://erp:8000/#demo/model/sale.sale/9"
    assert [line["product"] for line in values["lines"]] == ["3"]
    assert [quotes.quote_status(s) for s in ("draft", "quotation", "done", "cancelled")] == [
        "draft", "accepted", "accepted", "declined"]


def test_quote_lines_take_trytons_price_and_taxes() -> None:
    line = {"product": "3", "quantity": "2", "unit_price": {"amount": "999", "currency": "EUR"}}
    answer = {"unit": 1, "unit_price": Decimal("81.0000"), "taxes": {"add": [[0, {"id": 4}]]}}
    vals = quotes.priced_line(line, answer, "EUR")
    assert (vals["unit_price"], vals["taxes"], vals["product"]) == (Decimal(81), [["add", [4]]], 3)
    free = quotes.priced_line({"quantity": "1", "unit_price": {"amount": "120", "currency": "EUR"}},
                              None, "EUR")
    assert free["unit_price"] == Decimal(120) and "product" not in free
    with pytest.raises(MappingError):
        quotes.priced_line({"quantity": "1"}, None, "EUR")


def test_only_an_editable_sale_takes_new_lines() -> None:
    assert quotes.check_editable({"lines": []}, {"state": "quotation"}) is True
    assert quotes.check_editable({"title": "x"}, {"state": "done"}) is False
    with pytest.raises(MappingError, match="only in draft or quotation"):
        quotes.check_editable({"lines": []}, {"state": "confirmed", "number": "SO-1"})


def test_related_rows_point_at_their_parents() -> None:
    assert list(parents_of({"sales": [4, 5]}, "sales")) == [4, 5]
    assert list(parents_of({"outgoing_moves.": [{"sale": 4}, {"sale": None}]},
                           "outgoing_moves.sale")) == [4]
    assert list(parents_of({"origin": "sale.sale,12"}, "origin")) == [12]


def test_the_order_history_lists_each_dated_step_oldest_first() -> None:
    row = {"state": "processing", "number": "SO7", "sale_date": date(2026, 6, 1),
           "shipments.": [{"number": "CS1", "state": "done", "effective_date": date(2026, 6, 3)},
                          {"number": "CS2", "state": "waiting", "planned_date": date(2026, 6, 9)}],
           "shipment_returns.": [{"number": "CR1", "state": "received", "effective_date": date(2026, 6, 12)}],
           "invoices.": [{"number": "INV1", "state": "paid", "invoice_date": date(2026, 6, 4),
                          "reconciled": date(2026, 6, 10), "total_amount": "238.00"},
                         {"number": "CN1", "state": "posted", "invoice_date": date(2026, 6, 13),
                          "reconciled": None, "total_amount": "-119.00"},
                         {"number": None, "state": "draft", "invoice_date": None, "total_amount": "5"}]}
    assert quotes.order_history(row) == "\n".join([
        "2026-06-01 order SO7 processing", "2026-06-03 shipment CS1 done", "2026-06-04 invoice INV1 paid",
        "2026-06-09 shipment CS2 waiting", "2026-06-10 invoice INV1 settled", "2026-06-12 return CR1 received",
        "2026-06-13 credit note CN1 posted"])
    assert quotes.order_history({"state": "quotation"}) is None
    assert quotes.order_history({"state": "cancelled", "number": "SO8", "sale_date": date(2026, 6, 2)}) == \
        "2026-06-02 order SO8 cancelled"


def test_a_price_the_erp_changed_is_noted_never_silent() -> None:
    lines = [({"description": "Pump", "unit_price": {"amount": "85", "currency": "EUR"}},
              {"product": 1, "unit_price": Decimal("90.0000")}),
             ({"description": "Motor", "unit_price": {"amount": "240", "currency": "EUR"}},
              {"product": 2, "unit_price": Decimal("240")})]
    assert quotes.price_note(lines, "EUR") == "Priced by the ERP: line 1 'Pump': 90.0000 EUR instead of 85 quoted"
    assert quotes.price_note(lines[1:], "EUR") is None


def test_a_read_of_some_fields_asks_tryton_for_their_sources_only() -> None:
    from koppel.connectors.tryton.specs import SPECS

    account, contact = SPECS["account"], SPECS["contact"]
    for spec in (account, contact):  # every field a party converts to is named: none reads all by accident
        assert set(spec.readable) <= set(spec.sources) | set(spec.facts)
        assert {p for paths in spec.sources.values() for p in paths} <= set(spec.fields)
    assert account.fields_for({"name"}) == ["name"]
    assert account.fields_for({"postcode", "open_amount"}) == [
        "addresses.street_unstructured", *(f"addresses.{p}" for p in mapping.STREET_PARTS),
        "addresses.postal_code", "addresses.city", "addresses.country"]
    assert contact.fields_for({"account"}) == ["relations.type", "relations.to"]
    assert account.fields_for({"name", "no such field"}) == account.fields, "unknown: read everything"
    assert SPECS["order"].fields_for({"reference"}) == SPECS["order"].fields


def test_an_address_without_street_parts_has_its_unstructured_street() -> None:
    rows = [{"id": 1, "addresses.": [{"id": 10, "street_unstructured": "Werkstr. 5", "postal_code": "80331"},
                                     {"id": 11, "street_unstructured": "", "street_name": "Hafenweg",
                                      "building_number": "12"}]},
            {"id": 2, "addresses.": []}, {"id": 3}]
    asked: list[list[int]] = []

    def streets(ids: list[int]) -> dict[int, str | None]:
        asked.append(ids)
        return {11: "Hafenweg 12"}

    done = mapping.with_streets(rows, streets)
    assert [a["street"] for a in done[0]["addresses."]] == ["Werkstr. 5", "Hafenweg 12"]
    assert asked == [[11]], "Tryton's own street only where a part is set"
    assert mapping.with_streets([{"id": 4, "addresses.": [{"id": 12, "street_unstructured": "A 1"}]}],
                                streets)[0]["addresses."][0]["street"] == "A 1"
    assert asked == [[11]], "no call when no part is set"
