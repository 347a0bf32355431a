"""Building blocks of the canonical model: immutable records, money, and references.

A reference field holds the id of another record *in the system the record came from*;
the engine translates it through the link table when the record crosses to the other system.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, ClassVar, Self, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict


def _canonical_decimal(value: Decimal) -> Decimal:
    """Drop trailing zeros so that 10.00 and 10.0000 compare and serialise the same."""
    if not value.is_finite():
        raise ValueError("amount must be a finite number")
    return Decimal(format(value.normalize(), "f")) if value else Decimal(0)


Amount = Annotated[Decimal, AfterValidator(_canonical_decimal)]


@dataclass(frozen=True)
class RefTo:
    """Marks a field as a reference to a record of `entity`."""

    entity: str


class Record(BaseModel):
    """Base of every canonical value: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def load(cls, values: Mapping[str, Any]) -> Self:
        """`model_validate(values)` without its per-call options: a system's every record
        passes here, and pydantic's own wrapper cost a fifth of the validation."""
        found: Self = cls.__pydantic_validator__.validate_python(values)
        return found

    def dump(self) -> dict[str, Any]:
        """The canonical JSON values, as `model_dump(mode="json")` makes them, without its
        per-call options."""
        values: dict[str, Any] = self.__pydantic_serializer__.to_python(self, mode="json")
        return values


class Entity(Record):
    """A top-level business record that systems store and koppel links."""

    entity: ClassVar[str]
    #: fields that identify the record in business terms, tried in order when matching
    natural_keys: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: fields whose values, both present and different, make two records different ones
    #: whatever else they share (two companies with one name but two VAT ids)
    distinct_fields: ClassVar[tuple[str, ...]] = ()


class Money(Record):
    """An amount in a currency (ISO 4217 code)."""

    amount: Amount
    currency: str


@dataclass(frozen=True)
class RefField:
    """Where a reference sits inside an entity: top level or in each item of a list field."""

    path: tuple[str, ...]
    target: str


@cache
def ref_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[RefField]:
    """All reference fields of `model`, including those nested in tuples of sub-records."""
    found: list[RefField] = []
    for name, info in model.model_fields.items():
        refs = [m for m in info.metadata if isinstance(m, RefTo)]
        if refs:
            found.append(RefField((*prefix, name), refs[0].entity))
            continue
        item = _item_model(info.annotation)
        if item is not None:
            found.extend(ref_fields(item, (*prefix, name)))
    return found


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """The record type held by a `tuple[Sub, ...]` field, if any."""
    if get_origin(annotation) is tuple:
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if args and isinstance(args[0], type) and issubclass(args[0], Record):
            return args[0]
    return None
