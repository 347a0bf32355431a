"""Procrastinate runs koppel's jobs when the store is PostgreSQL: `koppel worker` on any number
of machines, all pointing at the same database.

- Every job kind is a Procrastinate task running `run_job`. Workers run them side by side:
  - the live poll (and an on-demand sync) is one incremental job at a time (lock `poll`) over the
    entities read before, each taken as its cursor owner only if no load owns it now;
  - a load (the nightly full batch, `koppel.full`, and the first read of an entity, which the
    poll hands over) is one job per entity (lock `sync:<entity>`) waiting for the loads of what
    it references (a contact's for its account's); with `[jobs] shards = S`, S jobs before it
    apply a part of its records each (locks `sync:<entity>:<n>`), and it reads the entity once
    more as its cursor owner, which costs a comparison per record they applied;
  - one record on demand (lock `record:<entity>:<side>:<id>`), a retry of queued errors (`retry`).
  Below the job locks the engine's locks keep a record from being written by two jobs at once
  and one cursor owner per entity (engine/parallel.py); per-system caps hold across all workers
  (engine/caps.py).
- The live poll and the nightly full batch are periodic tasks: each period fires once across
  all workers (Procrastinate's periodic defers are unique per period); a poll or a load still
  waiting is not queued twice (queueing locks).
- A worker that died (`kill -9`, a lost machine) stops sending heartbeats; a periodic task on the
  workers that live takes its jobs up again after `[jobs] stalled_after` seconds. A job run
  again resumes from the cursors and links already saved, so it writes nothing twice.
- A run that ends `failed` (a system down) is retried with backoff, up to `[sync] retry_attempts`.

Procrastinate's schema lives beside koppel's tables and is applied with Procrastinate's own
`apply_schema` when missing (`ensure_schema`, called by `koppel worker`, `koppel setup` and the
first job queued).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import orjson
import procrastinate
import structlog
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from koppel.config.settings import Settings
from koppel.connectors.base import ChangeBatch
from koppel.engine import parallel
from koppel.engine.jobs import KINDS, POLL_LOCK, RETRY_LOCK, entity_lock, record_lock, run_job
from koppel.engine.runtime import open_runtime
from koppel.engine.sync import Engine
from koppel.errors import UsageError

log = structlog.get_logger("koppel.workers")
QUEUE = "koppel"
#: job kind -> Procrastinate task name
TASKS = {"sync": "koppel.sync", "full": "koppel.full", "record": "koppel.record", "retry": "koppel.retry"}
#: one entity's load (queued by a full sync, the nightly batch or the poll for an entity never read),
#: the parts of it applied side by side, and the step that moves its cursors once they are applied
LOAD, APPLY, SETTLE = "koppel.load", "koppel.apply", "koppel.settle"
LOADS = (LOAD, APPLY, SETTLE)
KIND_OF = {task: kind for kind, task in TASKS.items()} | {"koppel.poll": "sync", "koppel.nightly": "full",
                                                        "koppel.recover": "recover"} | dict.fromkeys(LOADS, "load")
#: seconds a load waits in its worker's slot for the loads it depends on, before it gives the slot
#: back and is queued again, a while later (a worker whose every slot waits runs nothing else)
WAIT_IN_SLOT = 2.0
#: the parts of a load and the step after them go before loads (which may wait for them)
PART_PRIORITY = 1


class RunFailed(Exception):
    """A run that ended `failed` (a system down, say): Procrastinate tries it again later."""


def conninfo(store_url: str) -> str:
    """The libpq connection string of the store's SQLAlchemy URL."""
    url = make_url(store_url)
    if not url.drivername.startswith("postgresql"):
        raise UsageError("Procrastinate's workers need the store on PostgreSQL",
                         hint='set [store] url = "postgresql+psycopg://…", or [jobs] runner = "embedded"')
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def every(seconds: float) -> str:
    """A cron expression (with seconds) firing every `seconds`, rounded to what cron can say."""
    whole = max(1, round(seconds))
    if whole < 60:
        return f"* * * * * */{whole}"
    return f"*/{max(1, min(59, whole // 60))} * * * *"


class Engines:
    """One engine per worker thread (an engine is not shared between threads), opened on first
    use and closed with the worker."""

    def __init__(self, settings: Settings, factory: Callable[[], Engine] | None = None) -> None:
        self.settings, self.factory = settings, factory
        self._local = threading.local()
        self._open: list[ExitStack] = []
        self._lock = threading.Lock()

    def get(self) -> Engine:
        engine: Engine | None = getattr(self._local, "engine", None)
        if engine is None:
            if self.factory is not None:
                engine = self.factory()
            else:
                stack = ExitStack()
                engine = stack.enter_context(open_runtime(self.settings)).engine
                with self._lock:
                    self._open.append(stack)
            self._local.engine = engine
        return engine

    def close(self) -> None:
        with self._lock:
            stacks, self._open = self._open, []
        for stack in stacks:
            stack.close()


def build_app(settings: Settings, engines: Engines | None = None) -> procrastinate.App:
    """koppel's tasks on a Procrastinate app for the store's database; its jobs run on `engines`
    (the caller closes them), or on engines opened from `settings` (a queueing app runs none)."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo(settings.store.url), json_dumps=_dumps, json_loads=orjson.loads))  # a load's parts are big
    pool = engines or Engines(settings)
    # a run fails as a whole when a system is down (it retried its own calls already): tried again
    # after a pause of ten backoff steps, `[sync] retry_attempts` tries in all
    retry = procrastinate.RetryStrategy(max_attempts=settings.sync.retry_attempts - 1,  # retries after the first
                                        wait=round(settings.sync.retry_base_delay * 10), retry_exceptions={RunFailed})

    def run(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        report = run_job(pool.get(), kind, payload)
        log.info("job finished", kind=kind, run=report.run_id, status=report.status, writes=report.writes)
        if report.status == "failed":
            raise RunFailed(report.message or "failed")
        return {"run": report.run_id, "status": report.status, "writes": report.writes}

    def live(group: int) -> dict[str, Any]:
        """The live poll: an incremental sync of the entities read before; those never read yet
        are loaded by jobs of their own, side by side (queued where none waits or runs for them)."""
        engine = pool.get()
        names = engine.entities()
        cursors = engine.store.cursors
        fresh = [e for e in names if cursors.get("erp", e) is None and cursors.get("crm", e) is None]
        if fresh:
            with engine.store.connection() as conn:
                loading = loads_pending(conn, fresh)
            load(app, [e for e in fresh if e not in loading], group)
        rest = [e for e in names if e not in fresh]
        if not rest:
            return {"run": None, "status": "ok", "writes": 0, "loading": fresh}
        return run("sync", {"entities": rest}) | ({"loading": fresh} if fresh else {})

    @app.task(name=TASKS["sync"], queue=QUEUE, lock=POLL_LOCK, retry=retry)
    def sync(entities: list[str] | None = None) -> dict[str, Any]:
        """On demand: everything since the last run, in this one job (its status is the run's)."""
        return run("sync", {"entities": entities} if entities else {})

    def full_loads(group: int, entities: list[str] | None) -> dict[str, Any]:
        """Loads of every entity, but for one still in its first load (it reads everything already)."""
        engine = pool.get()
        names = engine.entities(entities)
        with engine.store.connection() as conn:
            loading = loads_pending(conn, names)
        first = {e for e in loading if engine.store.cursors.get("erp", e) is None
                 and engine.store.cursors.get("crm", e) is None}
        names = [e for e in names if e not in first]
        return {"loading": names, "jobs": load(app, names, group)}

    @app.task(name=TASKS["full"], queue=QUEUE, lock=POLL_LOCK, pass_context=True)
    def full(context: procrastinate.JobContext, entities: list[str] | None = None) -> dict[str, Any]:
        return full_loads(_id(context), entities)

    def waited(context: procrastinate.JobContext, entity: str, group: int, entities: list[str]) -> bool:
        """Wait (in this worker's slot) until no load of `entities` of group `group` or earlier is
        waiting or running; after WAIT_IN_SLOT seconds give the slot back instead: the job is
        queued again, to run after a pause that doubles each time up to ten seconds, and False
        returned."""
        started = time.monotonic()
        while True:
            with pool.get().store.connection() as conn:
                if not loads_pending(conn, entities, before=group, besides=_id(context)):
                    return True
            if time.monotonic() - started > WAIT_IN_SLOT:
                args = dict(context.job.task_kwargs)
                waits = int(str(args.get("waits") or 0)) + 1
                args["waits"] = waits
                _defer(app, context.job.task_name, entity_lock(entity), pause=min(2.0 ** waits, 10.0), **args)
                return False
            time.sleep(0.1)

    @app.task(name=LOAD, queue=QUEUE, retry=retry, pass_context=True)
    def load_entity(context: procrastinate.JobContext, entity: str, group: int, after: list[str],
                    waits: int = 0) -> dict[str, Any]:
        """One entity's load, as its cursor owner, once the loads of what it references are done:
        with one shard it applies what it reads and moves the cursors; with more it reads once
        and queues each batch in parts by shard (applied side by side, each shard's parts in
        order), then the step that moves the cursors after them."""
        if not waited(context, entity, group, after):
            return {"run": None, "status": "waiting"}
        shards = settings.jobs.shards
        if shards == 1:
            return run("entity", {"entity": entity})
        engine = pool.get()
        cursors: dict[str, str] = {}
        parts, spent = 0, {"split": 0.0, "pack": 0.0, "defer": 0.0}

        def dispatch(name: str, side: str, batch: ChangeBatch) -> None:
            nonlocal parts
            began = time.perf_counter()
            split = parallel.split(engine.store, name, side, batch.records, batch.deleted, shards,
                                   drop_echoes=engine.suppress_echo)
            spent["split"] += time.perf_counter() - began
            for shard, (records, deleted) in split.items():
                began = time.perf_counter()
                packed = parallel.pack(records)
                packed_at = time.perf_counter()
                _defer(app, APPLY, entity_lock(name, shard), entity=name, group=group, side=side,
                       records=packed, deleted=deleted)
                spent["pack"] += packed_at - began
                spent["defer"] += time.perf_counter() - packed_at
                parts += 1
            cursors[side] = batch.cursor

        report = engine.sync([entity], kind="full", full=True, wait=True, dispatch=dispatch)
        log.info("load read", entity=entity, run=report.run_id, status=report.status, parts=parts,
                 **{f"{k}_s": round(v, 2) for k, v in spent.items()})
        if report.status == "failed":
            raise RunFailed(report.message or "failed")
        _defer(app, SETTLE, entity_lock(entity), entity=entity, group=group, cursors=cursors)
        return {"run": report.run_id, "status": report.status, "parts": parts}

    @app.task(name=APPLY, queue=QUEUE, retry=retry)
    def apply_part(entity: str, group: int, side: str, records: str, deleted: list[str]) -> dict[str, Any]:
        """A part of a load its cursor owner read: planned and applied under the record locks."""
        return run("apply", {"entity": entity, "side": side, "records": records, "deleted": deleted})

    @app.task(name=SETTLE, queue=QUEUE, retry=retry, pass_context=True)
    def settle(context: procrastinate.JobContext, entity: str, group: int, cursors: dict[str, str],
               waits: int = 0) -> dict[str, Any]:
        """After the parts of a load: its cursors move to where its read ended, unless a part
        failed for good (the entity is then read again from where it stood: nothing is lost)."""
        if not waited(context, entity, group, [entity]):
            return {"status": "waiting"}
        engine = pool.get()
        with engine.store.connection() as conn:
            failed = parts_failed(conn, entity, group)
        if failed:
            log.warning("load left its cursors: parts failed", entity=entity, group=group, failed=failed)
            return {"status": "partial", "failed": failed}
        with parallel.owning(engine.store, entity, wait=True):
            for side, cursor in cursors.items():
                engine.store.cursors.set(side, entity, cursor)
        return {"status": "ok", "cursors": sorted(cursors)}

    @app.task(name=TASKS["record"], queue=QUEUE, retry=retry)
    def record(side: str, entity: str, id: str) -> dict[str, Any]:
        return run("record", {"side": side, "entity": entity, "id": id})

    @app.task(name=TASKS["retry"], queue=QUEUE, lock=RETRY_LOCK, retry=retry)
    def retry_errors(errors: list[int]) -> dict[str, Any]:
        return run("retry", {"errors": errors})

    @app.periodic(cron=every(settings.sync.poll_interval), periodic_id="live")
    @app.task(name="koppel.poll", queue=QUEUE, lock=POLL_LOCK, queueing_lock="koppel.poll", pass_context=True)
    def poll(context: procrastinate.JobContext, timestamp: int) -> dict[str, Any]:
        return live(_id(context))

    @app.periodic(cron=settings.sync.schedule, periodic_id="nightly")
    @app.task(name="koppel.nightly", queue=QUEUE, lock=POLL_LOCK, queueing_lock="koppel.nightly", pass_context=True)
    def nightly(context: procrastinate.JobContext, timestamp: int) -> dict[str, Any]:
        return full_loads(_id(context), None)

    @app.periodic(cron=every(min(settings.jobs.stalled_after / 2, 30)), periodic_id="recover")
    @app.task(name="koppel.recover", queue=QUEUE, queueing_lock="koppel.recover")
    async def recover(timestamp: int) -> int:
        """Jobs of workers whose heartbeat stopped go back to the queue."""
        stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.jobs.stalled_after))
        for job in stalled:
            try:
                await app.job_manager.retry_job(job)
                log.warning("job taken up again: its worker stopped", job=job.id, task=job.task_name)
            except procrastinate.exceptions.UniqueViolation:  # the same poll waits already: it does the work
                await app.job_manager.finish_job(job, procrastinate.jobs.Status.FAILED, delete_job=False)
                log.warning("job ended: its worker stopped and the same job waits", job=job.id, task=job.task_name)
        return len(stalled)

    return app


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _id(context: procrastinate.JobContext) -> int:
    return int(context.job.id or 0)


def loads_pending(conn: Connection, entities: Sequence[str], *, before: int | None = None,
                  besides: int | None = None) -> set[str]:
    """Of `entities`, those with a load (or a part of one) waiting or running (of group `before`
    or earlier, other than job `besides`)."""
    if not entities:
        return set()
    query = ("SELECT DISTINCT args->>'entity' FROM procrastinate_jobs WHERE task_name = ANY(:tasks) "
             "AND status IN ('todo', 'doing') AND args->>'entity' = ANY(:entities)")
    values: dict[str, Any] = {"tasks": list(LOADS), "entities": list(entities)}
    if before is not None:
        query += " AND (args->>'group')::bigint <= :before"
        values["before"] = before
    if besides is not None:
        query += " AND id <> :besides"
        values["besides"] = besides
    return {str(row[0]) for row in conn.execute(text(query), values)}


def parts_failed(conn: Connection, entity: str, group: int) -> int:
    """How many parts of the load `group` of `entity` failed for good."""
    return int(conn.execute(text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :task AND status = 'failed' "
        "AND args->>'entity' = :entity AND (args->>'group')::bigint = :group"),
        {"task": APPLY, "entity": entity, "group": group}).scalar() or 0)


def load(app: procrastinate.App, names: Sequence[str], group: int) -> list[int]:
    """Queue the loads of `names` (in dependency order) as group `group`, each waiting for the
    loads of the entities it references; one already waiting for an entity is not queued twice.
    Returns the ids of the jobs queued."""
    deps = parallel.dependencies(list(names))
    queued = [job for entity in names
              if (job := _defer(app, LOAD, entity_lock(entity), entity=entity, group=group, after=deps[entity]))]
    if queued:
        log.info("loads queued", entities=list(names), group=group, jobs=len(queued))
    return queued


def _defer(app: procrastinate.App, task: str, lock: str, *, pause: float = 0, **args: Any) -> int | None:
    """Queue a load's job (a load itself waits once per entity: its queueing lock; its parts and
    the step after them go first), `pause` seconds from now. None where the same load waits
    already."""
    waiting = f"load:{args['entity']}" if task == LOAD else None
    configured = app.tasks[task].configure(lock=lock, queueing_lock=waiting, priority=0 if task == LOAD else PART_PRIORITY,
                                           schedule_in={"milliseconds": round(pause * 1000)} if pause else None)
    try:
        return int(configured.defer(**args))
    except procrastinate.exceptions.AlreadyEnqueued:  # the same load waits already: it does the work
        return None


def ensure_schema(app: procrastinate.App) -> bool:
    """Apply Procrastinate's schema if the database has none yet; True if it was applied."""
    connector = app.connector.get_sync_connector()
    found = connector.execute_query_one(query="SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS found")
    if found["found"]:
        return False
    app.schema_manager.apply_schema()
    return True


@contextmanager
def opened(settings: Settings) -> Iterator[procrastinate.App]:
    """The app, open for queueing jobs (its schema applied first if missing)."""
    app = build_app(settings)
    with app.open():
        ensure_schema(app)
        yield app


def defer(settings: Settings, kind: str, payload: dict[str, Any]) -> int | None:
    """Queue a job for the workers; its id, or None where the same sync waits already."""
    if kind not in KINDS:
        raise UsageError(f"no job kind {kind!r}", hint=f"one of {', '.join(KINDS)}")
    coalesce = json.dumps([kind, payload], sort_keys=True) if kind in ("sync", "full") else None
    lock = record_lock(payload["entity"], payload["side"], payload["id"]) if kind == "record" else None
    with opened(settings) as app:
        try:
            return int(app.tasks[TASKS[kind]].configure(queueing_lock=coalesce, lock=lock).defer(**payload))
        except procrastinate.exceptions.AlreadyEnqueued:
            return None


def run_worker(settings: Settings, *, concurrency: int = 1, queues: list[str] | None = None,
               engines: Engines | None = None, wait: bool = True) -> None:
    """Run a worker until stopped (Ctrl-C, SIGTERM); with `wait` false, until the queue is empty."""
    pool = engines or Engines(settings)
    app = build_app(settings, pool)
    try:
        with app.open():
            ensure_schema(app)
        app.run_worker(concurrency=concurrency, queues=queues or [QUEUE], wait=wait,
                       install_signal_handlers=wait, update_heartbeat_interval=max(1.0, settings.jobs.stalled_after / 6),
                       stalled_worker_timeout=settings.jobs.stalled_after)
    finally:
        pool.close()
