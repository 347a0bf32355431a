"""Amounts, numbers, dates and durations in the current language's way (Babel's CLDR data):
1.234,56 € in German, € 1.234,56 in Dutch, €1,234.56 in English."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from babel.dates import format_date, format_datetime, format_timedelta
from babel.numbers import format_currency, format_decimal, format_percent

from koppel.i18n import current, gettext


def money(amount: Decimal | float | int | str, currency: str | None = None) -> str:
    """An amount with its currency, or as a number with two decimals when there is none."""
    value = _decimal(amount)
    if value is None:
        return str(amount)
    if not currency:
        return format_decimal(value, "#,##0.00", locale=current())
    return format_currency(value, currency, locale=current())


def number(value: Decimal | float | int | str) -> str:
    found = _decimal(value)
    return str(value) if found is None else format_decimal(found, locale=current())


def percent(share: Decimal | float | int) -> str:
    """A share as a percentage: 0.85 → 85%, 85 % in German."""
    return format_percent(share, locale=current())


def day(value: date | datetime | str) -> str:
    """A date in the language's medium form (07.01.2025, 7 jan 2025, Jan 7, 2025)."""
    if isinstance(value, str):
        try:
            return format_date(date.fromisoformat(value[:10]), "medium", locale=current())
        except ValueError:
            return value
    return format_date(value.date() if isinstance(value, datetime) else value, "medium", locale=current())


def moment(value: datetime) -> str:
    """A date and time of day, short (07.01.25, 14:03)."""
    return format_datetime(value, "short", locale=current())


def ago(delta: timedelta) -> str:
    """How long ago: 'just now', '4 minutes ago', 'vor 4 Minuten', '4 minuten geleden'."""
    if delta < timedelta(seconds=10):
        return gettext("just now")
    return format_timedelta(-delta, add_direction=True, threshold=1, locale=current())


def seconds(value: float) -> str:
    """A duration: 850 ms, 3.2 s, 4 min (the units are the same in every language)."""
    if value < 1:
        return f"{format_decimal(round(value * 1000), locale=current())} ms"
    if value < 120:
        return f"{format_decimal(round(value, 1), '0.0', locale=current())} s"
    return f"{format_decimal(round(value / 60), locale=current())} min"


def _decimal(value: Decimal | float | int | str) -> Decimal | None:
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
