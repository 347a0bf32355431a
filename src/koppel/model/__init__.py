"""koppel's canonical model: typed, immutable business records with no I/O."""

from koppel.model.base import Amount, Entity, Money, Record, RefField, RefTo, ref_fields
from koppel.model.entities import (
    ALL,
    Account,
    Activity,
    Address,
    Case,
    Contact,
    CreditNote,
    Currency,
    DeliveryTerm,
    DocumentLine,
    Invoice,
    InvoiceLine,
    Order,
    Payment,
    PaymentTerm,
    PriceList,
    PriceListItem,
    Product,
    Quote,
    SalesTarget,
    Shipment,
)

ENTITIES: dict[str, type[Entity]] = {cls.entity: cls for cls in ALL}
ORDER: tuple[str, ...] = tuple(cls.entity for cls in ALL)


def entity_class(name: str) -> type[Entity]:
    """The canonical class for an entity name; KeyError names the known ones."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ORDER)}") from None


__all__ = [
    "ALL", "ENTITIES", "ORDER", "Account", "Activity", "Address", "Amount", "Case", "Contact",
    "CreditNote", "Currency", "DeliveryTerm", "DocumentLine", "Entity", "Invoice", "InvoiceLine",
    "Money", "Order", "Payment", "PaymentTerm", "PriceList", "PriceListItem", "Product", "Quote",
    "Record", "RefField", "RefTo", "SalesTarget", "Shipment", "entity_class", "ref_fields",
]
