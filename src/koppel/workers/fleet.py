"""Procrastinate runs koppel's jobs when the store is PostgreSQL: `koppel worker` on any number
of machines, all pointing at the same database.

- Every job kind is a Procrastinate task running `run_job`: a sync, the full batch, one record,
  a retry of queued errors. Jobs that write hold one lock (`LOCK`): no record is synced by two
  jobs at once, whichever worker takes them.
- The live poll and the nightly full batch are periodic tasks: each period fires once across
  all workers (Procrastinate's periodic defers are unique per period); a poll still waiting is
  not queued twice (queueing lock).
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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import procrastinate
import structlog
from sqlalchemy.engine import make_url

from koppel.config.settings import Settings
from koppel.engine.jobs import KINDS, LOCK, run_job
from koppel.engine.runtime import open_runtime
from koppel.engine.sync import Engine
from koppel.errors import UsageError

log = structlog.get_logger("koppel.workers")
QUEUE = "koppel"
#: job kind -> Procrastinate task name
TASKS = {"sync": "koppel.sync", "full": "koppel.full", "record": "koppel.record", "retry": "koppel.retry"}
KIND_OF = {task: kind for kind, task in TASKS.items()} | {"koppel.poll": "sync", "koppel.nightly": "full",
                                                        "koppel.recover": "recover"}


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

    @app.task(name=TASKS["sync"], queue=QUEUE, lock=LOCK, retry=retry)
    def sync(entities: list[str] | None = None) -> dict[str, Any]:
        return run("sync", {"entities": entities} if entities else {})

    @app.task(name=TASKS["full"], queue=QUEUE, lock=LOCK, retry=retry)
    def full(entities: list[str] | None = None) -> dict[str, Any]:
        return run("full", {"entities": entities} if entities else {})

    @app.task(name=TASKS["record"], queue=QUEUE, lock=LOCK, retry=retry)
    def record(side: str, entity: str, id: str) -> dict[str, Any]:
        return run("record", {"side": side, "entity": entity, "id": id})

    @app.task(name=TASKS["retry"], queue=QUEUE, lock=LOCK, retry=retry)
    def retry_errors(errors: list[int]) -> dict[str, Any]:
        return run("retry", {"errors": errors})

    @app.periodic(cron=every(settings.sync.poll_interval), periodic_id="live")
    @app.task(name="koppel.poll", queue=QUEUE, lock=LOCK, queueing_lock="koppel.poll")
    def poll(timestamp: int) -> dict[str, Any]:
        return run("sync", {})

    @app.periodic(cron=settings.sync.schedule, periodic_id="nightly")
    @app.task(name="koppel.nightly", queue=QUEUE, lock=LOCK, queueing_lock="koppel.nightly", retry=retry)
    def nightly(timestamp: int) -> dict[str, Any]:
        return run("full", {})

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
    if kind not in TASKS:
        raise UsageError(f"no job kind {kind!r}", hint=f"one of {', '.join(KINDS)}")
    coalesce = json.dumps([kind, payload], sort_keys=True) if kind in ("sync", "full") else None
    with opened(settings) as app:
        try:
            return int(app.tasks[TASKS[kind]].configure(queueing_lock=coalesce).defer(**payload))
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
