"""Order entry (R7): pick a CRM account and ERP products, see stock, forecast and lead times
with a proposed ship date, and place the order: the Tryton order number and ship date come back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response

from koppel.api.deps import WorkspaceDep
from koppel.errors import UsageError
from koppel.processes.order_entry import OrderLine
from koppel.services import processes
from koppel.web.auth import PageOperator, PageUser
from koppel.web.render import page

router = APIRouter(prefix="/orders", include_in_schema=False)
Texts = Annotated[list[str], Query(max_length=100)]
ROWS = 3  # empty line rows the form offers without script


@dataclass(frozen=True)
class ProductChoice:
    crm_id: str
    name: str
    code: str | None
    price: Any


@router.get("/new")
def order_form(request: Request, ws: WorkspaceDep, user: PageUser, account: str = "",
               product: Texts = [], quantity: Texts = [],  # noqa: B006
               requested_date: Annotated[str, Query(max_length=10)] = "",
               reference: Annotated[str, Query(max_length=100)] = "", check: bool = False) -> Response:
    """The form; with `check`, the ERP's availability for the lines and the proposed ship date."""
    lines, wanted = _lines(product, quantity), _date(requested_date)
    report = None
    if check and lines:
        report = processes.availability(ws, [li.product for li in lines], [li.quantity for li in lines],
                                        requested_date=wanted)
    with ws.peers():
        # a CRM quote is placed for a CRM account: the ERP's uncoupled customers are not read
        accounts = [a for a in ws.view.accounts(None, include_uncoupled=True, uncoupled_from=("crm",), limit=5000)
                    if a.crm_id]
    accounts.sort(key=lambda a: (a.name or "").casefold())
    rows = [(li.product, str(li.quantity)) for li in lines] + [("", "1")] * max(1, ROWS - len(lines))
    return page(request, ws.runtime, user, "order_entry.html", accounts=accounts, products=_products(ws),
                account=account, rows=rows, requested_date=wanted, reference=reference,
                report=report, checked=check, submission=uuid.uuid4().hex)


@router.post("")
def place(request: Request, ws: WorkspaceDep, user: PageOperator, account: Annotated[str, Form(max_length=200)],
          product: Annotated[list[str], Form()], quantity: Annotated[list[str], Form()],
          requested_date: Annotated[str, Form(max_length=10)] = "",
          reference: Annotated[str, Form(max_length=100)] = "",
          submission: Annotated[str, Form(max_length=100)] = "") -> Response:
    if not account:
        raise UsageError("choose the customer's CRM account", hint="pick one in the first field")
    lines = _lines(product, quantity)
    if not lines:
        raise UsageError("an order needs at least one product line", hint="choose a product and a quantity")
    placed = processes.place_order(ws, user.name, account, lines, requested_date=_date(requested_date),
                                   reference=reference or None, idempotency_key=submission or None)
    return page(request, ws.runtime, user, "order_placed.html", placed=placed, names=_names(ws))


def _lines(products: list[str], quantities: list[str]) -> list[OrderLine]:
    """The filled rows of the form as order lines (a row without a product is left out)."""
    lines = []
    for number, (product, quantity) in enumerate(zip(products, quantities, strict=False), 1):
        if not product.strip():
            continue
        try:
            amount = Decimal(quantity.strip() or "0")
        except InvalidOperation:
            raise UsageError(f"line {number}: {quantity!r} is not a quantity", hint="enter a number such as 2") from None
        if amount <= 0:
            raise UsageError(f"line {number}: the quantity must be more than 0", hint="enter a number such as 2")
        lines.append(OrderLine(product=product.strip(), quantity=amount))
    return lines


def _date(text: str) -> date | None:
    """The form's date field: empty means none asked for."""
    try:
        return date.fromisoformat(text) if text.strip() else None
    except ValueError:
        raise UsageError(f"{text!r} is not a date", hint="use the date picker or YYYY-MM-DD") from None


def _products(ws: WorkspaceDep) -> list[ProductChoice]:
    """Products the CRM holds as coupled ERP products (order entry needs both ids)."""
    found = [ProductChoice(link.crm_id, str(link.snapshot.get("name") or link.crm_id), link.snapshot.get("code"),
                           link.snapshot.get("list_price")) for link in ws.runtime.store.links.all("product")]
    return sorted(found, key=lambda p: p.name.casefold())


def _names(ws: WorkspaceDep) -> dict[str, str]:
    return {p.crm_id: p.name for p in _products(ws)}
