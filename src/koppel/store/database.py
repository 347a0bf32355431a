"""The store: koppel's own state in one SQL database, made of small repositories.

SQLite file by default, PostgreSQL by URL. Opening a store brings its schema to the newest
migration. Each repository owns one kind of state and every statement about it.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection

from koppel.store.erasure import Erasure
from koppel.store.findings import Findings
from koppel.store.jobs import Jobs
from koppel.store.links import Cursors, Links
from koppel.store.proposals import Proposals
from koppel.store.queue import ErrorQueue
from koppel.store.runs import Audit, Runs
from koppel.store.submissions import Submissions
from koppel.store.workspace import Tokens, Users


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Store:
    """koppel's state behind one SQLAlchemy engine, one repository per kind of state."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.links = Links(engine)  # which record is which, with the last-synced values
        self.cursors = Cursors(engine)  # where each change read stands
        self.runs = Runs(engine)  # what each run did, and what it saw of the systems
        self.audit = Audit(engine)  # who changed what (append-only)
        self.errors = ErrorQueue(engine)  # records waiting to be fixed or for a dependency
        self.findings = Findings(engine)  # conflicts and violations for a person to decide
        self.proposals = Proposals(engine)  # possible pairs of existing records (first coupling)
        self.submissions = Submissions(engine)  # order entry's idempotency keys
        self.users = Users(engine)  # who may use the workspace and the API
        self.tokens = Tokens(engine)  # their API tokens (hashes only)
        self.jobs = Jobs(engine)  # the job queue
        self.erasure = Erasure(engine)  # scrubbing a person from koppel's own state

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and migrate to the newest schema."""
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        store.migrate()
        return store

    def migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(files("koppel.store").joinpath("migrations")))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def connection(self) -> Connection:
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()
