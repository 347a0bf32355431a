"""`koppel setup` and `koppel match`: connecting koppel to a CRM and an ERP that already exist.

`setup` creates in each system what koppel needs there (custom fields, relation types), once;
`match` proposes pairs of records both systems already hold, for a person to confirm.
"""

from __future__ import annotations

from typing import Annotated

import typer

from koppel.cli import output as out
from koppel.cli.common import DEFAULT_CONFIG, ConfigOption, JsonOption, actor, runtime, workspace
from koppel.engine import matching, provisioning
from koppel.i18n import _, ngettext
from koppel.services import matches
from koppel.store import ProposalRow

commands = typer.Typer()


@commands.command()
def setup(config: ConfigOption = DEFAULT_CONFIG,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan, create nothing.")] = False,
          json_output: JsonOption = False) -> None:
    """Create in both systems what koppel needs there (custom fields, relation types); idempotent."""
    with runtime(config) as rt:
        before, after = provisioning.setup(rt.connectors, rt.settings.policy, rt.engine.entities(),
                                           dry_run=dry_run)
        if not dry_run and rt.settings.jobs.runner_for(rt.settings.store.url) == "procrastinate":
            from koppel.workers import fleet

            with fleet.opened(rt.settings):  # Procrastinate's schema, applied where missing
                pass
    there = [i for i in before if not i.missing]
    made = [i for i in after if not i.missing]
    left = [i for i in after if i.missing]
    if json_output:
        out.print_json({"dry_run": dry_run, "already_there": [i.describe() for i in there],
                        "would_create" if dry_run else "created": [i.describe() for i in made or left],
                        "still_missing": [] if dry_run else [i.describe() for i in left]})
    else:
        for item in there:
            out.console.print(f"[dim]{_('already there')}[/dim] {item.describe()}", highlight=False)
        verb = _("would create") if dry_run else _("created")
        for item in (left if dry_run else made):
            out.console.print(f"[green]{verb}[/green] {item.describe()}", highlight=False)
        if not dry_run:
            for item in left:
                out.console.print(f"[red]{_('still missing')}[/red] {item.describe()}", highlight=False)
        summary = _("{there} already there, {done} would be created", there=len(there), done=len(left)) if dry_run \
            else _("{there} already there, {done} created, {left} still missing", there=len(there), done=len(made),
                   left=len(left))
        out.console.print(summary)
    if not dry_run and any(i.needed for i in left):
        raise typer.Exit(out.EXIT_USAGE)


match_app = typer.Typer(help="Pairs of records both systems already hold: propose, couple, keep apart.")
commands.add_typer(match_app, name="match")
EntityOption = Annotated[list[str] | None, typer.Option("--entity", "-e", help="Only these entities.")]


@match_app.callback(invoke_without_command=True)
def match(ctx: typer.Context, config: ConfigOption = DEFAULT_CONFIG, entity: EntityOption = None,
          apply_pairs: Annotated[bool, typer.Option("--apply", help="Couple the proposals at or above "
                                                    "--min-confidence.")] = False,
          min_confidence: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.9,
          json_output: JsonOption = False) -> None:
    """Read both systems and propose pairs of existing, uncoupled records (with --apply: couple them)."""
    if ctx.invoked_subcommand is not None:
        return
    with workspace(config) as ws:
        provisioning.require(ws.runtime.connectors, ws.runtime.settings.policy, ws.runtime.engine.entities())
        proposals = matches.propose(ws, actor(), entity)
        coupled = ([p.id for p, stats in matching.apply(ws.runtime.engine, min_confidence, actor())
                    if stats["matched"]] if apply_pairs else [])
    if json_output:
        out.print_json({"proposals": [_row(p) for p in proposals], "coupled": coupled})
        return
    _show(proposals)
    if apply_pairs:
        out.console.print(ngettext(
            "coupled {n} pair at confidence ≥ {confidence}; the rest wait for `koppel match couple ID` or "
            "`koppel match apart ID`",
            "coupled {n} pairs at confidence ≥ {confidence}; the rest wait for `koppel match couple ID` or "
            "`koppel match apart ID`", len(coupled), confidence=f"{min_confidence:g}"))
    elif proposals:
        out.console.print(_("couple them with `koppel match --apply` or one by one with `koppel match couple ID`; "
                            "`koppel match apart ID` keeps a pair apart"))


@match_app.command("list")
def match_list(config: ConfigOption = DEFAULT_CONFIG, json_output: JsonOption = False) -> None:
    """The open proposals, without reading the systems again."""
    with runtime(config) as rt:
        proposals = rt.store.proposals.list()
    if json_output:
        out.print_json([_row(p) for p in proposals])
    else:
        _show(proposals)


@match_app.command("couple")
def match_couple(proposal_id: Annotated[int, typer.Argument()], config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Couple the pair: one customer in both systems, the owner's values win by policy."""
    with workspace(config) as ws:
        matches.couple(ws, actor(), proposal_id)
    out.console.print(_("proposal {proposal_id} coupled", proposal_id=proposal_id))


@match_app.command("apart")
def match_apart(proposal_id: Annotated[int, typer.Argument()], config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Keep the pair apart: two different records; what waited for the decision goes on."""
    with workspace(config) as ws:
        matches.apart(ws, actor(), proposal_id)
    out.console.print(_("proposal {proposal_id} kept apart", proposal_id=proposal_id))


def _row(p: ProposalRow) -> dict[str, object]:
    return {"id": p.id, "entity": p.entity, "erp": p.erp_id, "crm": p.crm_id, "reason": p.reason,
            "confidence": p.confidence, "copy": p.copy_id}


def _show(proposals: list[ProposalRow]) -> None:
    out.table(_("match proposals"), ["id", _("entity"), "erp", "crm", _("reason"), _("confidence")],
              ([p.id, p.entity, p.erp_id, p.crm_id, p.reason, f"{p.confidence:.2f}"] for p in proposals))
