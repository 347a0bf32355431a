"""`koppel`: the root command, made of the command modules beside this one.

Exit codes scripts can rely on: 0 all done, 1 done but records wait in the error queue,
2 bad configuration or input, 3 a system failed (run stopped).
"""

from __future__ import annotations

import faulthandler
import os
import signal
from typing import Annotated

import typer

from koppel import i18n
from koppel.cli import demo, logs, migrate, onboarding, privacy, serve, sync
from koppel.cli import output as out
from koppel.errors import KoppelError, UsageError
from koppel.i18n import _

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  help="koppel couples your CRM and your ERP under one ownership policy.")
for module in (sync, onboarding, migrate, serve, privacy, demo):  # each module's commands, in help order
    app.add_typer(module.commands)


@app.callback()
def options(log_format: Annotated[logs.Format | None, typer.Option(
                "--log-format", help="json (one object per line) or console; default: console on a terminal, "
                                     "json otherwise (also KOPPEL_LOG_FORMAT)")] = None,
            log_level: Annotated[str | None, typer.Option(
                "--log-level", help="debug | info | warning | error (also KOPPEL_LOG_LEVEL; default warning); "
                                    "info logs one event per record outcome")] = None) -> None:
    """koppel couples your CRM and your ERP under one ownership policy."""
    if log_level is not None and log_level.lower() not in logs.LEVELS:
        raise UsageError(f"--log-level {log_level!r} is not one of {', '.join(logs.LEVELS)}",
                         hint="e.g. --log-level info")
    logs.configure(log_format, log_level)


def main() -> None:
    """Console entry point: every koppel error becomes one clear message and an exit code."""
    logs.configure()  # until the options are read (and for errors before that)
    i18n.activate(i18n.from_environment(os.environ))  # messages and hints follow LANG
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: where each thread is
    signal.signal(signal.SIGTERM, _stop)  # a service manager's stop ends live mode as Ctrl-C does
    try:
        code = app(standalone_mode=False)  # click hands back typer.Exit's code here
    except KoppelError as exc:
        out.err.print(f"[red]{_('error:')}[/red] {out.describe(exc)}", highlight=False, markup=True)
        raise SystemExit(out.exit_code(exc)) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        out.err.print(_("aborted"))
        raise SystemExit(130) from None
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click
        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(out.EXIT_USAGE) from None
        raise
    raise SystemExit(code if isinstance(code, int) else 0)


def _stop(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt


__all__ = ["app", "main"]
