"""The sync runner: reads changes from both systems entity by entity, plans, applies, and
moves each cursor only after its batch is applied, so a stopped run resumes where it was.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from koppel.config.policy import Policy, Side, other
from koppel.config.settings import SyncSettings
from koppel.connectors.base import ChangeBatch, Connector, RemoteRecord, WriteOp
from koppel.engine import handoffs, matcher, parallel, writes
from koppel.engine.executor import Executor
from koppel.engine.parallel import Dispatch
from koppel.engine.plan import Create, Hold, Plan, Update
from koppel.engine.planner import Change, Scope, plan_batch, plan_deletes
from koppel.engine.retry import Retries
from koppel.engine.translate import Translator
from koppel.errors import FatalError, KoppelError, UsageError
from koppel.store import ErrorRow, LinkRow, Store

Progress = Callable[[str, Side, int], None]
log = structlog.get_logger("koppel.sync")
SIDES: tuple[Side, Side] = ("erp", "crm")
ORDERS = frozenset({"quote", "order"})  # a record of these reaching the ERP is a first order


@dataclass
class RunReport:
    run_id: int
    status: str
    stats: dict[str, Counter[str]] = field(default_factory=dict)
    message: str | None = None
    plan: list[str] = field(default_factory=list)

    def total(self, key: str) -> int:
        return sum(c[key] for c in self.stats.values())

    @property
    def writes(self) -> int:
        return sum(self.total(k) for k in ("created", "updated", "reverted", "deleted", "matched"))


class Engine:
    """Couples the ERP and the CRM connectors through the store under the policy."""

    def __init__(self, store: Store, connectors: Mapping[Side, Connector], policy: Policy,
                 settings: SyncSettings | None = None, *, suppress_echo: bool = True) -> None:
        self.store = store
        self.connectors = connectors
        self.policy = policy
        self.settings = settings or SyncSettings()
        self.suppress_echo = suppress_echo
        #: a check before the first run (the CLI's: every field the policy writes can be stored);
        #: it runs inside that run, so a system that is down makes it `failed`
        self.preflight: Callable[[], None] | None = None
        self.sleep: Callable[[float], None] = time.sleep  # the backoff's wait (tests record it)
        #: systems the last run could not reach: the next run probes each with one check first,
        #: instead of hammering it with a whole run's retries (a circuit breaker per system)
        self.down: set[str] = set()
        #: the shards a load's parts are applied in (`[jobs] shards`): the record locks follow them
        self.shards = 1
        self._infos = {side: c.discover() for side, c in connectors.items()}
        _collect_less_often()

    def entities(self, only: Sequence[str] | None = None) -> list[str]:
        """Entities both systems hold and the policy syncs, in dependency order."""
        wanted = only or self.settings.entities
        names = [e for e in self.policy.synced_entities()
                 if all(e in self._infos[s] for s in SIDES) and (not wanted or e in wanted)]
        unknown = set(wanted or []) - set(self.policy.synced_entities())
        if unknown:
            raise UsageError(f"not a synced entity: {', '.join(sorted(unknown))}",
                             hint=f"choose from {', '.join(self.policy.synced_entities())}")
        return names

    def scope(self, entity: str, source: Side, fired: Collection[str] = ()) -> Scope:
        """What the planner needs of one entity read from `source`; `fired`: ids whose coupling
        trigger has fired (a prospect with its first order is created in the ERP now)."""
        readable = {s: self._infos[s][entity].readable for s in SIDES}
        writable = {s: self._infos[s][entity].writable for s in SIDES}
        return Scope(entity, source, self.policy, readable, writable, self.suppress_echo, set(fired))

    def executor(self, run_id: int | None) -> Executor:
        s = self.settings
        return Executor(self.store, self.connectors, self.policy, self.translator,
                        Retries(s.retry_attempts, s.retry_base_delay, self.sleep), s.batch_size, run_id)

    @property
    def translator(self) -> Translator:
        """Records of a side in the engine's form and back (references among coupled entities)."""
        return Translator(self.store, self.policy, frozenset(self.entities()))

    # --- runs ---------------------------------------------------------------------------

    def sync(self, entities: Sequence[str] | None = None, *, dry_run: bool = False,
             progress: Progress | None = None, kind: str = "incremental", full: bool = False,
             wait: bool = False, dispatch: Dispatch | None = None) -> RunReport:
        """Bring every change since the last run across, entity by entity.

        `full` reads every record from the start instead of from the cursors (the nightly batch):
        unchanged records cost a comparison and no write. Each entity is synced as its cursor
        owner (engine/parallel.py): with `wait`, once the job that owns it now is done, else only
        if no other job owns it now (one that does is left to it, counted `busy`). With
        `dispatch`, each batch read is handed to it to be applied elsewhere (`apply_batch`, in
        parts side by side) and no cursor moves: whoever dispatched moves them once all is applied.
        """
        names = self.entities(entities)

        def work(report: RunReport, executor: Executor) -> None:
            if dry_run:
                self._probe()
            else:
                self._preflight(executor)
            for entity in names:
                stats = report.stats.setdefault(entity, Counter())
                with parallel.owning(self.store, entity, wait=wait, reading=dry_run) as owned:
                    if not owned:  # another job reads this entity now (a load): it is left to that job
                        stats["busy"] += 1
                        continue
                    if not dry_run:
                        self._retry_held(entity, executor, stats)
                    for side in SIDES:
                        self._sync_side(entity, side, executor, stats, report, dry_run, progress, full, dispatch)

        return self._running("dry-run" if dry_run else kind, ",".join(names), work)

    def _running(self, kind: str, scope: str, work: Callable[[RunReport, Executor], None]) -> RunReport:
        """A run of `kind`: its row started, `work` done, and the row finished whatever ended it.
        A system that cannot be reached ends it `failed`, with that system shown as down; anything
        else (a bug, Ctrl-C, a stop) ends it `failed` too, and goes on up.
        On SQLite, a run of another process on the same store is waited for (store/locks.py)."""
        with self.store.locks.exclusive(waiting=_waiting):
            report = RunReport(self.store.runs.start(kind, scope), "running")
            try:
                work(report, self.executor(report.run_id))
            except FatalError as exc:
                return self._finish(report, "failed", str(exc), down=exc.system)
            except BaseException as exc:
                self._finish(report, "failed", _why(exc))
                raise
            return self._finish(report, "partial" if report.total("errors") else "ok", None)

    def _probe(self) -> None:
        """One cheap check of each system the last run could not reach; still down: stop now."""
        for side in sorted(self.down):
            try:
                self.connectors[side].check()  # type: ignore[index]
            except KoppelError as exc:
                raise FatalError(f"{side} is still down: {exc.message}", system=side,
                                 hint="koppel probes it once per run until it answers; nothing is lost") from exc
            self.down.discard(side)

    def _preflight(self, executor: Executor) -> None:
        self._probe()
        if self.preflight is None:
            return
        try:
            executor.call("erp", self.preflight)  # transient failures retried with backoff
        except FatalError as exc:
            cause = exc.__cause__
            system = getattr(cause, "system", "") or "a system"
            raise FatalError(f"{system} cannot be reached: {getattr(cause, 'message', exc.message)}",
                             system=system) from exc
        self.preflight = None  # passed: later runs of this engine skip it

    def _sync_side(self, entity: str, side: Side, executor: Executor, stats: Counter[str],
                   report: RunReport, dry_run: bool, progress: Progress | None, full: bool,
                   dispatch: Dispatch | None = None) -> None:
        connector = self.connectors[side]
        position = [None if full else self.store.cursors.get(side, entity)]  # where a reopened read resumes

        def batches() -> Iterator[ChangeBatch]:
            return connector.read_changes(entity, position[0], batch_size=self.settings.batch_size)

        unsaved: str | None = None  # where a run of batches with nothing to do ended
        for batch in executor.each(side, batches):
            if dispatch is not None:  # applied elsewhere; the dispatcher moves the cursor after
                dispatch(entity, side, batch)
                stats["read"] += len(batch.records)
            elif dry_run:
                plan = self._plan(entity, side, batch.records, batch.deleted, executor)
                stats["read"] += len(batch.records)
                report.plan.extend(plan.lines() + self._trigger_lines(entity, side, plan))
            elif self._apply_read(entity, side, batch.records, batch.deleted, executor, stats):
                self.store.cursors.set(side, entity, batch.cursor)
                unsaved = None
            else:  # nothing done (echoes): the cursor moves with the next write, or at the end; if
                unsaved = batch.cursor  # the run stops before, these are read again and skipped again
            position[0] = batch.cursor
            if progress:
                progress(entity, side, len(batch.records))
        if unsaved is not None:
            self.store.cursors.set(side, entity, unsaved)

    def _apply_read(self, entity: str, side: Side, records: Sequence[RemoteRecord], deleted: Sequence[str],
                    executor: Executor, stats: Counter[str]) -> bool:
        """Plan and apply records read from `side`, under their record locks; whether there was
        anything to do."""
        with parallel.holding(self.store, entity, side, [r.id for r in records] + list(deleted), self.shards) as coupled:
            plan = self._plan(entity, side, records, deleted, executor, coupled=coupled)
            stats["read"] += len(records)
            self._apply(entity, side, plan, executor, stats)
            return not plan.empty

    def apply_batch(self, entity: str, side: Side, records: Sequence[RemoteRecord],
                    deleted: Sequence[str] = ()) -> RunReport:
        """A part of a load, read and dispatched by its entity's cursor owner: plan and apply it."""
        def work(report: RunReport, executor: Executor) -> None:
            self._preflight(executor)
            self._apply_read(entity, side, records, deleted, executor, report.stats.setdefault(entity, Counter()))

        return self._running("full", entity, work)

    def _plan(self, entity: str, side: Side, records: Sequence[RemoteRecord], deleted: Sequence[str],
              executor: Executor, fired: Collection[str] = (), unlinked: Collection[int] = (),
              coupled: parallel.Coupled | None = None) -> Plan:
        """What to do with a batch read from `side`; `unlinked`: links this batch's plan drops
        already (the owner's copy of a record a non-owner deleted is planned as new); `coupled`:
        what the look-up of the batch's record locks found (its echoes are known from it)."""
        scope = self.scope(entity, side, fired)
        echoes = 0
        if scope.suppress_echo:  # koppel's own creates, known by their stamp
            if coupled is None:
                stamped = [r.id for r in records if r.version is not None]
                coupled = self.store.links.stamps(entity, side, stamped) if stamped else {}
            fresh = [r for r in records if not parallel.is_echo(r, coupled, unlinked)] if coupled else list(records)
            echoes, records = len(records) - len(fresh), fresh
            if not records and not deleted:  # a batch of echoes only: nothing to look up
                return Plan(skipped=echoes)
        links = {k: link for k, link in self.store.links.by_ids(
            entity, side, [r.id for r in records] + list(deleted)).items() if link.id not in unlinked}
        changes = executor.translate.records(entity, side, records)
        self._unalias(entity, side, changes, links)
        current = self._current(scope, changes, links, executor)
        conflicts = self.store.findings.open_conflict_fields(links[c.source_id].id for c in changes
                                                             if c.source_id in links)
        plan = plan_batch(scope, changes, links, current, conflicts)
        plan.skipped += echoes
        self._wait_for_proposals(entity, side, plan)
        if scope.target == "erp" and (plan.creates or plan.holds):
            handoffs.prepare(self, entity, plan, executor, {c.source_id: c.values for c in changes})
        matcher.match(executor, scope, plan)
        plan.extend(plan_deletes(scope, list(deleted), links))
        if plan.restores:  # a non-owner deleted a coupled record: the owner's copy is created again
            owner = other(side)
            records = executor.call(owner, self.connectors[owner].read, entity, plan.restores)
            plan.restoring = self._plan(entity, owner, records, [], executor, unlinked=plan.unlinks)
        return plan

    def _wait_for_proposals(self, entity: str, side: Side, plan: Plan) -> None:
        """A record in an open match proposal is not created while a person decides (R15)."""
        proposed = self.store.proposals.proposed_ids(entity, side, [c.source_id for c in plan.creates])
        if not proposed:
            return
        plan.holds += [Hold(entity, side, c.source_id, f"waits for match proposal {proposed[c.source_id]}: "
                            "couple the pair or keep it apart (`koppel match`)", waiting=False)
                       for c in plan.creates if c.source_id in proposed]
        plan.creates = [c for c in plan.creates if c.source_id not in proposed]

    def _unalias(self, entity: str, side: Side, changes: list[Change], links: Mapping[str, LinkRow]) -> None:
        """A copy created under another name (a unique collision) still carries the owner's value:
        its alias is no edit."""
        aliases = self.store.proposals.aliases(entity, side, [c.source_id for c in changes if c.source_id in links])
        for change in changes:
            if change.source_id in aliases:
                field, alias = aliases[change.source_id]
                if change.values.get(field) == alias:
                    change.values[field] = links[change.source_id].snapshot.get(field)

    def _current(self, scope: Scope, changes: list[Change], links: Mapping[str, LinkRow],
                 executor: Executor) -> dict[int, dict[str, Any]]:
        """The other side's current values, read only where a field either side may change moved."""
        shared = [n for n, r in scope.rules.fields.items() if r.direction == "both"]
        if not shared:
            return {}
        moved = [links[c.source_id] for c in changes if c.source_id in links and any(
            c.values.get(n) != links[c.source_id].snapshot.get(n) for n in shared)]
        if not moved:
            return {}
        target = scope.target
        by_id = {link.id_on(target): link.id for link in moved}
        records = executor.call(target, self.connectors[target].read, scope.entity, list(by_id))
        normal = executor.translate.records(scope.entity, target, records)
        return {by_id[c.source_id]: c.values for c in normal}

    def _apply(self, entity: str, side: Side, plan: Plan, executor: Executor, stats: Counter[str],
               *, fired: Collection[str] = (), follow: bool = True) -> None:
        """Apply a plan; with `follow`, orders held for a prospect fire its coupling trigger."""
        executor.apply(self.scope(entity, side, fired), plan, stats)
        if plan.restoring is not None:
            executor.apply(self.scope(entity, other(side)), plan.restoring, stats)
            stats["restored"] += len(plan.restoring.creates) + len(plan.restoring.merges)
        if follow and entity in ORDERS and plan.holds:
            self._first_order(entity, side, plan, executor, stats)

    def _trigger_lines(self, entity: str, side: Side, plan: Plan) -> list[str]:
        """For --dry-run: what a coupling trigger in this plan will do when the run is real."""
        if entity not in ORDERS:
            return []
        return [f"trigger {ref_entity} {side}:{ref_id}: its first order ({entity} {side}:{hold.source_id}) "
                f"creates it in {other(side)}, then the {entity}"
                for hold in plan.holds for ref_entity, ref_id in hold.missing
                if self.policy.rules(ref_entity).coupling_trigger == "first_order"]

    def _first_order(self, entity: str, side: Side, plan: Plan, executor: Executor,
                     stats: Counter[str]) -> None:
        """An order waits for a prospect: that is the prospect's coupling trigger (R2). The
        prospects are coupled, what waited for them follows, then the orders once more (an order
        still held waits in the queue for the next run: no second round of triggers)."""
        wanted: dict[str, set[str]] = {}
        for hold in plan.holds:
            for ref_entity, ref_id in hold.missing:
                if self.policy.rules(ref_entity).coupling_trigger == "first_order":
                    wanted.setdefault(ref_entity, set()).add(ref_id)
        if not wanted:
            return
        earlier = self.entities()[: self.entities().index(entity)]
        for ref_entity in [e for e in earlier if e in wanted]:
            self.sync_ids(ref_entity, side, sorted(wanted[ref_entity]), executor, stats, couple=True)
            stats["coupled"] += len(wanted[ref_entity])
        for dependent in earlier:  # e.g. the prospect's contacts, which waited for it
            self._retry_held(dependent, executor, stats)
        self.sync_ids(entity, side, [h.source_id for h in plan.holds if h.missing], executor, stats,
                      follow=False)

    def _retry_held(self, entity: str, executor: Executor, stats: Counter[str]) -> None:
        """Records that waited for a dependency go on once everything they reference is coupled;
        those a system failed to take for a passing reason (a timeout, a 503) are tried again."""
        held = self.store.errors.held(entity) + self.store.errors.held(entity, "transient", status="open")
        for side in SIDES:
            ready = [h for h in held if h.source == side and self._ready(side, h.payload)]
            if ready:
                self.sync_ids(entity, side, [h.source_id for h in ready], executor, stats)
                # through: what failed again, or waits again, was queued anew (superseding these)
                self.store.errors.close([h.id for h in ready])

    def _ready(self, side: Side, payload: Mapping[str, Any]) -> bool:
        missing = [(str(e), str(i)) for e, i in payload.get("missing", [])]
        return all(i in self.store.links.by_ids(e, side, [i]) for e, i in missing)

    def sync_ids(self, entity: str, side: Side, ids: Sequence[str], executor: Executor,
                 stats: Counter[str], *, couple: bool = False, follow: bool = True) -> None:
        """Sync the given records now; `couple`: their coupling trigger fires (R2)."""
        with parallel.holding(self.store, entity, side, ids, self.shards) as coupled:
            records = executor.call(side, self.connectors[side].read, entity, list(ids))
            found = {r.id for r in records}
            fired = list(ids) if couple else []
            plan = self._plan(entity, side, records, [i for i in ids if i not in found], executor, fired,
                              coupled=coupled)
            self._apply(entity, side, plan, executor, stats, fired=fired, follow=follow)

    def sync_record(self, side: Side, entity: str, record_id: str, *, dry_run: bool = False,
                    couple: bool = False) -> RunReport:
        """On demand: sync one record now, whatever the cursors say; `couple`: create it in the
        other system even where its coupling trigger has not fired yet (order entry's prospect)."""
        if entity not in self.entities():
            raise UsageError(f"{entity} is not synced between these systems",
                             hint=f"choose from {', '.join(self.entities())}")

        def work(report: RunReport, executor: Executor) -> None:
            stats = report.stats.setdefault(entity, Counter())
            if dry_run:
                records = executor.call(side, self.connectors[side].read, entity, [record_id])
                deleted = [] if records else [record_id]
                report.plan = self._plan(entity, side, records, deleted, executor,
                                         [record_id] if couple else []).lines()
            else:
                self._preflight(executor)
                self.sync_ids(entity, side, [record_id], executor, stats, couple=couple)

        return self._running("record", f"{side}:{entity}:{record_id}", work)

    def retry_errors(self, error_ids: Sequence[int]) -> RunReport:
        """Re-sync the records behind queued errors from their source's current state."""
        rows = [self.store.errors.get(i) for i in error_ids]

        def work(report: RunReport, executor: Executor) -> None:
            self.store.errors.set_status([r.id for r in rows], "retried")
            self._probe()
            for row in rows:
                stats = report.stats.setdefault(row.entity, Counter())
                if row.edited and row.operation in ("create", "update"):
                    self._write_edited(row, executor, stats)
                else:  # a create koppel tried had its coupling trigger fired already
                    self.sync_ids(row.entity, row.source, [row.source_id], executor, stats,  # type: ignore[arg-type]
                                  couple=row.operation == "create" and row.status != "held")

        return self._running("retry", ",".join(map(str, error_ids)), work)

    def _write_edited(self, row: ErrorRow, executor: Executor, stats: Counter[str]) -> None:
        """An operator corrected the payload: write it as it stands now, then couple or snapshot."""
        source: Side = "crm" if row.source == "crm" else "erp"
        scope = self.scope(row.entity, source)
        link = self.store.links.by_ids(row.entity, source, [row.source_id]).get(row.source_id)
        payload = dict(row.payload)
        if row.operation == "update" and link is not None:
            plan = Plan(updates=[Update(row.entity, link.id, scope.target, link.id_on(scope.target),
                                        payload, source, row.source_id)],
                        snapshots={link.id: {**link.snapshot, **payload}})
        else:
            plan = Plan(creates=[Create(row.entity, source, row.source_id, scope.target, payload, [])])
        failed_before = stats["errors"]
        executor.apply(scope, plan, stats)
        if stats["errors"] == failed_before:
            self.store.errors.resolve_for(row.entity, source, [row.source_id])

    def resolve_conflict(self, conflict_id: int, winner: Side, actor: str = "cli") -> None:
        """Settle a conflict: the winner's value goes to the other side and into the snapshot."""
        row = self.store.findings.resolve_conflict(conflict_id, winner, actor)
        link = self.store.links.by_link_ids([row.link_id])[row.link_id]
        value = row.value_of(winner)
        loser = other(winner)
        target = link.id_on(loser)
        op = WriteOp("resolve", self.translator.outgoing(row.entity, loser, {row.field: value}), target)
        [outcome] = writes.write(self, loser, row.entity, [op], actor=actor, origin=f"conflict:{conflict_id}",
                                 snapshots={target: {row.field: value}})
        if outcome.error:
            raise outcome.error

    def _finish(self, report: RunReport, status: str, message: str | None, *, down: str = "") -> RunReport:
        """Close the run row (whatever ended it) and say what the run saw of the systems."""
        report.status, report.message = status, message
        if status != "failed":
            self.store.runs.record_systems(SIDES, {})
            self.down.clear()
        elif down in SIDES:
            failed: dict[str, str] = {down: message or "failed"}
            rest = other(down)  # the run may have stopped before it: asked now, so that both shown are true
            try:
                self.connectors[rest].check()
            except Exception as exc:  # whatever stops the check is why it is shown down; the run is closed
                failed[rest] = f"{rest} cannot be reached: {getattr(exc, 'message', exc)}"
            self.store.runs.record_systems([] if rest in failed else [rest], failed)
            self.down.update(failed)
        totals: Counter[str] = Counter()
        for c in report.stats.values():
            totals.update(c)
        totals = +totals  # drop zero counts
        self.store.runs.finish(report.run_id, status, dict(totals), message)
        (log.error if status == "failed" else log.info)("run finished", run=report.run_id, status=status,
                                                           message=message, **totals)
        return report


#: the cycle collector's thresholds while koppel runs: a batch makes tens of thousands of
#: short-lived objects without cycles, and Python's default (700, 10, 10) collected a quarter of
#: a full load's time away (bench/engine.py); these keep collections rare, not off
GC_THRESHOLDS = (50_000, 50, 100)


def _collect_less_often() -> None:
    current = gc.get_threshold()
    gc.set_threshold(*(max(a, b) for a, b in zip(current, GC_THRESHOLDS, strict=True)))


def _waiting(holder: str) -> None:
    log.warning("waiting for another koppel process's run on this store (SQLite: one process at a time; "
                "on PostgreSQL several sync side by side, docs/scale.md)", holder=holder)


def _why(exc: BaseException) -> str:
    return "interrupted (Ctrl-C or a stop signal)" if isinstance(exc, KeyboardInterrupt) else str(exc)
