"""What every command module shares: the --config and --json options, opening the runtime,
the progress bar, the run report with its exit code, and who acts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from koppel.cli import output as out
from koppel.config import load_settings
from koppel.engine.runtime import Runtime, open_runtime
from koppel.engine.sync import RunReport
from koppel.i18n import _, translate
from koppel.services.workspace import Workspace

ConfigOption = Annotated[Path, typer.Option("--config", "-c", envvar="KOPPEL_CONFIG",
                                            help="Path of koppel.toml.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DEFAULT_CONFIG = Path("koppel.toml")


@contextmanager
def runtime(config: Path) -> Iterator[Runtime]:
    with open_runtime(load_settings(config)) as rt:
        yield rt


@contextmanager
def workspace(config: Path) -> Iterator[Workspace]:
    """The runtime as the services take it (the same operations as the API's and the pages')."""
    with runtime(config) as rt:
        yield Workspace(rt)


def actor() -> str:
    """Who the audit trail names for a command run from this shell."""
    return os.environ.get("USER", "cli")


@contextmanager
def progress(enabled: bool) -> Iterator[Callable[[str, Any, int], None]]:
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=out.err, disable=not enabled, transient=False)
    tasks: dict[str, Any] = {}

    def advance(entity: str, side: Any, count: int) -> None:
        key = f"{entity} from {side}"
        if key not in tasks and count == 0:
            return
        if key not in tasks:
            tasks[key] = bar.add_task(key, total=None)
        bar.advance(tasks[key], count)

    with bar:
        yield advance


def show_report(report: RunReport, json_output: bool) -> None:
    if json_output:
        out.print_json({"run": report.run_id, "status": report.status, "message": report.message,
                        "stats": {e: dict(+c) for e, c in report.stats.items() if +c}, "plan": report.plan})
    else:
        for line in report.plan:
            out.console.print(line, highlight=False)
        columns = ["entity", "read", "created", "matched", "updated", "reverted", "deleted",
                   "held", "conflicts", "violations", "errors"]
        rows = [[e] + [c.get(k, 0) for k in columns[1:]] for e, c in report.stats.items() if any(c.values())]
        if rows:
            out.table(_("run {run}: {status}", run=report.run_id, status=report.status), [_(c) for c in columns], rows)
        else:
            out.console.print(_("run {run}: {status}, no record read", run=report.run_id, status=report.status))
        if report.message:
            out.err.print(f"[red]{translate(report.message)}[/red]")
    if report.status == "failed":
        raise typer.Exit(out.EXIT_FATAL)
    if report.status == "partial":
        out.err.print(_("some records wait in the error queue: `koppel errors list`"))
        raise typer.Exit(out.EXIT_PARTIAL)
