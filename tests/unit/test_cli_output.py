"""CLI tables as a script or a log sees them: whole column names when stdout is no terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text
from typer import Exit

from koppel.cli import output as out
from koppel.cli.common import show_report
from koppel.engine.sync import RunReport

SYNC_COLUMNS = ["entity", "read", "created", "matched", "updated", "reverted", "deleted", "held",
                "conflicts", "violations", "errors"]
ROW = ["account", 12, 12, 0, 0, 0, 0, 40, 0, 0, 0]


def printed(monkeypatch: pytest.MonkeyPatch, console: Console) -> str:
    monkeypatch.setattr(out, "console", console)
    out.table("run 1: ok", SYNC_COLUMNS, [ROW])
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_a_piped_table_keeps_its_full_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # rich's fallback then: 80 columns
    text = printed(monkeypatch, Console(file=io.StringIO()))
    header = next(line for line in text.splitlines() if "entity" in line)
    assert all(f" {name} " in header for name in SYNC_COLUMNS) and "…" not in text


def test_a_terminal_table_still_fits_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    text = printed(monkeypatch, Console(file=io.StringIO(), force_terminal=True, width=60))
    assert max(Text.from_ansi(line).cell_len for line in text.splitlines()) <= 60  # squeezed as before


def test_a_run_that_read_nothing_says_so_and_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that could not reach a system read nothing: one line, not an empty table's "none"."""
    console, err = Console(file=io.StringIO()), Console(file=io.StringIO())
    monkeypatch.setattr(out, "console", console)
    monkeypatch.setattr(out, "err", err)
    with pytest.raises(Exit) as stopped:
        show_report(RunReport(7, "failed", message="erp cannot be reached: Connection refused"), False)
    assert stopped.value.exit_code == out.EXIT_FATAL
    assert isinstance(console.file, io.StringIO) and isinstance(err.file, io.StringIO)
    assert console.file.getvalue().strip() == "run 7: failed, no record read"
    assert "erp cannot be reached" in err.file.getvalue()
