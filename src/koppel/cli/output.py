"""Rich output helpers shared by the CLI commands: tables, JSON, progress, and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from koppel.errors import ConfigError, FatalError, KoppelError, UsageError
from koppel.i18n import _, translate

console = Console()
err = Console(stderr=True)

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_FATAL = 0, 1, 2, 3
UNBOUNDED = 100_000  # the width a table may take when the output is no terminal


def exit_code(error: KoppelError) -> int:
    """What scripts can rely on: 2 for bad config or input, 3 for a system failure."""
    if isinstance(error, ConfigError | UsageError):
        return EXIT_USAGE
    if isinstance(error, FatalError):
        return EXIT_FATAL
    return EXIT_PARTIAL


def describe(error: KoppelError) -> str:
    """The error and its hint in the command's language."""
    message = "\n".join(translate(line) for line in error.message.split("\n"))
    return f"{message} — {translate(error.hint)}" if error.hint else message


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    view = Table(title=title, title_justify="left")
    for column in columns:
        view.add_column(column)
    count = 0
    for row in rows:
        view.add_row(*("" if v is None else str(v) for v in row))
        count += 1
    if count and not console.is_terminal:
        # piped or captured: rich would squeeze the table into 80 columns ("ent…"); a script or
        # a log reads it whole, at its natural width, uncropped
        view.width = Measurement.get(console, console.options.update_width(UNBOUNDED), view).maximum
        console.print(view, crop=False)
    elif count:
        console.print(view)
    else:
        console.print(f"[dim]{_('{title}: none', title=title)}[/dim]")


def print_json(data: Any) -> None:
    console.file.write(json.dumps(data, default=str, indent=2) + "\n")
