"""The executor: applies a plan in batches, idempotently, sorting failures by error class.

The plan says what to create, merge, update and delete (the matcher has already turned creates
of records the target holds into merges, so a retry after a crash couples instead of creating
twice); each link is recorded right after the remote create. Transient failures are retried with
backoff, and after a lost answer what that try made is coupled, never made again; a record the
target rejects goes to the error queue with the target's own message and the run goes on; a
fatal error stops the run.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from koppel.config.policy import Policy, Side
from koppel.connectors.base import Connector, JsonValues, WriteOp, WriteOutcome, read_fields
from koppel.engine import matcher
from koppel.engine.plan import Create, Merge, Plan, Update
from koppel.engine.planner import Scope
from koppel.engine.retry import Retries
from koppel.engine.translate import Translator
from koppel.engine.verify import Difference, differences
from koppel.errors import FatalError, KoppelError, RecordError, TransientError, UniqueCollision
from koppel.store import AuditEntry, NewLink, Parked, Store

T = TypeVar("T")
records = structlog.get_logger("koppel.records")


@dataclass
class Executor:
    store: Store
    connectors: Mapping[Side, Connector]
    policy: Policy
    translate: Translator
    retries: Retries = field(default_factory=Retries)
    batch_size: int = 500
    run_id: int | None = None

    def __post_init__(self) -> None:
        # bound once per run: an event below the configured level then costs a no-op call, and
        # a batch's events are not even formatted
        self._records = records.bind()
        enabled = getattr(self._records, "is_enabled_for", None)
        self._telling = bool(enabled(logging.INFO)) if callable(enabled) else True

    def call(self, system: Side, fn: Callable[..., T], *args: Any) -> T:
        return self.retries.call(system, fn, *args)

    def each(self, system: Side, open_stream: Callable[[], Iterator[T]]) -> Iterator[T]:
        return self.retries.each(system, open_stream)

    # --- applying a plan ----------------------------------------------------------------

    def apply(self, scope: Scope, plan: Plan, stats: Counter[str]) -> None:
        failed: dict[int, set[str] | None] = {}  # link id -> the fields not stored (None: all)
        self._merges(scope, plan.merges, stats)
        self._creates(scope, plan.creates, stats)
        self._updates(plan.updates, failed, stats)
        self._deletes(plan, stats)
        self._record(scope, plan, failed, stats)

    def _creates(self, scope: Scope, creates: list[Create], stats: Counter[str]) -> None:
        for start in range(0, len(creates), self.batch_size):
            collided = self._create_chunk(scope, creates[start:start + self.batch_size], stats)
            if collided:
                self._disambiguate(scope, collided, stats)

    def _create_chunk(self, scope: Scope, chunk: Sequence[Create], stats: Counter[str],
                      renamed: Mapping[str, Renamed] | None = None) -> list[tuple[Create, UniqueCollision]]:
        """Create a batch and couple what was made; return the creates that hit a unique value
        another record holds, when the policy says to create those under another name."""
        target, renamed = scope.target, renamed or {}
        chunk, values, outcomes = self._write_new(scope, chunk, renamed, stats)
        made = [(c, o.id, v) for c, o, v in zip(chunk, outcomes, values, strict=True) if o.error is None and o.id]
        versions = {i: o.version for o in outcomes if o.error is None and (i := o.id)}
        # a create's empty field is no value: the target may fill in its own default
        wrong = self.verify(scope.entity, target, [(i, v) for _, i, v in made], _stored(outcomes), empty=False)
        # the snapshot keeps the owner's value, also where the copy carries another name. The
        # version a create answered is the record as koppel made it (no one else can have changed
        # it before): its echo is known by it. Not so after an update, whose version also covers
        # what a user changed beside it; nor for a copy that did not keep every value.
        with self.store.together():  # the links, the queue entries they close and the audit: one commit
            self._link(scope, [(c.source_id, i, c.values, versions[i]) if i not in wrong else
                               (c.source_id, i, _without(c.values, wrong[i]), None) for c, i, _ in made])
            self.store.audit.add([_audit("create", c.entity, f"{target}:{i}", c.values, f"{c.source}:{c.source_id}",
                                         self.run_id) for c, i, _ in made])
        stats["created"] += len(made)
        stats["renamed"] += sum(1 for c, _, _ in made if c.source_id in renamed)
        for c, i, _ in made if self._telling else ():
            self._told("renamed" if c.source_id in renamed else "created", c.entity, f"{c.source}:{c.source_id}",
                       f"{target}:{i}")
        self._propose_renamed(scope, [(c, i) for c, i, _ in made if c.source_id in renamed], renamed)
        disambiguate = self.policy.rules(scope.entity).on_unique_collision == "disambiguate"
        collided = [(c, o.error) for c, o in zip(chunk, outcomes, strict=True)
                    if isinstance(o.error, UniqueCollision) and disambiguate and c.source_id not in renamed]
        parked = {c.source_id for c, _ in collided}
        self._park([(c.entity, c.source, c.source_id, target, "create", c.values, o)
                    for c, o in zip(chunk, outcomes, strict=True) if not o.ok and c.source_id not in parked], stats)
        self._park([(c.entity, c.source, c.source_id, target, "create", c.values,
                     dropped_outcome(target, i, wrong[i])) for c, i, _ in made if i in wrong], stats)
        return collided

    def _write_new(self, scope: Scope, chunk: Sequence[Create], renamed: Mapping[str, Renamed],
                   stats: Counter[str]) -> tuple[list[Create], list[dict[str, Any]], list[WriteOutcome]]:
        """Send the creates. A call that fails in transit, or a create whose own answer was a
        transient failure, may still have landed: before each new try, what the target now holds
        (by natural key) is coupled, so a retry never makes a second record. Returns the creates
        with the values and outcomes of their last try."""
        pending, done = list(chunk), list[tuple[Create, dict[str, Any], WriteOutcome]]()
        for attempt in range(1, self.retries.attempts + 1):
            values = self.translate.outgoing_many(scope.entity, scope.target, [c.write_values or c.values for c in pending])
            for create, row in zip(pending, values, strict=True):
                if create.source_id in renamed:
                    row[renamed[create.source_id].field] = renamed[create.source_id].alias
            try:
                outcomes = self.connectors[scope.target].write(
                    scope.entity, [WriteOp(c.source_id, v, ref=r) for c, v, r in
                                   zip(pending, values, matcher.references(scope, pending), strict=True)])
            except TransientError as exc:
                if attempt == self.retries.attempts:
                    raise self.retries.gave_up(scope.target, exc) from exc
                self.retries.pause(attempt, exc)
                pending = self._rematch(scope, pending, stats)
                continue
            tries = list(zip(pending, values, outcomes, strict=True))
            again = [t for t in tries if isinstance(t[2].error, TransientError)]
            done += [t for t in tries if not isinstance(t[2].error, TransientError)]
            if not again or attempt == self.retries.attempts:
                if len(again) == len(tries):
                    self._still_up(scope.target)
                done += again
                break
            self.retries.pause(attempt, *(t[2].error for t in again))
            pending = self._rematch(scope, [c for c, _, _ in again], stats)
        return [c for c, _, _ in done], [v for _, v, _ in done], [o for _, _, o in done]

    def _disambiguate(self, scope: Scope, collided: list[tuple[Create, UniqueCollision]],
                      stats: Counter[str]) -> None:
        """Create each colliding record under the policy's pattern (every other field intact)."""
        pattern = self.policy.rules(scope.entity).collision_pattern
        renamed = {c.source_id: Renamed(e.field, _alias(pattern, c, e.field), e.holder) for c, e in collided}
        self._create_chunk(scope, [c for c, _ in collided], stats, renamed)

    def _propose_renamed(self, scope: Scope, made: list[tuple[Create, str]],
                         renamed: Mapping[str, Renamed]) -> None:
        """A copy made under another name and the record in the way are a possible duplicate;
        when that record is coupled to another one already, they are two records by decision."""
        coupled = self.store.links.by_ids(scope.entity, scope.target,
                                          [r.holder for r in renamed.values() if r.holder])
        for create, copy_id in made:
            r = renamed[create.source_id]
            holder = r.holder or ""
            ids = {scope.source: create.source_id, scope.target: holder}
            taken = f" (coupled to {scope.source}:{coupled[holder].id_on(scope.source)})" if holder in coupled else ""
            self.store.proposals.add(
                scope.entity, ids["erp"], ids["crm"],
                f"{r.field} {create.values.get(r.field)!r} is taken in {scope.target} by {holder or '?'}{taken}; "
                f"created as {r.alias!r}", 0.5, copy=(scope.target, copy_id), field=r.field, alias=r.alias,
                status="apart" if taken or not holder else "open")

    def _merges(self, scope: Scope, merges: list[Merge], stats: Counter[str]) -> None:
        """Couple new records to the records the target holds already, writing each side what
        the other owns (planned by the matcher)."""
        for m in merges:
            create = m.create
            failure = ((scope.target, WriteOutcome(create.source_id, None, FatalError(m.refused))) if m.refused
                       else self._write_merge(scope, create, m.target_id, m.to_target, m.to_source))
            if failure is None and not self._link(scope, [(create.source_id, m.target_id, m.snapshot, None)],
                                                  racing=True):
                failure = self._coupled_meanwhile(scope, create, m.target_id)
                if failure is None:  # the same pair, coupled there
                    stats["skipped"] += 1
                    continue
            if failure is not None:
                self._park([(create.entity, create.source, create.source_id, failure[0], "create",
                             create.values, failure[1])], stats)
                continue
            stats["matched"] += 1
            self._told("matched", create.entity, f"{create.source}:{create.source_id}", f"{scope.target}:{m.target_id}")

    def _coupled_meanwhile(self, scope: Scope, create: Create, target_id: str) -> tuple[Side, WriteOutcome] | None:
        """A merge's link was refused: another job (a shard of the same load, a sync on demand)
        coupled the record or its match after this batch was planned. None if it coupled the same
        pair; else the failure that parks the record for a person, saying who holds what."""
        source, target = scope.source, scope.target
        mine = self.store.links.by_ids(scope.entity, source, [create.source_id]).get(create.source_id)
        if mine is not None and mine.id_on(target) == target_id:
            return None
        theirs = self.store.links.by_ids(scope.entity, target, [target_id]).get(target_id)
        held = (f"{source}:{create.source_id} is coupled to {target}:{mine.id_on(target)}" if mine is not None
                else f"{target}:{target_id} is coupled to {source}:{theirs.id_on(source)}" if theirs is not None
                else "its coupling was refused")
        return target, WriteOutcome(create.source_id, None, RecordError(
            f"matched {target}:{target_id}, but meanwhile {held} (by another koppel job); "
            "couple the right pair by hand (`koppel match`) or keep them apart", system=target))

    def _rematch(self, scope: Scope, creates: list[Create], stats: Counter[str]) -> list[Create]:
        """After a try whose answer was lost: couple what the target holds now (the record that
        try made, found by natural key or reference) with the values written; the rest is retried."""
        hits, rest = matcher.find(self, scope, creates)
        for create, target_id in hits:
            self._link(scope, [(create.source_id, target_id, create.values, None)])
            stats["matched"] += 1
            self._told("matched", create.entity, f"{create.source}:{create.source_id}", f"{scope.target}:{target_id}")
        return rest

    def _write_merge(self, scope: Scope, create: Create, target_id: str,
                     to_target: dict[str, Any], to_source: dict[str, Any]) -> tuple[Side, WriteOutcome] | None:
        """Write the merged values to both records; the first failure and its side."""
        for side, record_id, values in ((scope.target, target_id, to_target),
                                        (scope.source, create.source_id, to_source)):
            if values:
                op = WriteOp(record_id, self.translate.outgoing(create.entity, side, values), record_id)
                [outcome] = self.call(side, self.connectors[side].write, create.entity, [op])
                if not outcome.ok:
                    return side, outcome
        return None

    def _link(self, scope: Scope, rows: Sequence[tuple[str, str, Mapping[str, Any], str | None]], *,
              racing: bool = False) -> bool:
        """Record couplings (source id, target id, snapshot, the target's version stamp). With
        `racing` (a merge: no create of koppel's behind it), a coupling another job recorded
        first for one of the records is no failure: False, and nothing recorded."""
        links = [NewLink(s, t, snap, crm_version=version) if scope.source == "erp" else NewLink(t, s, snap, erp_version=version)
                 for s, t, snap, version in rows]
        if racing:
            if not self.store.links.try_add(scope.entity, links):
                return False
        else:
            self.store.links.add(scope.entity, links)
        self.store.errors.resolve_for(scope.entity, scope.source, [row[0] for row in rows])
        return True

    def _updates(self, updates: list[Update], failed: dict[int, set[str] | None], stats: Counter[str]) -> None:
        by_target: dict[tuple[str, Side], list[Update]] = {}
        for u in updates:
            by_target.setdefault((u.entity, u.target), []).append(u)
        for (entity, target), group in by_target.items():
            for start in range(0, len(group), self.batch_size):
                chunk = group[start:start + self.batch_size]
                values = self.translate.outgoing_many(entity, target, [u.values for u in chunk])
                ops = [WriteOp(str(i), v, u.target_id) for i, (u, v) in enumerate(zip(chunk, values, strict=True))]
                outcomes = self.write_updates(target, entity, ops)
                wrong = self.verify(entity, target, [(u.target_id, v) for u, v, o in
                                                      zip(chunk, values, outcomes, strict=True) if o.ok],
                                    _stored(outcomes))
                with self.store.together():  # the chunk's audit rows and queue entries: one commit
                    self.store.audit.add([entry for u, o in zip(chunk, outcomes, strict=True)
                                          if (entry := self._after_update(u, o, wrong.get(u.target_id), failed,
                                                                          stats)) is not None])

    def write_updates(self, target: Side, entity: str, ops: list[WriteOp]) -> list[WriteOutcome]:
        """Write updates; the ops whose own answer was a transient failure are sent again (an
        update of given values is safe to repeat), within the attempts."""
        if not ops:
            return []
        outcomes = self.call(target, self.connectors[target].write, entity, ops)
        for attempt in range(2, self.retries.attempts + 1):
            again = [i for i, o in enumerate(outcomes) if isinstance(o.error, TransientError)]
            if not again:
                break
            self.retries.pause(attempt, *(outcomes[i].error for i in again))
            retried = self.call(target, self.connectors[target].write, entity, [ops[i] for i in again])
            for i, outcome in zip(again, retried, strict=True):
                outcomes[i] = outcome
        if all(isinstance(o.error, TransientError) for o in outcomes):
            self._still_up(target)
        return outcomes

    def _still_up(self, target: Side) -> None:
        """Every write of a batch failed for a passing reason through all attempts: a system that
        is down stops the run (`failed`, and shown as down), one that answers a check is up, and
        the records wait in the queue as transient errors for the next run."""
        self.call(target, self.connectors[target].check)

    def verify(self, entity: str, target: Side, written: list[tuple[str, dict[str, Any]]],
               answered: Mapping[str, JsonValues] | None = None, *, empty: bool = True
               ) -> dict[str, list[Difference]]:
        """What `target` stored for the records just written, the fields it did not keep: from
        the record its answer to the write carried (`answered`), else read back. Without `empty`,
        a field written empty is not checked (a create's: the target may fill in its default).

        A field the policy hands over once is left out: the receiving system may keep its own
        version of it (the ERP reprices a quote's lines)."""
        if not written:
            return {}
        rules = self.policy.rules(entity).fields
        readable = self.connectors[target].discover()[entity].readable
        checked = [f for f in readable if f in rules and not rules[f].once]
        stored = dict(answered or {})
        unread = [i for i, _ in written if i not in stored]
        if unread:  # only the fields to compare: the rest of a record may cost the system more to read
            wanted = {f for _, values in written for f, v in values.items() if empty or v is not None
                      }.intersection(checked)
            stored.update((r.id, r.canonical()) for r in self.call(
                target, read_fields, self.connectors[target], entity, unread, wanted))
        return {i: found for i, values in written if (found := differences(values, stored.get(i), checked, empty=empty))}

    def _after_update(self, u: Update, o: WriteOutcome, dropped: list[Difference] | None,
                      failed: dict[int, set[str] | None], stats: Counter[str]) -> AuditEntry | None:
        """Count, queue and tell an update's outcome; the audit entry of one that was written."""
        operation = "revert" if u.revert else "update"
        if not o.ok:
            failed[u.link_id] = None
            self._park([(u.entity, u.source, u.source_id, u.target, operation, u.values, o)], stats)
            return None
        stats["reverted" if u.revert else "updated"] += 1
        self._told("reverted" if u.revert else "updated", u.entity, f"{u.source}:{u.source_id}",
                   f"{u.target}:{u.target_id}")
        if dropped:
            failed[u.link_id] = (failed.get(u.link_id) or set()) | {d.field for d in dropped}
            self._park([(u.entity, u.source, u.source_id, u.target, operation, u.values,
                         dropped_outcome(u.target, u.target_id, dropped))], stats)
        return _audit(operation, u.entity, f"{u.target}:{u.target_id}", u.values, f"{u.source}:{u.source_id}",
                      self.run_id)

    def _deletes(self, plan: Plan, stats: Counter[str]) -> None:
        for d in plan.deletes:
            outcome = self.call(d.target, self.connectors[d.target].delete, d.entity, [d.target_id])[0]
            if outcome.ok:
                self.store.links.delete([d.link_id])
                self.store.audit.add([_audit("delete", d.entity, f"{d.target}:{d.target_id}", None,
                                         f"{d.source}:{d.source_id}", self.run_id)])
                stats["deleted"] += 1
                self._told("deleted", d.entity, f"{d.source}:{d.source_id}", f"{d.target}:{d.target_id}")
            else:
                self._park([(d.entity, d.source, d.source_id, d.target, "delete", {}, outcome)], stats)

    def _record(self, scope: Scope, plan: Plan, failed: dict[int, set[str] | None], stats: Counter[str]) -> None:
        self.store.links.update_snapshots({k: {f: x for f, x in v.items() if f not in (failed.get(k) or ())}
                                           for k, v in plan.snapshots.items() if k not in failed or failed[k]})
        self.store.links.delete(plan.unlinks)
        self.store.findings.add_conflicts([{"entity": c.entity, "link_id": c.link_id, "field": c.field,
                                   "base": c.base, "erp_value": c.erp_value, "crm_value": c.crm_value}
                                  for c in plan.conflicts])
        self.store.findings.add_violations([{"entity": v.entity, "system": v.system, "record_id": v.record_id,
                                    "field": v.field, "attempted": v.attempted, "restored": v.restored,
                                    "run_id": self.run_id} for v in plan.violations])
        self.store.errors.add([Parked(h.entity, h.source, h.source_id, scope.target, "create",
                                      {"missing": [list(m) for m in h.missing]},
                                      "waiting" if h.waiting else "trigger", h.reason, "held", self.run_id)
                               for h in plan.holds])
        stats.update(conflicts=len(plan.conflicts), violations=len(plan.violations),
                     held=len(plan.holds), skipped=plan.skipped)
        for h in plan.holds:
            self._told("held", h.entity, f"{h.source}:{h.source_id}", scope.target)
        for c in plan.conflicts:
            self._told("conflict", c.entity, f"link:{c.link_id}", "", field=c.field)
        for v in plan.violations:
            self._told("violation", v.entity, f"{v.system}:{v.record_id}", "", field=v.field)

    def _park(self, rows: list[tuple[str, Side, str, Side, str, Mapping[str, Any], WriteOutcome]],
              stats: Counter[str]) -> None:
        self.store.errors.add([
            Parked(entity, source, source_id, target, op, dict(values),
                   "transient" if isinstance(o.error, TransientError) else "permanent",
                   _message(target, o.error), run_id=self.run_id)
            for entity, source, source_id, target, op, values, o in rows])
        stats["errors"] += len(rows)
        for entity, source, source_id, target, op, _, o in rows:
            self._told("error", entity, f"{source}:{source_id}", target, operation=op,
                       error=type(o.error).__name__ if o.error else None)

    def _told(self, outcome: str, entity: str, record: str, target: str, **extra: Any) -> None:
        """One event per record outcome, for operators: ids only, never a record's values (a
        target's message can quote them; it stays in the error queue)."""
        self._records.info("record", run=self.run_id, entity=entity, record=record, target=target, outcome=outcome,
                     **extra)


@dataclass(frozen=True)
class Renamed:
    """A create retried under another value of a unique field, beside the record `holder`."""

    field: str
    alias: str
    holder: str | None


def _alias(pattern: str, create: Create, field: str) -> str:
    """The pattern filled from the record's values; a blank part becomes the source's id."""
    values = {k: (create.source_id if v in (None, "") else v) for k, v in create.values.items()}
    try:
        alias = pattern.format_map(values)
    except (KeyError, ValueError, IndexError):
        alias = f"{create.values.get(field)} ({create.source_id})"
    return alias if alias != create.values.get(field) else f"{alias} ({create.source_id})"


def _message(target: Side, error: KoppelError | None) -> str:
    if error is None:
        return "unknown error"
    if isinstance(error, UniqueCollision) and error.holder:
        return f"{error.message} (the record in the way: {target}:{error.holder})"
    return error.message


def _without(snapshot: dict[str, Any], dropped: list[Difference] | None) -> dict[str, Any]:
    """The snapshot of a record without the fields the target did not store: they are not
    synced, so the target's own value is no edit and the source's is sent again."""
    if not dropped:
        return snapshot
    gone = {d.field for d in dropped}
    return {k: v for k, v in snapshot.items() if k not in gone}


def _stored(outcomes: Sequence[WriteOutcome]) -> dict[str, JsonValues]:
    """The records the target's answers to a write carried, by id."""
    return {o.id: o.stored for o in outcomes if o.error is None and o.id and o.stored is not None}


def dropped_outcome(target: Side, record_id: str, diffs: list[Difference], key: str | None = None
                    ) -> WriteOutcome:
    """The outcome of a write whose values `target` did not all keep: an error, not a success."""
    fields = "; ".join(d.describe() for d in diffs)
    return WriteOutcome(key or record_id, record_id, RecordError(
        f"{target} did not store what koppel wrote to {record_id} ({fields})", system=target,
        hint="the field may be missing or read-only there: `koppel check` lists what is missing "
             "and `koppel setup` creates it; then retry this record"))


def _audit(action: str, entity: str, record: str, after: Any, origin: str, run_id: int | None) -> AuditEntry:
    return AuditEntry("koppel", action, record, entity, after=after, origin=origin, run_id=run_id)
