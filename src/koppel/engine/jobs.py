"""Jobs: every sync is a job — live polling, the scheduled full batch, one record on demand.

On koppel's own queue (one process) jobs that write share one lock key and run one at a time.
Procrastinate's workers (workers/fleet.py) run them side by side: a load per entity (`sync:<entity>`),
its parts applied in shards (`sync:<entity>:<n>`), one record (`record:<entity>:<side>:<id>`), the
live poll (`poll`); below the job locks, the engine's own locks (engine/parallel.py) keep one cursor
owner per entity and a record from being written by two jobs at once. A job left running by a process
that died goes back to the queue and resumes from the cursors and links it had already saved.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from croniter import croniter

from koppel import clock
from koppel.engine.parallel import unpack
from koppel.engine.sync import Engine, RunReport
from koppel.errors import UsageError

log = structlog.get_logger("koppel.jobs")
LOCK = "sync"  # koppel's own queue: one writer at a time
POLL_LOCK = "poll"  # one live poll at a time
RETRY_LOCK = "retry"  # one retry of queued errors at a time
#: what the front ends queue; the workers also run "entity" (one entity's load) and "apply" (a part of it)
KINDS = ("sync", "full", "record", "retry")


def entity_lock(entity: str, shard: int | None = None) -> str:
    """The job lock of a load of one entity, or of one shard of its parts (applied in order)."""
    return f"sync:{entity}" if shard is None else f"sync:{entity}:{shard}"


def record_lock(entity: str, side: str, record_id: str) -> str:
    return f"record:{entity}:{side}:{record_id}"


def run_job(engine: Engine, kind: str, payload: dict[str, Any]) -> RunReport:
    """What a job of `kind` does, whoever runs it (koppel's own queue or Procrastinate's workers).
    A job run again after a crash resumes from the cursors and links already saved."""
    if kind == "record":
        return engine.sync_record(payload["side"], payload["entity"], payload["id"])
    if kind == "retry":
        return engine.retry_errors(payload["errors"])
    if kind == "entity":  # one entity's load, as its cursor owner
        return engine.sync([payload["entity"]], kind="full", full=True, wait=True)
    if kind == "apply":  # a part of a load its cursor owner read
        entity = payload["entity"]
        return engine.apply_batch(entity, payload["side"], unpack(entity, payload["records"]), payload["deleted"])
    if kind not in KINDS:
        raise UsageError(f"no job kind {kind!r}", hint=f"one of {', '.join(KINDS)}")
    return engine.sync(payload.get("entities"), kind="full" if kind == "full" else "incremental",
                       full=kind == "full")


def next_run(schedule: str, after: datetime) -> datetime:
    """The next time the cron expression fires after `after`."""
    if not croniter.is_valid(schedule):
        raise UsageError(f"schedule {schedule!r} is not a cron expression",
                         hint='write it like "0 2 * * *" (02:00 every night)')
    found: datetime = croniter(schedule, after).get_next(datetime)
    return found


def process_name() -> str:
    """This process among the job runners of a store: its host and its process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def gone(worker: str) -> bool:
    """Whether `worker` is a process of this host that no longer runs: its jobs can be taken up
    at once. Another host's processes are judged by their jobs' heartbeats (`stale_after`)."""
    here = socket.gethostname()
    if worker == here:
        return True  # named before names carried a process id: as then, this host's own
    host, _, pid = worker.rpartition(":")
    if host != here or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: asks whether the process exists, sends nothing
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it runs, as another user
    return False


@dataclass
class Worker:
    """Claims jobs from the store and runs them through the engine."""

    engine: Engine
    name: str = field(default_factory=process_name)
    on_report: Callable[[dict[str, Any], RunReport], None] | None = None

    def run_one(self) -> RunReport | None:
        """Run the next due job, if any; returns its report."""
        job = self.engine.store.jobs.claim(self.name)
        if job is None:
            return None
        try:
            with self._beating(job["id"]):
                report = self._execute(job)
        except Exception:
            self.engine.store.jobs.finish(job["id"], "failed")
            log.exception("job failed", job=job["id"], kind=job["kind"])
            raise
        self._finish(job, report)
        return report

    @contextmanager
    def _beating(self, job_id: int) -> Iterator[None]:
        """While the job runs, its row is touched every third of `stale_after`: only a job whose
        process died goes quiet, and only such a job goes back to the queue (a nightly batch of a
        large load runs for longer than `stale_after`, and another process must not take it)."""
        every, stop = self.engine.settings.stale_after / 3, threading.Event()

        def beat() -> None:
            while not stop.wait(every):
                try:
                    self.engine.store.jobs.heartbeat(job_id, self.name)
                except Exception as exc:  # the store busy for a moment: the next beat tries again
                    log.warning("job heartbeat not written", job=job_id, error=str(exc))

        beating = threading.Thread(target=beat, name=f"koppel-job-{job_id}-heartbeat", daemon=True)
        beating.start()
        try:
            yield
        finally:
            stop.set()
            beating.join()

    def _execute(self, job: dict[str, Any]) -> RunReport:
        log.info("job started", job=job["id"], kind=job["kind"], payload=job["payload"])
        return run_job(self.engine, job["kind"], job["payload"])

    def _finish(self, job: dict[str, Any], report: RunReport) -> None:
        if report.status == "failed" and job["attempts"] < self.engine.settings.retry_attempts:
            delay = self.engine.settings.retry_base_delay * 2 ** job["attempts"]
            self.engine.store.jobs.finish(job["id"], "queued", retry_at=clock.now() + timedelta(seconds=delay))
        else:
            self.engine.store.jobs.finish(job["id"], "done" if report.status != "failed" else "failed")
        log.info("job finished", job=job["id"], status=report.status, writes=report.writes,
                 message=report.message)
        if self.on_report:
            self.on_report(job, report)


@dataclass
class Scheduler:
    """Live mode: an incremental sync every poll interval, the full batch on its schedule."""

    engine: Engine
    worker: Worker
    stop: threading.Event = field(default_factory=threading.Event)
    _backoff: float = field(default=0.0, init=False)  # the current pause while a system is down

    def enqueue_live(self) -> None:
        self.engine.store.jobs.enqueue("sync", {}, lock_key=LOCK)

    def serve(self, *, max_cycles: int | None = None) -> None:
        settings = self.engine.settings
        store = self.engine.store
        for holder in {j["locked_by"] for j in store.jobs.list("running", 500) if j["locked_by"]}:
            if gone(holder):  # this host's jobs from before a restart: not a live process's beside it
                store.jobs.requeue_stale(worker=holder)
        full_at = next_run(settings.schedule, clock.now())
        cycles = 0
        while not self.stop.is_set():
            now = clock.now()
            store.jobs.requeue_stale(older_than=now - timedelta(seconds=settings.stale_after))
            if now >= full_at:
                store.jobs.enqueue("full", {}, lock_key=LOCK)
                full_at = next_run(settings.schedule, now)
            self.enqueue_live()
            while self.worker.run_one() is not None and not self.stop.is_set():
                pass
            cycles += 1
            if max_cycles is not None and cycles >= max_cycles:
                return
            self.stop.wait(self._pause(settings.poll_interval))

    def _pause(self, interval: float) -> float:
        """The poll interval; while a system is down, doubled each poll up to a minute (each poll
        then costs one probe of it, see Engine.down), back to normal once it answers."""
        if not self.engine.down:
            self._backoff = interval
            return interval
        self._backoff = min(max(self._backoff, interval) * 2, max(60.0, interval))
        return self._backoff
