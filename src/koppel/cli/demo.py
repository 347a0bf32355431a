"""`koppel demo`: start the real Tryton and BottleCRM, fill them with demo data, couple them and
stay live; `koppel try ACTION` plays a user of one of the systems so you can watch koppel react.
`koppel demo --memory` runs the same engine between two in-memory systems, offline.
"""

from __future__ import annotations

import contextlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

import typer

from koppel.cli import output as out
from koppel.cli.common import progress, show_report
from koppel.cli.onboarding import setup
from koppel.cli.sync import run, sync
from koppel.config import load_settings
from koppel.engine.runtime import open_runtime
from koppel.errors import UsageError

DirOption = Annotated[Path, typer.Option("--directory", help="Where the demo keeps its files.")]
DEFAULT_DIR = Path(".koppel-demo")

commands = typer.Typer()


def say(text: str) -> None:
    out.err.print(f"[bold cyan]demo[/bold cyan] {text}", highlight=False, soft_wrap=True)


@commands.command()
def demo(directory: DirOption = DEFAULT_DIR,
         customers: Annotated[int, typer.Option(help="ERP customers to generate.")] = 300,
         sales: Annotated[int, typer.Option(help="ERP sales to generate (shipped and invoiced).")] = 24,
         fresh: Annotated[bool, typer.Option(help="Throw the demo data away and start over.")] = False,
         memory: Annotated[bool, typer.Option(help="Offline: two in-memory systems instead.")] = False,
         cycles: Annotated[int | None, typer.Option(help="Stop live mode after this many polls.")] = None,
         name: Annotated[str, typer.Option(help="Name of the demo's peer instances.")] = "demo") -> None:
    """Start Tryton and BottleCRM, fill them with demo data, couple them, stay live."""
    if memory:
        _memory_demo(directory, customers)
        return
    from koppel.testing import peers

    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / "seeded.json"
    keep = marker.exists() and not fresh
    say("starting Tryton and BottleCRM (the first time this installs them and builds their "
        "databases: a few minutes)" if not keep else "starting Tryton and BottleCRM with the demo data")
    erp = peers.start("tryton", name, keep=keep, quiet=False)
    crm = peers.start("bottlecrm", name, keep=keep, quiet=False)
    config = _write_config(directory, erp, crm, keep)
    say("koppel setup: what koppel needs in each system")
    setup(config=config, dry_run=False, json_output=False)
    if not keep:
        _seed(config, customers, sales)
    say("initial sync")
    with open_runtime(load_settings(config)) as rt, progress(enabled=True) as advance:
        report = rt.engine.sync(progress=advance)
    _report_quietly(report)
    if not keep:
        _seed_quotes(config)
        marker.write_text(json.dumps({"customers": customers, "sales": sales}))
    workspace, token = _workspace(config)
    _guide(config, erp, crm)
    out.console.print(f"[bold]Workspace[/bold]  {workspace}  sign in with the token  {token}\n",
                      highlight=False, soft_wrap=True)
    try:
        run(config=config, cycles=cycles)
    finally:
        say("stopping Tryton and BottleCRM; `koppel demo` starts them again with the same data")
        peers.stop("tryton", name)
        peers.stop("bottlecrm", name)


def _write_config(directory: Path, erp: dict[str, Any], crm: dict[str, Any], keep: bool) -> Path:
    from koppel.testing import peers

    text, secrets = peers.config_text(erp, crm, directory)
    (directory / "koppel.secrets.toml").write_text(secrets)
    (directory / "koppel.secrets.toml").chmod(0o600)
    config = directory / "koppel.toml"
    config.write_text(text)
    if not keep:
        for stale in directory.glob("koppel.db*"):
            stale.unlink()
    return config


def _seed(config: Path, customers: int, sales: int) -> None:
    from koppel.testing import demo_data

    with open_runtime(load_settings(config)) as rt:
        demo_data.seed_erp(rt.connectors["erp"], customers, sales, say)  # type: ignore[arg-type]
        prospects = demo_data.seed_crm(rt.connectors["crm"], max(3, customers // 10), say)  # type: ignore[arg-type]
    (config.parent / "prospects.json").write_text(json.dumps(prospects))


def _seed_quotes(config: Path) -> None:
    from koppel.testing import demo_data

    prospects = json.loads((config.parent / "prospects.json").read_text())
    with open_runtime(load_settings(config)) as rt:
        products = [link.crm_id for link in rt.store.links.all("product")][:6]
        quotes = demo_data.seed_quotes(rt.connectors["crm"], prospects, products, say)  # type: ignore[arg-type]
    (config.parent / "quotes.json").write_text(json.dumps(quotes))


def _workspace(config: Path) -> tuple[str, str]:
    """Serve the workspace beside live mode; a sign-in token for the demo's admin."""
    from koppel.cli.serve import serve_in_background, sign_in_token
    from koppel.store import Store

    settings = load_settings(config)
    store = Store.open(settings.store.url)
    try:
        token = sign_in_token(store)
    finally:
        store.close()
    return serve_in_background(settings), token


def _report_quietly(report: Any) -> None:
    with contextlib.suppress(typer.Exit):  # records in the error queue are part of the tour
        show_report(report, json_output=False)


def _guide(config: Path, erp: dict[str, Any], crm: dict[str, Any]) -> None:
    c = f"-c {config}"
    out.console.print(f"""
[bold]koppel is coupling the demo systems[/bold]
  Tryton (ERP)     {erp['url']}  database {erp['database']} (JSON-RPC)
  BottleCRM (CRM)  {crm['url']}/api/  (REST; token in {config.parent / 'koppel.secrets.toml'})

[bold]Look at[/bold]
  koppel status {c}              links, error queue, runs
  koppel violations {c}          CRM edits to ERP-owned data, and what koppel wrote back
  koppel errors list --status held {c}   prospects waiting for their first order

[bold]Try (in another terminal), then watch this one[/bold]
  koppel try accept-quote {c}    a customer accepts a CRM quote: it becomes a Tryton sale, the
                                 prospect becomes an ERP customer and gets its number
  koppel try edit-account {c}    sales renames an ERP customer in the CRM: koppel reverts it
  koppel try pay-invoice {c}     accounting posts a payment in Tryton: the open amount follows
""", highlight=False, soft_wrap=True)


def _memory_demo(directory: Path, accounts: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "koppel.toml"
    if not config.exists():
        text = files("koppel.config").joinpath("template.toml").read_text(encoding="utf-8")
        config.write_text(text.replace("seed_accounts = 200", f"seed_accounts = {accounts}"))
    out.console.print(f"demo configuration: {config}")
    sync(config=config, entity=None, record=None, dry_run=False, json_output=False)


@commands.command("try")
def try_action(action: Annotated[str, typer.Argument(help="accept-quote | edit-account | pay-invoice")],
               config: Annotated[Path, typer.Option("--config", "-c")] = DEFAULT_DIR / "koppel.toml") -> None:
    """Act as a user of the demo's CRM or ERP, to watch koppel react."""
    actions = {"accept-quote": _accept_quote, "edit-account": _edit_account, "pay-invoice": _pay_invoice}
    if action not in actions:
        raise UsageError(f"unknown action {action!r}", hint=f"choose one of {', '.join(actions)}")
    with open_runtime(load_settings(config)) as rt:
        out.console.print(actions[action](rt, config.parent), highlight=False)


def _accept_quote(rt: Any, directory: Path) -> str:
    crm = rt.connectors["crm"]
    for quote in json.loads((directory / "quotes.json").read_text()):
        [record] = crm.read("quote", [quote])
        if record.record.status in ("draft", "sent"):
            crm.accept_quote(quote, name="Demo Customer", email="customer@demo.example")
            return f"quote {record.record.number or quote} accepted by the customer"
    raise UsageError("every demo quote is accepted already", hint="start over with `koppel demo --fresh`")


def _edit_account(rt: Any, directory: Path) -> str:
    from koppel.connectors.base import WriteOp

    link = rt.store.links.all("account")[0]
    rt.connectors["crm"].write("account", [WriteOp("e", {"name": "Renamed in the CRM"}, link.crm_id)])
    return f"CRM account {link.crm_id} renamed; the ERP owns the name, so koppel will write it back"


def _pay_invoice(rt: Any, directory: Path) -> str:
    erp = rt.connectors["erp"]
    rows = erp.client.model("account.invoice", "search_read", [("state", "=", "posted"),
                                                               ("type", "=", "out")], 0, 1, None,
                            ["number", "party.name"])
    if not rows:
        raise UsageError("no open invoice left in the demo ERP", hint="start over with `koppel demo --fresh`")
    erp.pay(str(rows[0]["id"]))
    return f"invoice {rows[0]['number']} paid in Tryton"
