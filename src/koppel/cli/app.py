"""`koppel`: the root command, made of the command modules beside this one.

Exit codes scripts can rely on: 0 all done, 1 done but records wait in the error queue,
2 bad configuration or input, 3 a system failed (run stopped).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from koppel.cli import demo, onboarding, privacy, serve, sync
from koppel.cli import output as out
from koppel.errors import KoppelError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="koppel couples your CRM and your ERP under one ownership policy.")
for module in (sync, onboarding, serve, privacy, demo):  # each module's commands, in help order
    app.add_typer(module.commands)


def _configure_logging() -> None:
    """Structured logs on stderr; KOPPEL_LOG_LEVEL (default warning) and KOPPEL_LOG_JSON=1."""
    import logging

    import structlog

    level = getattr(logging, os.environ.get("KOPPEL_LOG_LEVEL", "WARNING").upper(), logging.WARNING)
    renderer: Any = (structlog.processors.JSONRenderer() if os.environ.get("KOPPEL_LOG_JSON")
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))


def main() -> None:
    """Console entry point: every koppel error becomes one clear message and an exit code."""
    _configure_logging()
    try:
        code = app(standalone_mode=False)  # click hands back typer.Exit's code here
    except KoppelError as exc:
        out.err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
        raise SystemExit(out.exit_code(exc)) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        out.err.print("aborted")
        raise SystemExit(130) from None
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click
        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(out.EXIT_USAGE) from None
        raise
    raise SystemExit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
