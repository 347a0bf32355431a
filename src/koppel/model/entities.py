"""The canonical business entities koppel speaks: one vocabulary for every connector.

Connectors translate their system's records to and from these; policy and processes are
written against these names only.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from koppel.model.base import Amount, Entity, Money, Record, RefTo

# references hold the id of the referenced record in the system the record came from
AccountRef = Annotated[str | None, RefTo("account")]
ContactRef = Annotated[str | None, RefTo("contact")]
InvoiceRef = Annotated[str | None, RefTo("invoice")]
OrderRef = Annotated[str | None, RefTo("order")]
ProductRef = Annotated[str | None, RefTo("product")]
QuoteRef = Annotated[str | None, RefTo("quote")]


class Address(Record):
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    state: str | None = None


class Currency(Entity):
    entity = "currency"
    natural_keys = (("code",),)
    code: str
    name: str | None = None
    symbol: str | None = None
    rate: Amount | None = None


class PaymentTerm(Entity):
    entity = "payment_term"
    natural_keys = (("name",),)
    name: str
    code: str | None = None
    description: str | None = None


class DeliveryTerm(Entity):
    entity = "delivery_term"
    natural_keys = (("code",),)
    code: str
    name: str | None = None


class Product(Entity):
    entity = "product"
    natural_keys = (("code",),)
    code: str | None = None
    name: str
    list_price: Money | None = None
    cost_price: Money | None = None
    unit: str | None = None
    active: bool = True


class PriceListItem(Record):
    product: ProductRef = None
    price: Money | None = None
    formula: str | None = None


class PriceList(Entity):
    entity = "price_list"
    natural_keys = (("name",),)
    name: str
    currency: str | None = None
    items: tuple[PriceListItem, ...] = ()


class Account(Entity):
    """A customer or prospect company."""

    entity = "account"
    natural_keys = (("number",), ("vat_id",), ("name", "postcode"))
    distinct_fields = ("vat_id", "number")
    name: str
    number: str | None = None  # the ERP customer number
    status: Literal["prospect", "customer"] = "customer"
    vat_id: str | None = None
    registration_no: str | None = None
    email: str | None = None
    phone: str | None = None
    website: str | None = None
    billing_address: Address | None = None
    postcode: str | None = None  # of the billing address, kept flat for matching
    currency: str | None = None
    payment_term: str | None = None
    credit_limit: Money | None = None
    # CRM-owned sales fields
    industry: str | None = None
    owner: str | None = None
    interests: str | None = None
    description: str | None = None
    # ERP finance facts shown in the CRM
    open_amount: Money | None = None
    overdue_amount: Money | None = None
    dunning_level: str | None = None
    revenue_this_year: Money | None = None
    revenue_last_year: Money | None = None
    value_tier: Literal["A", "B", "C"] | None = None


class Contact(Entity):
    entity = "contact"
    natural_keys = (("email",),)
    first_name: str | None = None
    last_name: str
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    account: AccountRef = None
    invoice_recipient: bool = False
    address: Address | None = None


class DocumentLine(Record):
    product: ProductRef = None
    description: str | None = None
    quantity: Amount
    unit_price: Money | None = None
    discount: Amount | None = None


QuoteStatus = Literal["draft", "sent", "accepted", "declined", "expired"]
OrderState = Literal["draft", "quotation", "confirmed", "processing", "done", "cancelled"]


class Quote(Entity):
    entity = "quote"
    natural_keys = (("number",),)
    number: str | None = None
    title: str | None = None
    account: AccountRef = None
    contact: ContactRef = None
    status: QuoteStatus = "draft"
    currency: str | None = None
    valid_until: date | None = None
    lines: tuple[DocumentLine, ...] = ()
    order_number: str | None = None  # written back once the ERP order exists
    order_status: str | None = None
    shipment_status: str | None = None
    invoice_status: str | None = None
    planned_ship_date: date | None = None
    erp_link: str | None = None
    #: the order's life in the ERP, one dated line per step (confirmed, shipped, invoiced, paid,
    #: credited, cancelled, returned), newest last (R6)
    history: str | None = None
    #: what the ERP notes on the order, e.g. lines it priced differently from the quote (R4, R5)
    erp_note: str | None = None


class Order(Entity):
    entity = "order"
    natural_keys = (("number",), ("reference",))
    number: str | None = None
    reference: str | None = None  # the CRM quote number the order came from
    account: AccountRef = None
    state: OrderState = "draft"
    order_date: date | None = None
    currency: str | None = None
    payment_term: str | None = None
    lines: tuple[DocumentLine, ...] = ()
    total: Money | None = None
    shipment_state: str | None = None
    invoice_state: str | None = None
    planned_ship_date: date | None = None


class Shipment(Entity):
    entity = "shipment"
    natural_keys = (("number",),)
    number: str | None = None
    order: OrderRef = None
    account: AccountRef = None
    state: str = "draft"
    planned_date: date | None = None
    effective_date: date | None = None


class InvoiceLine(Record):
    product: ProductRef = None
    description: str | None = None
    quantity: Amount
    unit_price: Money | None = None
    amount: Money | None = None


class Invoice(Entity):
    entity = "invoice"
    natural_keys = (("number",),)
    number: str | None = None
    account: AccountRef = None
    order: OrderRef = None
    state: Literal["draft", "validated", "posted", "paid", "cancelled"] = "draft"
    invoice_date: date | None = None
    due_date: date | None = None
    currency: str | None = None
    untaxed: Money | None = None
    tax: Money | None = None
    total: Money | None = None
    amount_to_pay: Money | None = None
    dunning_level: str | None = None
    lines: tuple[InvoiceLine, ...] = ()


class CreditNote(Entity):
    entity = "credit_note"
    natural_keys = (("number",),)
    number: str | None = None
    account: AccountRef = None
    invoice: InvoiceRef = None
    state: str = "draft"
    credit_date: date | None = None
    total: Money | None = None
    lines: tuple[InvoiceLine, ...] = ()


class Payment(Entity):
    entity = "payment"
    natural_keys = ()
    account: AccountRef = None
    invoice: InvoiceRef = None
    payment_date: date | None = None
    amount: Money
    method: str | None = None


class Case(Entity):
    """A service case; complaints and warranty claims are handed to the ERP."""

    entity = "case"
    natural_keys = (("number",),)
    number: str | None = None
    subject: str
    kind: Literal["question", "complaint", "warranty", "other"] = "question"
    account: AccountRef = None
    contact: ContactRef = None
    order: OrderRef = None
    quote: QuoteRef = None  # the accepted quote (the ERP's sales order) a complaint is about
    status: str = "new"
    priority: str | None = None
    description: str | None = None
    erp_state: str | None = None


class Activity(Entity):
    entity = "activity"
    natural_keys = ()
    kind: Literal["call", "email", "meeting", "task", "note"] = "task"
    subject: str
    account: AccountRef = None
    at: AwareDatetime | None = None
    done: bool = False


class SalesTarget(Entity):
    entity = "sales_target"
    natural_keys = (("owner", "period_start"),)
    owner: str
    account: AccountRef = None
    period_start: date
    period_end: date
    amount: Money = Field()


ALL: tuple[type[Entity], ...] = (
    Currency, PaymentTerm, DeliveryTerm, Product, PriceList, Account, Contact, Quote, Order,
    Shipment, Invoice, CreditNote, Payment, Case, Activity, SalesTarget,
)
"""Every entity, in dependency order: a record comes after everything it references."""

