"""`koppel erase`: a person's right to be forgotten, in both systems and in koppel's own state."""

from __future__ import annotations

from typing import Annotated

import typer

from koppel import i18n
from koppel.cli import output as out
from koppel.cli.common import DEFAULT_CONFIG, ConfigOption, JsonOption, actor, workspace
from koppel.errors import UsageError
from koppel.services import processes

commands = typer.Typer()


@commands.command()
def erase(entity: Annotated[str, typer.Argument(help="What the record is: contact.")],
          record: Annotated[str, typer.Argument(help="SYSTEM:ID, e.g. crm:42")],
          config: ConfigOption = DEFAULT_CONFIG,
          yes: Annotated[bool, typer.Option("--yes", help="Do it without asking.")] = False,
          json_output: JsonOption = False) -> None:
    """Erase a person: anonymised (or deleted, by policy) in both systems, scrubbed from koppel."""
    side, _, record_id = record.partition(":")
    if side not in ("erp", "crm") or not record_id:
        raise UsageError(f"{record!r} is not SYSTEM:ID", hint="write it as crm:ID or erp:ID")
    if not yes and not typer.confirm(i18n.gettext("erase {entity} {record} in both systems and in koppel?",
                                                  entity=entity, record=record)):
        raise typer.Exit(out.EXIT_USAGE)
    with workspace(config) as ws:
        done = processes.erase(ws, actor(), entity, side, record_id)  # type: ignore[arg-type]
    if json_output:
        out.print_json(done.__dict__)
    else:
        out.console.print(i18n.gettext("erased {entity} {ids} ({how}); koppel scrubbed {scrubbed}", entity=entity,
                                       ids=", ".join(f"{s}:{i}" for s, i in done.ids.items()), how=done.how,
                                       scrubbed=done.scrubbed))
