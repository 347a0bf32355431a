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

import procrastinate
import structlog
from procrastinate.types import JSONValue
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from koppel.config.settings import Settings
from koppel.engine import parallel
from koppel.engine.jobs import KINDS, POLL_LOCK, RETRY_LOCK, entity_lock, record_lock, run_job
from koppel.engine.parallel import Shard
from koppel.engine.runtime import open_runtime
from koppel.engine.sync import Engine
from koppel.errors import UsageError

log = structlog.get_logger("koppel.workers")
QUEUE = "koppel"
#: job kind -> Procrastinate task name
TASKS = {"sync": "koppel.sync", "full": "koppel.full", "record": "koppel.record", "retry": "koppel.retry"}
LOAD = "koppel.load"  # one entity's load (or a shard of it), queued by a full sync, the nightly batch or the poll
KIND_OF = {task: kind for kind, task in TASKS.items()} | {"koppel.poll": "sync", "koppel.nightly": "full",
                                                        "koppel.recover": "recover", LOAD: "load"}
#: seconds a load waits in its worker's slot for the loads it depends on, before it gives the
#: slot back and is queued again (a worker whose every slot waits could not run what they wait for)
WAIT_IN_SLOT = 30.0


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
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings.store.url)))
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
            load(app, [e for e in fresh if e not in loading], group, settings.jobs.shards)
        rest = [e for e in names if e not in fresh]
        if not rest:
            return {"run": None, "status": "ok", "writes": 0, "loading": fresh}
        return run("sync", {"entities": rest}) | ({"loading": fresh} if fresh else {})

    @app.task(name=TASKS["sync"], queue=QUEUE, lock=POLL_LOCK, retry=retry)
    def sync(entities: list[str] | None = None) -> dict[str, Any]:
        """On demand: everything since the last run, in this one job (its status is the run's)."""
        return run("sync", {"entities": entities} if entities else {})

    @app.task(name=TASKS["full"], queue=QUEUE, pass_context=True)
    def full(context: procrastinate.JobContext, entities: list[str] | None = None) -> dict[str, Any]:
        names = pool.get().entities(entities)
        return {"loading": names, "jobs": load(app, names, _id(context), settings.jobs.shards)}

    @app.task(name=LOAD, queue=QUEUE, retry=retry, pass_context=True)
    def load_entity(context: procrastinate.JobContext, entity: str, group: int, after: list[str],
               shard: list[int] | None = None) -> dict[str, Any]:
        """One entity's load: a shard applies its part, the owner (after its shards) reads all of
        it once more and moves its cursors; both once the loads of what it references are done."""
        waited_for = after if shard else [*after, entity]  # the owner also waits for its own shards
        started = time.monotonic()
        while True:
            with pool.get().store.connection() as conn:
                if not loads_pending(conn, waited_for, before=group, besides=_id(context)):
                    break
            if time.monotonic() - started > WAIT_IN_SLOT:  # give the worker's slot back, try again soon
                again = context.job.task_kwargs
                _defer_load(app, entity, group, after, Shard(*shard) if shard else None, again=True)
                return {"run": None, "status": "waiting", "for": again}
            time.sleep(0.25)
        return run("entity", {"entity": entity, "shard": shard})

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
    @app.task(name="koppel.nightly", queue=QUEUE, queueing_lock="koppel.nightly", pass_context=True)
    def nightly(context: procrastinate.JobContext, timestamp: int) -> dict[str, Any]:
        names = pool.get().entities()
        return {"loading": names, "jobs": load(app, names, _id(context), settings.jobs.shards)}

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


def _id(context: procrastinate.JobContext) -> int:
    return int(context.job.id or 0)


def loads_pending(conn: Connection, entities: Sequence[str], *, before: int | None = None,
                  besides: int | None = None) -> set[str]:
    """Of `entities`, those with a load waiting or running (of group `before` or earlier, other
    than job `besides`)."""
    if not entities:
        return set()
    query = ("SELECT DISTINCT args->>'entity' FROM procrastinate_jobs WHERE task_name = :task "
             "AND status IN ('todo', 'doing') AND args->>'entity' = ANY(:entities)")
    values: dict[str, Any] = {"task": LOAD, "entities": list(entities)}
    if before is not None:
        query += " AND (args->>'group')::bigint <= :before"
        values["before"] = before
    if besides is not None:
        query += " AND id <> :besides"
        values["besides"] = besides
    return {str(row[0]) for row in conn.execute(text(query), values)}


def load(app: procrastinate.App, names: Sequence[str], group: int, shards: int) -> list[int]:
    """Queue the loads of `names` (in dependency order) as group `group`: per entity, `shards`
    jobs that apply a part each (where more than one), then its cursor owner's. Each waits for
    the loads of the entities it references; one already waiting for an entity is not queued
    twice. Returns the ids of the jobs queued."""
    deps = parallel.dependencies(list(names))
    queued = []
    for entity in names:
        parts: list[Shard | None] = [Shard(i, shards) for i in range(shards)] if shards > 1 else []
        for part in [*parts, None]:
            job = _defer_load(app, entity, group, deps[entity], part)
            if job is not None:
                queued.append(job)
    if queued:
        log.info("loads queued", entities=list(names), shards=shards, group=group, jobs=len(queued))
    return queued


def _defer_load(app: procrastinate.App, entity: str, group: int, after: list[str], shard: Shard | None,
                *, again: bool = False) -> int | None:
    waiting = f"load:{entity}" + (f":{shard.index}" if shard else "")
    task = app.tasks[LOAD].configure(lock=entity_lock(entity, shard), queueing_lock=waiting,
                                                schedule_in={"seconds": 1} if again else None)
    try:
        return int(task.defer(entity=entity, group=group, after=list[JSONValue](after),
                              shard=[shard.index, shard.count] if shard else None))
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
