"""Rendering: the Jinja2 environment with the workspace's filters, the page frame every template
gets (user, role, nav counts, flash message), and redirects that carry a flash message.

Templates and assets live in the package; nothing is loaded from elsewhere.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from koppel import clock
from koppel.engine.runtime import Runtime
from koppel.store.workspace import ROLES, UserRow

HERE = Path(__file__).parent
FLASH = "koppel_flash"
templates = Jinja2Templates(directory=HERE / "templates")

_GOOD = {"ok", "done", "paid", "resolved", "acknowledged", "retried", "customer", "accepted", "stock",
         "processing", "confirmed", "posted", "shipped", "sent", "in step", "closed"}
_WARN = {"partial", "held", "queued", "running", "draft", "waiting", "supply", "quotation", "open item",
         "superseded", "skipped", "stale", "prospect", "planned", "unpaid"}
_BAD = {"failed", "open", "overdue", "error", "replenishment", "cancelled", "exception", "rejected"}


@dataclass(frozen=True)
class Flash:
    """A one-time message shown on the next page: kind is ok | warn | error."""

    kind: str
    text: str
    detail: str = ""


def pill_class(status: Any) -> str:
    word = str(status or "").lower()
    return "good" if word in _GOOD else "warn" if word in _WARN else "bad" if word in _BAD else "neutral"


def when(moment: datetime | str | None) -> str:
    if moment is None or moment == "":
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.strftime("%Y-%m-%d %H:%M")


def age(moment: datetime | None) -> str:
    """How long ago, in words: 'just now', '4 min ago', '3 h ago', '2 days ago'."""
    if moment is None:
        return "never"
    now = clock.now()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    seconds = max(0, int((now - moment).total_seconds()))
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now" if seconds < 10 else f"{seconds} s ago"


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = (end - start).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def money(value: Any, currency: str | None = None) -> str:
    """`{amount, currency}` or a bare number as '1,234.50 EUR'."""
    if value is None:
        return "—"
    if isinstance(value, Mapping):
        currency, value = value.get("currency"), value.get("amount")
    elif hasattr(value, "amount") and hasattr(value, "currency"):  # a Money
        currency, value = value.currency, value.amount
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    return f"{amount:,.2f} {currency or ''}".strip()


def show(value: Any) -> str:
    """Any field value as short readable text."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        if set(value) >= {"amount", "currency"}:
            return money(value)
        return ", ".join(f"{k}: {show(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list):
        return ", ".join(show(v) for v in value) if all(not isinstance(v, Mapping) for v in value) \
            else f"{len(value)} item(s)"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def counts(stats: Mapping[str, Any] | None) -> str:
    """A run's counters as 'created 3 · updated 2'."""
    if not stats:
        return "no changes"
    return " · ".join(f"{k} {v}" for k, v in stats.items() if v)


templates.env.filters.update(pill=pill_class, when=when, age=age, duration=duration, money=money, show=show,
                             as_json=as_json, counts=counts)


def can_operate(user: UserRow) -> bool:
    return ROLES.index(user.role) >= ROLES.index("operator")


def page(request: Request, rt: Runtime, user: UserRow, name: str, status_code: int = 200,
         **context: Any) -> Response:
    """A full page: the template with the frame's context; a pending flash is shown and cleared."""
    flash = read_flash(request)
    frame = {"user": user, "can_operate": can_operate(user), "nav": nav_counts(rt), "flash": flash,
             "path": request.url.path}
    return bare(request, name, status_code, **frame, **context)


def bare(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """A page without the signed-in frame (sign-in); a pending flash is shown and cleared."""
    context.setdefault("flash", read_flash(request))
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    if request.cookies.get(FLASH):
        response.delete_cookie(FLASH, path="/")
    return response


def nav_counts(rt: Runtime) -> dict[str, int]:
    """The numbers beside the sidebar's entries: what waits for a person."""
    return {"errors": rt.store.errors.counts().get("open", 0), "conflicts": len(rt.store.findings.conflicts("open")),
            "violations": len(rt.store.findings.violations("open"))}


def redirect(url: str, flash: Flash | None = None) -> Response:
    response = RedirectResponse(url, status_code=303)
    if flash is not None:
        raw = json.dumps([flash.kind, flash.text, flash.detail]).encode()
        response.set_cookie(FLASH, base64.urlsafe_b64encode(raw).decode(), max_age=60, httponly=True,
                            samesite="strict", path="/")
    return response


def read_flash(request: Request) -> Flash | None:
    raw = request.cookies.get(FLASH)
    if not raw:
        return None
    try:
        kind, text, detail = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return None
    return Flash(str(kind), str(text), str(detail))
