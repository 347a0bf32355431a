"""`koppel migrate`: bring the store's schema to this version of koppel, as an upgrade's one step.

Opening the store migrates it as well (every command does), so `migrate` is the same work done on
purpose, once, with the workers stopped: it prints the store's revision before and after, and
applies Procrastinate's schema where the jobs run on Procrastinate and it is missing.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import typer

from koppel.cli import output as out
from koppel.cli.common import DEFAULT_CONFIG, ConfigOption, JsonOption
from koppel.config import load_settings
from koppel.config.settings import mask_url
from koppel.i18n import _
from koppel.store import Store

commands = typer.Typer()


@commands.command()
def migrate(config: ConfigOption = DEFAULT_CONFIG, json_output: JsonOption = False) -> None:
    """Migrate the store to this koppel's schema (and Procrastinate's, where used); stop the workers first."""
    settings = load_settings(config)
    url = settings.store.url
    before = revision(url)
    Store.open(url).close()  # opening migrates to the newest revision
    after, head = revision(url), newest_revision()
    jobs: str | None = None  # koppel's own queue needs no schema beyond the store's
    if settings.jobs.runner_for(url) == "procrastinate":
        from koppel.workers import fleet

        app = fleet.build_app(settings)
        with app.open():
            jobs = "applied" if fleet.ensure_schema(app) else "present"
    if json_output:
        out.print_json({"store": mask_url(url), "before": before, "after": after, "head": head,
                        "procrastinate_schema": jobs})
        return
    if before == after:
        out.console.print(_("the store is at revision {revision}, the newest: nothing to migrate",
                            revision=after), highlight=False)
    else:
        out.console.print(_("the store went from revision {before} to {after}",
                            before=before or _("none (a new store)"), after=after), highlight=False)
    if jobs == "applied":
        out.console.print(_("Procrastinate's schema applied"))
    elif jobs == "present":
        out.console.print(_("Procrastinate's schema is there already"))


def revision(url: str) -> str | None:
    """The store's Alembic revision; None for a database koppel never opened."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            current: Any = MigrationContext.configure(conn).get_current_revision()
            return None if current is None else str(current)
    finally:
        engine.dispose()


def newest_revision() -> str | None:
    """The newest revision this koppel ships."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(files("koppel.store").joinpath("migrations")))
    head: Any = ScriptDirectory.from_config(config).get_current_head()
    return None if head is None else str(head)
