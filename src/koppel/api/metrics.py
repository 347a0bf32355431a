"""Prometheus metrics: the store's state read at scrape time (runs, error queue, conflicts,
violations, links, the last run's duration) and counters of the API's own requests.

Each app has its own registry, so two apps in one process (tests) never share counters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from time import perf_counter

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from koppel import clock
from koppel.store import Store
from koppel.workers.queue import FleetStatus


class StoreCollector(Collector):
    """Reads the store on every scrape: always current, nothing to keep in step."""

    def __init__(self, store: Callable[[], Store | None],
                 fleet: Callable[[], FleetStatus | None] = lambda: None) -> None:
        self.store, self.fleet = store, fleet

    def collect(self) -> Iterator[Metric]:
        store = self.store()
        if store is None:
            return
        yield _labelled("koppel_runs", "Sync runs by status", "status", store.runs.counts())
        yield _labelled("koppel_errors", "Error queue entries by status", "status", store.errors.counts())
        yield _labelled("koppel_links", "Coupled records by entity", "entity", store.links.counts())
        yield GaugeMetricFamily("koppel_conflicts_open", "Open conflicts", value=len(store.findings.conflicts()))
        yield GaugeMetricFamily("koppel_violations_open", "Open policy violations",
                                value=len(store.findings.violations()))
        yield from _last_run(store)
        yield from _systems(store)
        status = self.fleet()
        if status is not None:
            yield from _fleet(status)


def _fleet(status: FleetStatus) -> Iterator[Metric]:
    """The job runners: workers alive, jobs waiting per kind and running, the oldest wait, the rate."""
    yield GaugeMetricFamily("koppel_workers_alive", "Workers whose heartbeat is recent",
                            value=sum(1 for w in status.workers if w["alive"]))
    yield _labelled("koppel_jobs_waiting", "Jobs waiting, by kind", "kind", status.waiting)
    yield GaugeMetricFamily("koppel_jobs_running", "Jobs running now", value=status.running)
    oldest = GaugeMetricFamily("koppel_jobs_oldest_waiting_seconds", "How long the longest-waiting job waits")
    oldest.add_metric([], (clock.now() - status.oldest_waiting).total_seconds() if status.oldest_waiting else 0)
    yield oldest
    yield GaugeMetricFamily("koppel_jobs_per_minute", "Jobs finished per minute over the last ten minutes",
                            value=status.per_minute)


def _systems(store: Store) -> Iterator[Metric]:
    """Whether the last run reached each system, and when one last did."""
    seen = store.runs.systems()
    up = GaugeMetricFamily("koppel_system_up", "1 when the last run reached the system, 0 when it could not",
                           labels=["system"])
    last = GaugeMetricFamily("koppel_system_last_success_timestamp_seconds",
                             "When a run last reached the system (Unix time)", labels=["system"])
    for side, row in sorted(seen.items()):
        up.add_metric([side], 1 if row["up"] else 0)
        if row["last_success_at"] is not None:
            last.add_metric([side], row["last_success_at"].timestamp())
    yield up
    yield last


def _labelled(name: str, doc: str, label: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, count in sorted(counts.items()):
        family.add_metric([key], count)
    return family


def _last_run(store: Store) -> Iterator[Metric]:
    finished = [r for r in store.runs.last(20) if r["finished_at"] is not None]
    if finished:
        run = finished[0]
        seconds = (run["finished_at"] - run["started_at"]).total_seconds()
        yield GaugeMetricFamily("koppel_last_run_duration_seconds", "Duration of the last finished run",
                                value=seconds)


class RequestMetrics:
    """Counts and times the API's requests by method, route template and status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("koppel_api_requests", "API requests", ["method", "route", "status"],
                                registry=registry)
        self.latency = Histogram("koppel_api_request_seconds", "API request duration", ["route"],
                                 registry=registry)

    async def __call__(self, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        self.requests.labels(request.method, route, str(response.status_code)).inc()
        self.latency.labels(route).observe(perf_counter() - started)
        return response


def install(app: FastAPI, store: Callable[[], Store | None],
            fleet: Callable[[], FleetStatus | None] = lambda: None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, fleet))
    app.middleware("http")(RequestMetrics(registry))
    return registry
