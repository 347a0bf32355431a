"""The operator's commands: init, check, sync, status, run, reconcile, and the queues worked
through by hand (errors, conflicts, violations)."""

from __future__ import annotations

import contextlib
from importlib.resources import files
from typing import Annotated, Any

import typer

from koppel.cli import output as out
from koppel.cli.common import (
    DEFAULT_CONFIG,
    ConfigOption,
    JsonOption,
    actor,
    progress,
    runtime,
    show_report,
    workspace,
)
from koppel.config import load_settings
from koppel.engine import provisioning
from koppel.engine.runtime import Runtime, open_runtime
from koppel.engine.sync import RunReport
from koppel.errors import ConnectorError, UsageError
from koppel.i18n import _, ngettext, translate
from koppel.services import queue
from koppel.services import reconcile as reconcile_service

commands = typer.Typer()
errors_app = typer.Typer(no_args_is_help=True, help="The error queue: records waiting to be fixed.")
conflicts_app = typer.Typer(no_args_is_help=True, help="Fields both systems changed differently.")
commands.add_typer(errors_app, name="errors")
commands.add_typer(conflicts_app, name="conflicts")


@commands.command()
def init(config: ConfigOption = DEFAULT_CONFIG,
         force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False) -> None:
    """Write a commented koppel.toml to start from."""
    if config.exists() and not force:
        raise UsageError(f"{config} already exists", hint="use --force to overwrite it")
    config.write_text(files("koppel.config").joinpath("template.toml").read_text(encoding="utf-8"))
    out.console.print(_("wrote {config}; next: `koppel check`, `koppel setup`, `koppel match`, then `koppel sync` "
                        "(docs/onboarding.md)", config=config))


@commands.command()
def check(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate the configuration and reach both systems."""
    settings = load_settings(config)
    out.print_json(settings.masked())
    with open_runtime(settings) as rt:
        for side, connector in rt.connectors.items():
            connector.check()
            out.console.print("[green]ok[/green] " + _("{side}: {connector} answers", side=side,
                                                           connector=settings.systems[side].connector))
        out.console.print("[green]ok[/green] " + _("store: {n} entities linked", n=len(rt.store.links.counts())))
        out.console.print(_("entities synced: {entities}", entities=", ".join(rt.engine.entities())))
        missing = [i for i in provisioning.survey(rt.connectors, settings.policy, rt.engine.entities())
                   if i.missing]
    for item in missing:
        out.console.print(f"[red]{_('missing')}[/red] {translate(item.describe())}", highlight=False)
    if missing:
        fix = _("`koppel setup` creates them") if any(i.requirement.creatable for i in missing) else \
            _("see the hints above")
        out.err.print(ngettext("{n} thing missing in the systems; {fix}", "{n} things missing in the systems; {fix}",
                               len(missing), fix=fix))
        raise typer.Exit(out.EXIT_USAGE)
    out.console.print("[green]ok[/green] " + _("both systems hold every field and type koppel writes"))


@commands.command()
def sync(config: ConfigOption = DEFAULT_CONFIG,
         entity: Annotated[list[str] | None, typer.Option("--entity", "-e", help="Only these entities.")] = None,
         record: Annotated[str | None, typer.Option(help="One record now: SYSTEM:ID (with --entity).")] = None,
         dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan, change nothing.")] = False,
         json_output: JsonOption = False) -> None:
    """Bring every change since the last run across (or one record with --record)."""
    with runtime(config) as rt:
        rt.engine.preflight = lambda: provisioning.require(rt.connectors, rt.settings.policy, rt.engine.entities())
        if record:
            report = _sync_record(rt, record, entity, dry_run)
        else:
            with progress(enabled=not json_output) as advance:
                report = rt.engine.sync(entity, dry_run=dry_run, progress=advance)
    show_report(report, json_output)


def _sync_record(rt: Runtime, record: str, entity: list[str] | None, dry_run: bool) -> RunReport:
    side, _, record_id = record.partition(":")
    if side not in ("erp", "crm") or not record_id:
        raise UsageError(f"--record {record!r} is not SYSTEM:ID", hint="write it as crm:ID or erp:ID")
    if not entity or len(entity) != 1:
        raise UsageError("--record needs exactly one --entity", hint="e.g. --entity account --record crm:42")
    return rt.engine.sync_record(side, entity[0], record_id, dry_run=dry_run)  # type: ignore[arg-type]


@commands.command()
def status(config: ConfigOption = DEFAULT_CONFIG, json_output: JsonOption = False) -> None:
    """Links per entity, open errors, conflicts, violations, the last runs, and the job runners."""
    settings = load_settings(config)
    from koppel.store import Store
    from koppel.workers.queue import queue_for
    store = Store.open(settings.store.url)
    try:
        data: dict[str, Any] = {"systems": store.runs.systems(), "links": store.links.counts(), "errors": store.errors.counts(),
                "conflicts": len(store.findings.conflicts()), "violations": len(store.findings.violations()),
                "runs": store.runs.last(5), "jobs": queue_for(settings, store).fleet().as_dict()}
    finally:
        store.close()
    if json_output:
        out.print_json(data)
        return
    out.table(_("systems"), [_("system"), _("state"), _("last success"), _("down since"), _("error")],
              ([side, _("up") if row["up"] else _("down"), row["last_success_at"], row["down_since"],
                "" if row["up"] else row["last_error"]] for side, row in sorted(data["systems"].items())))
    out.table(_("links"), [_("entity"), _("coupled records")], sorted(data["links"].items()))
    out.table(_("error queue"), [_("status"), _("count")], sorted(data["errors"].items()))
    out.console.print(_("open conflicts: {conflicts}   open policy violations: {violations}",
                        conflicts=data["conflicts"], violations=data["violations"]))
    out.table(_("last runs"), [_("run"), _("kind"), _("status"), _("started"), _("finished"), _("message")],
              ([r["id"], r["kind"], r["status"], r["started_at"], r["finished_at"], r["message"]]
               for r in data["runs"]))
    jobs = data["jobs"]
    out.table(_("jobs ({runner})", runner=jobs["runner"]), [_("kind"), _("waiting")], sorted(jobs["waiting"].items()))
    out.console.print(_("running: {running}   workers alive: {alive} of {workers}   jobs a minute: {rate}   "
                        "oldest waiting since: {since}", running=jobs["running"],
                        alive=sum(1 for w in jobs["workers"] if w["alive"]), workers=len(jobs["workers"]),
                        rate=jobs["per_minute"], since=jobs["oldest_waiting"] or "—"), highlight=False)


@errors_app.command("list")
def errors_list(config: ConfigOption = DEFAULT_CONFIG,
                state: Annotated[str, typer.Option("--status", help="open | held | retried | skipped | resolved | all")] = "open",
                json_output: JsonOption = False) -> None:
    """Records that could not be written, with the target system's own message."""
    with runtime(config) as rt:
        rows = rt.store.errors.list(None if state == "all" else state)
    if json_output:
        out.print_json([r.__dict__ for r in rows])
        return
    out.table(_("error queue ({state})", state=state), ["id", _("entity"), _("record"), _("to"), _("op"),
                                                         _("class"), _("tries"), _("message")],
              ([r.id, r.entity, f"{r.source}:{r.source_id}", r.target, r.operation, r.error_class,
                r.attempts, r.message] for r in rows))


@errors_app.command("retry")
def errors_retry(ids: Annotated[list[int] | None, typer.Argument(help="Error ids; none with --all.")] = None,
                 all_open: Annotated[bool, typer.Option("--all", help="Retry every open error.")] = False,
                 config: ConfigOption = DEFAULT_CONFIG, json_output: JsonOption = False) -> None:
    """Sync the records behind these errors again, from their current state."""
    with workspace(config) as ws:
        chosen = [r.id for r in ws.runtime.store.errors.list("open")] if all_open else list(ids or [])
        if not chosen:
            raise UsageError("no errors chosen", hint="give error ids or --all")
        report = queue.retry_errors(ws, actor(), chosen)
    show_report(report, json_output)


@errors_app.command("skip")
def errors_skip(ids: Annotated[list[int], typer.Argument(help="Error ids.")],
                config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Give up on these records (they stay in the queue's history)."""
    with workspace(config) as ws:
        for error_id in ids:
            queue.skip_error(ws, actor(), error_id)
    out.console.print(ngettext("skipped {n} error", "skipped {n} errors", len(ids)))


@conflicts_app.command("list")
def conflicts_list(config: ConfigOption = DEFAULT_CONFIG, json_output: JsonOption = False) -> None:
    """Fields both systems changed to different values since the last sync."""
    with runtime(config) as rt:
        rows = rt.store.findings.conflicts()
    if json_output:
        out.print_json([r.__dict__ for r in rows])
        return
    out.table(_("open conflicts"), ["id", _("entity"), _("link"), _("field"), _("was"), "erp", "crm"],
              ([r.id, r.entity, r.link_id, r.field, r.base, r.erp_value, r.crm_value] for r in rows))


@conflicts_app.command("resolve")
def conflicts_resolve(conflict_id: Annotated[int, typer.Argument()],
                      winner: Annotated[str, typer.Option(help="Whose value wins: erp or crm.")],
                      config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Settle a conflict: the winner's value is written to the other system."""
    if winner not in ("erp", "crm"):
        raise UsageError(f"--winner {winner!r} is neither erp nor crm", hint="use --winner erp or --winner crm")
    with workspace(config) as ws:
        queue.resolve_conflict(ws, actor(), conflict_id, winner)  # type: ignore[arg-type]
    out.console.print(_("conflict {conflict_id} resolved: {winner} wins", conflict_id=conflict_id, winner=winner))


@commands.command()
def violations(config: ConfigOption = DEFAULT_CONFIG, json_output: JsonOption = False) -> None:
    """Edits a system made to data it does not own, and what koppel wrote back."""
    with runtime(config) as rt:
        rows = rt.store.findings.violations()
    if json_output:
        out.print_json([r.__dict__ for r in rows])
        return
    out.table(_("policy violations"), ["id", _("when"), _("entity"), _("record"), _("field"), _("attempted"),
                                       _("restored")],
              ([r.id, r.at, r.entity, f"{r.system}:{r.record_id}", r.field, r.attempted, r.restored]
               for r in rows))


@commands.command()
def run(config: ConfigOption = DEFAULT_CONFIG,
        cycles: Annotated[int | None, typer.Option(help="Stop after this many poll cycles.")] = None) -> None:
    """Live mode: sync every poll interval, the full batch on its schedule, until Ctrl-C."""
    from koppel.engine.jobs import Scheduler, Worker

    settings = load_settings(config)
    if settings.jobs.runner_for(settings.store.url) == "procrastinate":  # one worker does it all
        worker(config, concurrency=1)
        return
    with runtime(config) as rt:
        with contextlib.suppress(ConnectorError):  # a system down: live mode starts, its runs say `failed`
            provisioning.require(rt.connectors, rt.settings.policy, rt.engine.entities())

        def show(job: dict[str, Any], report: RunReport) -> None:
            if report.writes or report.status != "ok":
                out.console.print(ngettext("{kind} run {run}: {status}, {n} write", "{kind} run {run}: {status}, {n} writes",
                                           report.writes, kind=job["kind"], run=report.run_id, status=report.status)
                                  + f" {translate(report.message or '')}", highlight=False)

        scheduler = Scheduler(rt.engine, Worker(rt.engine, on_report=show))
        out.console.print(_("live: polling every {seconds} s, full batch at '{schedule}'; Ctrl-C stops",
                            seconds=f"{rt.settings.sync.poll_interval:g}", schedule=rt.settings.sync.schedule))
        try:
            scheduler.serve(max_cycles=cycles)
        except KeyboardInterrupt:
            scheduler.stop.set()
            out.console.print(_("stopped"))


@commands.command()
def worker(config: ConfigOption = DEFAULT_CONFIG,
           concurrency: Annotated[int, typer.Option(min=1, help="Jobs this worker runs at once.")] = 1,
           queues: Annotated[list[str] | None, typer.Option("--queue", help="Only these queues.")] = None,
           until_empty: Annotated[bool, typer.Option(help="Stop once no job waits.")] = False) -> None:
    """Run koppel's jobs from Procrastinate's queue (the store on PostgreSQL) until Ctrl-C: start
    one on each machine, or several; the live poll and the nightly batch fire once across all."""
    from koppel.workers import fleet

    settings = load_settings(config)
    if settings.jobs.runner_for(settings.store.url) != "procrastinate":
        raise UsageError("koppel worker runs jobs from Procrastinate's queue, which needs the store on PostgreSQL",
                         hint='set [store] url = "postgresql+psycopg://…" in koppel.toml; on SQLite, `koppel run` '
                              "runs everything in one process")
    out.console.print(_("worker: {n} at once, polling every {seconds} s, full batch at '{schedule}'; Ctrl-C stops",
                        n=concurrency, seconds=f"{settings.sync.poll_interval:g}", schedule=settings.sync.schedule))
    fleet.run_worker(settings, concurrency=concurrency, queues=queues, wait=not until_empty)


@commands.command()
def reconcile(config: ConfigOption = DEFAULT_CONFIG,
              entity: Annotated[list[str] | None, typer.Option("--entity", "-e")] = None,
              apply_fixes: Annotated[bool, typer.Option("--apply", help="Repair what is found.")] = False,
              json_output: JsonOption = False) -> None:
    """Compare both systems against the links; print the drift and how to repair each line."""
    with workspace(config) as ws:
        drift, repaired = reconcile_service.repair(ws, actor(), entity) if apply_fixes else (
            reconcile_service.drift(ws, entity), None)
    if json_output:
        out.print_json({"drift": [d.__dict__ for d in drift], "repaired": dict(repaired or {})})
    else:
        out.table(_("drift"), [_("entity"), _("kind"), _("record"), _("detail"), _("repair")],
                  ([d.entity, d.kind, f"{d.side}:{d.record_id}", d.detail, d.action] for d in drift))
        if repaired is not None:
            out.console.print(_("repaired: {counts}", counts=dict(repaired)))
    if drift and not apply_fixes:
        raise typer.Exit(out.EXIT_PARTIAL)
