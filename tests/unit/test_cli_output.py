"""CLI tables as a script or a log sees them: whole column names when stdout is no terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from koppel.cli import output as out

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
