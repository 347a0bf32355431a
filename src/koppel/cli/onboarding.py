"""`koppel setup` and `koppel match`: connecting koppel to a CRM and an ERP that already exist.

`setup` creates in each system what koppel needs there (custom fields, relation types), once;
`match` proposes pairs of records both systems already hold, for a person to confirm.
"""

from __future__ import annotations

from typing import Annotated

import typer

from koppel.cli import output as out
from koppel.cli.app import DEFAULT_CONFIG, ConfigOption, JsonOption, app, runtime
from koppel.engine import provisioning


@app.command()
def setup(config: ConfigOption = DEFAULT_CONFIG,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan, create nothing.")] = False,
          json_output: JsonOption = False) -> None:
    """Create in both systems what koppel needs there (custom fields, relation types); idempotent."""
    with runtime(config) as rt:
        before, after = provisioning.setup(rt.connectors, rt.settings.policy, rt.engine.entities(),
                                           dry_run=dry_run)
    there = [i for i in before if not i.missing]
    made = [i for i in after if not i.missing]
    left = [i for i in after if i.missing]
    if json_output:
        out.print_json({"dry_run": dry_run, "already_there": [i.describe() for i in there],
                        "would_create" if dry_run else "created": [i.describe() for i in made or left],
                        "still_missing": [] if dry_run else [i.describe() for i in left]})
    else:
        for item in there:
            out.console.print(f"[dim]already there[/dim] {item.describe()}", highlight=False)
        verb = "would create" if dry_run else "created"
        for item in (left if dry_run else made):
            out.console.print(f"[green]{verb}[/green] {item.describe()}", highlight=False)
        if not dry_run:
            for item in left:
                out.console.print(f"[red]still missing[/red] {item.describe()}", highlight=False)
        out.console.print(f"{len(there)} already there, {len(left if dry_run else made)} {verb}"
                          + ("" if dry_run else f", {len(left)} still missing"))
    if not dry_run and any(i.needed for i in left):
        raise typer.Exit(out.EXIT_USAGE)
