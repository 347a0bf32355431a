"""Rendering: the Jinja2 environment with the workspace's filters, the page frame every template
gets (user, role, nav counts, flash message), and redirects that carry a flash message.

Templates and assets live in the package; nothing is loaded from elsewhere.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from koppel import clock
from koppel.engine.runtime import Runtime
from koppel.i18n import N_, NAMES, _, current, formats, ngettext, translate
from koppel.i18n.catalog import translations
from koppel.store.workspace import ROLES, UserRow

HERE = Path(__file__).parent
FLASH = "koppel_flash"
templates = Jinja2Templates(directory=HERE / "templates")

_GOOD = {"ok", "done", "paid", "resolved", "acknowledged", "retried", "customer", "accepted", "stock",
         "processing", "confirmed", "posted", "shipped", "sent", "in step", "closed"}
_WARN = {"partial", "held", "queued", "running", "draft", "waiting", "supply", "quotation", "open item",
         "superseded", "skipped", "stale", "prospect", "planned", "unpaid"}
_BAD = {"failed", "open", "overdue", "error", "replenishment", "cancelled", "exception", "rejected"}
#: the status and counter words the pages show, so that the catalogue has them (the pill's colour
#: is decided on the English word, the text shown is the translation)
WORDS = frozenset({
    N_("ok"), N_("done"), N_("paid"), N_("resolved"), N_("acknowledged"), N_("retried"), N_("customer"),
    N_("accepted"), N_("stock"), N_("processing"), N_("confirmed"), N_("posted"), N_("shipped"), N_("sent"),
    N_("in step"), N_("closed"), N_("partial"), N_("held"), N_("queued"), N_("running"), N_("draft"),
    N_("waiting"), N_("supply"), N_("quotation"), N_("open item"), N_("superseded"), N_("skipped"),
    N_("stale"), N_("prospect"), N_("planned"), N_("unpaid"), N_("failed"), N_("open"), N_("overdue"),
    N_("error"), N_("replenishment"), N_("cancelled"), N_("exception"), N_("rejected"), N_("apart"),
    N_("coupled"), N_("pending"), N_("new"), N_("won"), N_("lost"), N_("negotiation"), N_("assigned"),
    N_("in progress"), N_("created"), N_("matched"), N_("updated"), N_("reverted"), N_("deleted"),
    N_("conflicts"), N_("violations"), N_("errors"), N_("read"), N_("invoiced"), N_("none"),
    N_("waiting"), N_("quote"), N_("order"), N_("sale"), N_("return"), N_("up"), N_("down"),
    N_("full"), N_("incremental"), N_("record"), N_("sync"), N_("reconcile"), N_("retry"), N_("load"),
    N_("viewer"), N_("operator"), N_("admin"), N_("account"), N_("contact"), N_("product"),
    N_("awaiting payment"),
})

#: the account's fields as the 360° view names them
FIELDS = {
    "name": N_("name"), "number": N_("customer number"), "status": N_("status"), "vat_id": N_("VAT id"),
    "registration_no": N_("registration no."), "email": N_("email"), "phone": N_("phone"),
    "website": N_("website"), "billing_address": N_("billing address"), "postcode": N_("postcode"),
    "currency": N_("currency"), "payment_term": N_("payment term"), "credit_limit": N_("credit limit"),
    "industry": N_("industry"), "owner": N_("owner"), "interests": N_("interests"),
    "description": N_("description"), "open_amount": N_("open amount"), "overdue_amount": N_("overdue amount"),
    "dunning_level": N_("dunning level"), "revenue_this_year": N_("revenue this year"),
    "revenue_last_year": N_("revenue last year"), "value_tier": N_("value tier"), "street": N_("street"),
    "city": N_("city"), "country": N_("country"),
}


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
    return formats.moment(moment)


def age(moment: datetime | None) -> str:
    """How long ago, in words: 'just now', '4 minutes ago', 'vor 3 Stunden', '2 dagen geleden'."""
    if moment is None:
        return _("never")
    now = clock.now()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    return formats.ago(max(timedelta(0), now - moment))


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return formats.seconds((end - start).total_seconds())


def money(value: Any, currency: str | None = None) -> str:
    """`{amount, currency}`, a Money or a bare number as the language writes amounts (1.234,50 €)."""
    if value is None:
        return "—"
    if isinstance(value, Mapping):
        currency, value = value.get("currency"), value.get("amount")
    elif hasattr(value, "amount") and hasattr(value, "currency"):  # a Money
        currency, value = value.currency, value.amount
    return formats.money(value, currency)


def day(value: date | str | None) -> str:
    return "—" if value is None or value == "" else formats.day(value)


def show(value: Any) -> str:
    """Any field value as short readable text."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Mapping):
        if set(value) >= {"amount", "currency"}:
            return money(value)
        return ", ".join(f"{field(k)}: {show(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list):
        return ", ".join(show(v) for v in value) if all(not isinstance(v, Mapping) for v in value) \
            else ngettext("{n} item", "{n} items", len(value))
    if isinstance(value, datetime):
        return formats.moment(value)
    if isinstance(value, date):
        return formats.day(value)
    if isinstance(value, Decimal | float):
        return formats.number(value)
    return str(value)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def counts(stats: Mapping[str, Any] | None) -> str:
    """A run's counters as 'created 3 · updated 2' ('angelegt 3 · aktualisiert 2')."""
    if not stats:
        return _("no changes")
    return " · ".join(f"{word(k)} {v}" for k, v in stats.items() if v)


def field(name: str) -> str:
    """A field's name as the language says it ('payment_term': 'payment term', 'Zahlungsbedingung')."""
    return _(FIELDS[name]) if name in FIELDS else name.replace("_", " ")


def word(status: Any) -> str:
    """A status or counter word as the language says it; the word itself where it has none."""
    text = str(status or "")
    return _(text) if text in WORDS else text


templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
    gettext=lambda text: translations(current()).gettext(text),
    ngettext=lambda singular, plural, n: translations(current()).ngettext(singular, plural, n), newstyle=True)
templates.env.filters.update(pill=pill_class, when=when, age=age, duration=duration, money=money, day=day,
                             show=show, as_json=as_json, counts=counts, word=word, field=field, tr=translate,
                             number=formats.number, percent=formats.percent)


def can_operate(user: UserRow) -> bool:
    return ROLES.index(user.role) >= ROLES.index("operator")


def page(request: Request, rt: Runtime, user: UserRow, name: str, status_code: int = 200,
         **context: Any) -> Response:
    """A full page: the template with the frame's context; a pending flash is shown and cleared."""
    flash = read_flash(request)
    frame = {"user": user, "can_operate": can_operate(user), "nav": nav_counts(rt), "flash": flash,
             "path": app_path(request), "languages": NAMES}
    return bare(request, name, status_code, **frame, **context)


def bare(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    """A page without the signed-in frame (sign-in); a pending flash is shown and cleared."""
    context.setdefault("flash", read_flash(request))
    context.setdefault("language", current())
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    if request.cookies.get(FLASH):
        response.delete_cookie(FLASH, path="/")
    return response


def nav_counts(rt: Runtime) -> dict[str, int]:
    """The numbers beside the sidebar's entries: what waits for a person."""
    return {"errors": rt.store.errors.counts().get("open", 0), "conflicts": len(rt.store.findings.conflicts("open")),
            "violations": len(rt.store.findings.violations("open"))}


#: the path the workspace is served under behind a proxy (`koppel serve --root-path`), per request
ROOT: ContextVar[str] = ContextVar("koppel_root_path", default="")


def root() -> str:
    return ROOT.get()


templates.env.globals["root"] = root  # `{{ root() }}/accounts` in every link of a template


def rooted(url: str) -> str:
    """A path of the workspace as the browser must ask for it: under the root path, once."""
    base = ROOT.get()
    if not base or not url.startswith("/") or url.startswith("//") or url == base or url.startswith(
            (base + "/", base + "?")):
        return url
    return base + url


def app_path(request: Request) -> str:
    """The request's path within the workspace (without the root path a proxy serves it under)."""
    path, base = request.url.path, request.scope.get("root_path", "")
    return path[len(base):] or "/" if base and path.startswith(base) else path


class PageRoot:
    """ASGI middleware: pages and redirects of this request link under its root path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = ROOT.set(str(scope.get("root_path", "")).rstrip("/")) if scope["type"] == "http" else None
        try:
            await self.app(scope, receive, send)
        finally:
            if token is not None:
                ROOT.reset(token)


def redirect(url: str, flash: Flash | None = None) -> Response:
    response = RedirectResponse(rooted(url), status_code=303)
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
