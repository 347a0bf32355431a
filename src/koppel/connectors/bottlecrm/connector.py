"""The BottleCRM connector: the koppel contract on top of BottleCRM's REST API (django-crm 1.35).

Reads scan list endpoints and keep what they knew in the cursor (changes.py); between full
reads, polls of accounts, contacts and tasks read the activity feed and only the records it
names. Writes go out in parallel within the configured concurrency, PATCH where BottleCRM
allows it; lookups by natural key filter where the server can and scan where it cannot.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

import structlog
from pydantic import ValidationError

from koppel.connectors.base import (
    ChangeBatch,
    EntityInfo,
    JsonValues,
    RemoteRecord,
    Requirement,
    WriteOp,
    WriteOutcome,
    scan_related,
    scan_search,
)
from koppel.connectors.bottlecrm import changes, provisioning
from koppel.connectors.bottlecrm.client import BottleCrmClient, Json, NotFound
from koppel.connectors.bottlecrm.config import BottleCrmSettings
from koppel.connectors.bottlecrm.finder import Finder
from koppel.connectors.bottlecrm.mapping import owner_of
from koppel.connectors.bottlecrm.specs import SPECS, EntitySpec
from koppel.errors import AuthError, RecordError, TransientError, UniqueCollision
from koppel.model import Entity, entity_class

log = structlog.get_logger("koppel.bottlecrm")


class BottleCrmConnector:
    """BottleCRM as a koppel peer: accounts, contacts, products, quotes, cases, tasks, invoices."""


    def __init__(self, name: str, settings: BottleCrmSettings) -> None:
        self.name = name
        self.settings = settings
        self.client = BottleCrmClient(name, settings)
        self.finder = Finder(self.client, self._canonical, settings.find_scan_ttl)
        self._task_lock = threading.Lock()
        self._numbering_lock = threading.Lock()
        #: change reads by how they found the changes: "feed", "scan", "overflowed" (a feed read
        #: that fell back to a scan, also counted there)
        self.reads: Counter[str] = Counter()
        self._feed_off = False  # the feed cannot be used: scan for this connector's life
        self._feed_checked = False  # the token's role was looked at (once)

    # --- the contract -------------------------------------------------------------------

    def check(self) -> None:
        self.client.get("invoices/products/", {"limit": 1})

    def discover(self) -> Mapping[str, EntityInfo]:
        return {e: EntityInfo(readable=s.readable, writable=s.writable,
                              labels=provisioning.labels(e)) for e, s in SPECS.items()}

    def read_changes(self, entity: str, cursor: str | None, *, batch_size: int = 500
                     ) -> Iterator[ChangeBatch]:
        """The records the activity feed names since the cursor's feed position, where the entity
        has a feed and the cursor a position; else (a full read, an old cursor, a feed that
        overflowed or cannot be read) a scan of the whole list, which records the feed's
        position as it was before the scan began."""
        spec, position = SPECS[entity], changes.ChangeCursor.load(cursor)
        feed = self._feed(spec)
        if feed is not None and position.feed is not None and spec.feed is not None:
            news = changes.news(feed, spec.feed, position.feed, self.settings.lag)
            if not news.overflowed:
                self.reads["feed"] += 1
                yield from self._read_named(spec, position, news.ids, feed, batch_size)
                return
            self.reads["overflowed"] += 1
            log.warning("change feed overflowed: scanning the list", system=self.name, entity=entity,
                        feed_rows=len(feed), advice="more than 50 changes since the last poll; "
                        "a shorter poll interval keeps polls on the feed")
        self.reads["scan"] += 1
        yield from self._scan(spec, position, feed, batch_size)

    def read(self, entity: str, ids: Sequence[str]) -> list[RemoteRecord]:
        spec = SPECS[entity]
        details = self.client.parallel(lambda i: self._detail(spec, i), list(ids))
        found = [self._record(spec, row) for row in details if row is not None]
        return [r for r in found if r is not None]

    def read_related(self, entity: str, field: str, ids: Sequence[str]) -> list[RemoteRecord]:
        """The list filtered by each id where BottleCRM has the query parameter (`?account=`,
        one request per id, in parallel), else one scan of the list; details only for the
        rows found, where the list is a summary."""
        spec, wanted = SPECS[entity], sorted({str(i) for i in ids if _is_uuid(str(i))})
        param = spec.filters.get(field)
        if not wanted:
            return []
        if param is None and spec.strategy == "summary":
            return scan_related(self, entity, field, wanted)
        rows = {str(r["id"]): r for r in self._related_rows(spec, param, wanted)}
        if spec.strategy == "summary":
            found = self.read(entity, list(rows))
        else:
            found = [r for r in (self._record(spec, row) for row in rows.values()) if r is not None]
        return [r for r in found if str(getattr(r.record, field, None)) in wanted]

    def search(self, entity: str, text: str, *, page_size: int, fields: Collection[str] | None = None
               ) -> Iterator[list[RemoteRecord]]:
        """The list filtered by its name parameter (`?name=`, which BottleCRM matches ignoring
        case), a page of `page_size` at a time; an entity without one is scanned. BottleCRM
        cannot filter by the number (a custom field, matched exactly and on PostgreSQL only):
        a CRM account found by its number is a coupled one, which the link store finds."""
        spec = SPECS[entity]
        if spec.search is None or spec.strategy == "summary":
            yield from scan_search(self, entity, text, page_size=page_size)
            return
        page: list[RemoteRecord] = []
        for row in self.client.pages(spec.path, spec.rows, spec.query({spec.search: text} if text else None),
                                     page_size=page_size):
            record = self._record(spec, row)
            if record is not None:
                page.append(record)
            if len(page) == page_size:
                yield page
                page = []
        if page:
            yield page

    def find(self, entity: str, keys: Sequence[JsonValues]) -> list[str | None]:
        return self.finder.find(SPECS[entity], keys)

    def write(self, entity: str, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        spec = SPECS[entity]
        return self.client.parallel(lambda op: self._write_one(spec, op), list(ops))

    def delete(self, entity: str, ids: Sequence[str]) -> list[WriteOutcome]:
        spec = SPECS[entity]
        return self.client.parallel(lambda i: self._delete_one(spec, i), list(ids))

    def write_limits(self) -> Mapping[str, int]:
        """Documents numbered from a per-day sequence (quotes, invoices) are created one at a time
        across all of koppel's workers, as this connector creates them one at a time itself."""
        return {name: 1 for name, spec in SPECS.items() if spec.serial_create}

    # --- provisioning: the custom fields that hold ERP data -------------------------------

    def requirements(self) -> list[Requirement]:
        return provisioning.requirements(self.client)

    def provision(self, missing: Sequence[Requirement]) -> list[Requirement]:
        return provisioning.provision(self.client, missing)

    # --- actions of the CRM's users, for demos and scenario tests (not part of the contract)

    def accept_quote(self, quote_id: str, *, name: str, email: str) -> None:
        """The customer accepts a quote: it is sent, then accepted through its public link.

        BottleCRM 1.35 lets no API client set an estimate's status; this is the path its own
        client portal takes (the e-mail goes to the server's mail backend).
        """
        self.client.post(f"invoices/estimates/{quote_id}/send/", {})
        detail = self.client.get(f"invoices/estimates/{quote_id}/")
        token = (detail.get("estimate") or detail).get("public_token")
        if not token:
            raise RecordError(f"quote {quote_id} has no public link to accept it by", system=self.name)
        self.client.post(f"public/estimate/{token}/accept/", {"name": name, "email": email})

    def account_owners(self) -> dict[str, str | None]:
        """Account id -> its owner (first assigned user), for revenue per owner (R9); one scan."""
        spec = SPECS["account"]
        return {str(r["id"]): owner_of(r) for r in self.client.pages(spec.path, spec.rows, spec.query())}

    def close(self) -> None:
        self.client.close()

    # --- reading ------------------------------------------------------------------------

    def _canonical(self, spec: EntitySpec, row: Json) -> Entity | None:
        """The canonical record of a remote row; None if BottleCRM holds something koppel cannot."""
        try:
            return entity_class(spec.entity).model_validate(
                spec.to_canonical(row, self.settings.default_currency))
        except ValidationError:
            return None

    def _record(self, spec: EntitySpec, row: Json) -> RemoteRecord | None:
        record = self._canonical(spec, row)
        if record is None:
            return None
        return RemoteRecord(str(row["id"]), record)

    def _related_rows(self, spec: EntitySpec, param: str | None, ids: list[str]) -> list[Json]:
        if param is None:  # no filter: one scan, which also refreshes the finder's
            rows = list(self.client.pages(spec.path, spec.rows, spec.query()))
            self.finder.scanned(spec, rows)
            return rows
        pages = self.client.parallel(lambda i: list(self.client.pages(spec.path, spec.rows, spec.query({param: i}))), ids)
        return [row for page in pages for row in page]

    def _detail(self, spec: EntitySpec, record_id: str) -> Json | None:
        try:
            return spec.detail(self.client.get(f"{spec.path}{record_id}/")) or None
        except NotFound:
            return None

    def _feed(self, spec: EntitySpec) -> list[changes.Activity] | None:
        """The newest page of the entity's activity feed; None where it has none or it cannot
        vouch for every change (said once, then every read of this connector scans)."""
        if spec.feed is None or not self.settings.change_feed or self._feed_off:
            return None
        try:
            why = None if self._feed_checked else self._feed_refused()
            self._feed_checked = True
            found = None if why else changes.activities(self.client.get(
                "activities/", {"entity_type": spec.feed, "limit": changes.FEED_LIMIT}))
            why = why or ("its answer carries no activities" if found is None else None)
        except (AuthError, NotFound) as exc:  # an older BottleCRM (404), a token it refuses (403)
            found, why = None, exc.message
        if found is None:
            self._feed_off = True
            log.warning("change feed unavailable: every read scans the lists", system=self.name,
                        entity=spec.entity, error=why, advice="koppel reads BottleCRM's activity feed "
                        "(GET /api/activities/) with an org admin's token; without it each poll lists "
                        "every account")
        return found

    def _feed_refused(self) -> str | None:
        """Why the token's feed cannot be trusted, or None: BottleCRM shows a member only the
        activities of records they may open, so a deleted record's never; an admin sees all."""
        role = (self.client.get("profile/").get("user_obj") or {}).get("role")
        return None if role == "ADMIN" else f"the token's user is no org admin (role {role})"

    def _scan(self, spec: EntitySpec, position: changes.ChangeCursor, feed: list[changes.Activity] | None,
              batch_size: int) -> Iterator[ChangeBatch]:
        """Every row of the list against the hashes the cursor knew; the last batch carries the
        feed position read before the list (None without a feed: the next read scans again)."""
        rows = list(self.client.pages(spec.path, spec.rows, spec.query()))
        self.finder.scanned(spec, rows)
        present = [str(r["id"]) for r in rows]

        def finish() -> None:
            if spec.strategy == "stamp":
                position.known.update({i: "" for i in present if i not in position.known})
            position.feed = None if feed is None else changes.moved(None, feed, self.settings.lag)

        yield from self._batches(spec, position, self._candidates(spec, rows, position),
                                 position.deleted(present), batch_size, finish)

    def _read_named(self, spec: EntitySpec, position: changes.ChangeCursor, ids: list[str],
                    feed: list[changes.Activity], batch_size: int) -> Iterator[ChangeBatch]:
        """The records the feed named, each read by id: a changed one is delivered by the same
        hash or stamp rules as a scan's row, a known one that is gone (404) as deleted."""
        details = self.client.parallel(lambda i: self._detail(spec, i), ids)
        rows = [row for row in details if row is not None]
        deleted = sorted(i for i, row in zip(ids, details, strict=True) if row is None and i in position.known)
        self.finder.changed(spec, rows, deleted)
        lag = self.settings.lag

        def finish() -> None:
            position.feed = changes.moved(position.feed, feed, lag)

        yield from self._batches(spec, position, self._candidates(spec, rows, position), deleted,
                                 batch_size, finish)

    def _batches(self, spec: EntitySpec, position: changes.ChangeCursor, found: list[changes.Candidate],
                 deleted: list[str], batch_size: int, finish: Callable[[], None]) -> Iterator[ChangeBatch]:
        """The candidates in batches, each with the cursor to resume after it; deletes and
        `finish` (the feed position, the ids known) only with the last, so a read cut short
        resumes with the position it began from."""
        for start in range(0, max(len(found), 1), batch_size):
            chunk = found[start:start + batch_size]
            records, delivered = self._records_of(spec, chunk)
            changes.advance(position, delivered, self.settings.lag)
            last = start + batch_size >= len(found)
            if last:
                changes.forget(position, deleted)
                finish()
            yield ChangeBatch(records, deleted if last else [], position.dump())

    def _candidates(self, spec: EntitySpec, rows: list[Json], position: changes.ChangeCursor
                    ) -> list[changes.Candidate]:
        if spec.strategy == "stamp":
            return changes.changed_by_stamp(rows, position, self.settings.lag)
        if spec.strategy == "summary":
            hashed = [(r, changes.content_hash({k: r.get(k) for k in spec.summary_keys})) for r in rows]
            return changes.changed_by_hash(hashed, position)
        records = [(r, self._canonical(spec, r)) for r in rows]
        return changes.changed_by_hash(
            ((r, changes.content_hash(rec.model_dump(mode="json"))) for r, rec in records
             if rec is not None), position)

    def _records_of(self, spec: EntitySpec, chunk: list[changes.Candidate]
                    ) -> tuple[list[RemoteRecord], list[changes.Candidate]]:
        """The records of a chunk (details read in parallel when the list is only a summary)."""
        rows: list[Json | None] = [c.row for c in chunk]
        if spec.strategy == "summary":
            rows = self.client.parallel(lambda c: self._detail(spec, c.id), chunk)
        records, delivered = [], []
        for candidate, row in zip(chunk, rows, strict=True):
            record = self._record(spec, row) if row is not None else None
            if record is not None:
                records.append(record)
                delivered.append(candidate)
        return records, delivered

    # --- writing ------------------------------------------------------------------------

    def _write_one(self, spec: EntitySpec, op: WriteOp) -> WriteOutcome:
        try:
            record_id = self._update(spec, op) if op.id else self._create(spec, op.values)
        except (RecordError, TransientError) as exc:
            if isinstance(exc, TransientError):
                self.finder.forget(spec.entity)  # it may have been applied: find it again by a fresh scan
            return WriteOutcome(op.key, op.id, exc)
        self.finder.written(spec.entity, record_id, op.values)
        return WriteOutcome(op.key, record_id)

    def _create(self, spec: EntitySpec, values: JsonValues) -> str:
        body = {**spec.create_defaults, **_without_nulls(spec.to_remote(values))}
        if spec.entity == "activity":
            return self._create_task(spec, body)
        if spec.entity == "invoice" and body.get("account_id"):
            body.setdefault("contact_id", self._first_contact(str(body["account_id"])))
        try:
            answer = self._post(spec, values, body)
        except RecordError as exc:
            raise self._collision(spec, body, exc) from None
        record_id = spec.created_id(answer)
        if record_id is None:
            raise RecordError(f"BottleCRM created a {spec.entity} but did not say its id: {answer}",
                              system=self.name)
        return record_id

    def _post(self, spec: EntitySpec, values: JsonValues, body: Json) -> Json:
        try:
            if not spec.serial_create:
                return self.client.post(spec.path, body)
            with self._numbering_lock:
                return self.client.post(spec.path, body)
        except TransientError:
            if spec.entity == "product" and values.get("code") and self.find("product", [
                    {"code": values["code"]}])[0]:
                # a duplicate sku is an IntegrityError there: 500, not 400
                raise RecordError(f"a product with sku {values['code']!r} already exists",
                                  system=self.name) from None
            raise

    def _collision(self, spec: EntitySpec, body: Json, exc: RecordError) -> RecordError:
        """BottleCRM refuses a second account whose name matches one it has, ignoring case: say
        which field and which record is in the way."""
        if spec.entity != "account" or "already exists" not in exc.message or not body.get("name"):
            return exc
        name = str(body["name"]).strip().casefold()
        holders = [str(r["id"]) for r in self.client.pages(spec.path, spec.rows, spec.query({"name": body["name"]}))
                   if str(r.get("name") or "").strip().casefold() == name]
        holder = holders[0] if holders else None
        return UniqueCollision(exc.message, system=self.name, field="name", holder=holder)

    def _update(self, spec: EntitySpec, op: WriteOp) -> str:
        assert op.id is not None
        body, path = spec.to_remote(op.values), f"{spec.path}{op.id}/"
        if not body:
            self.client.get(path)  # nothing to send; still say whether the record exists
        elif spec.update_method == "PATCH":
            self.client.patch(path, body)
        else:
            self.client.put(path, body)
        return op.id

    def _create_task(self, spec: EntitySpec, body: Json) -> str:
        """POST tasks/ answers without the id: find the newest task with that title and parent."""
        with self._task_lock:
            self.client.post(spec.path, body)
            rows = self.client.pages(spec.path, spec.rows, spec.query({"search": body.get("title", "")}))
            mine = [r for r in rows if r.get("title") == body.get("title")
                    and (r.get("account") or {}).get("id") == body.get("account")]
        if not mine:
            raise RecordError(f"BottleCRM created task {body.get('title')!r} but it cannot be found",
                              system=self.name)
        return str(max(mine, key=lambda r: str(r.get("created_at")))["id"])

    def _first_contact(self, account_id: str) -> str:
        """BottleCRM insists on a contact for an invoice; koppel's invoice has none: use the account's."""
        contacts = SPECS["account"].detail(self.client.get(f"accounts/{account_id}/")).get("contacts") or []
        if not contacts:
            raise RecordError(f"account {account_id} has no contact; BottleCRM needs one on an invoice",
                              system=self.name)
        return str(contacts[0]["id"] if isinstance(contacts[0], dict) else contacts[0])

    def _delete_one(self, spec: EntitySpec, record_id: str) -> WriteOutcome:
        if not spec.can_delete:
            return WriteOutcome(record_id, record_id, RecordError(
                f"BottleCRM offers no delete for {spec.entity}", system=self.name))
        try:
            self.client.delete(f"{spec.path}{record_id}/")
        except NotFound:
            pass  # already gone: the outcome the caller wanted
        except (RecordError, TransientError) as exc:
            if isinstance(exc, TransientError):
                self.finder.forget(spec.entity)
            return WriteOutcome(record_id, record_id, exc)
        self.finder.deleted(spec.entity, record_id)
        return WriteOutcome(record_id, record_id)


def _is_uuid(text: str) -> bool:
    """BottleCRM's ids are UUIDs; its filters answer 400 to anything else."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _without_nulls(body: Mapping[str, Any]) -> Json:
    """A create has nothing to clear: leave out nulls, also inside custom_fields."""
    clean = {k: v for k, v in body.items() if v is not None}
    if isinstance(clean.get("custom_fields"), dict):
        clean["custom_fields"] = {k: v for k, v in clean["custom_fields"].items() if v is not None}
    return clean


def create(system: str, settings: Mapping[str, Any]) -> BottleCrmConnector:
    """Entry-point factory: `connector = "bottlecrm"` in koppel.toml."""
    return BottleCrmConnector(system, BottleCrmSettings.model_validate(dict(settings)))


__all__ = ["BottleCrmConnector", "create"]
