"""The store: koppel's own state in one SQL database, made of small repositories.

SQLite file by default, PostgreSQL by URL. Opening a store brings its schema to the newest
migration. Each repository owns one kind of state and every statement about it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection

from koppel.store.base import Unit, fold, json_text
from koppel.store.erasure import Erasure
from koppel.store.findings import Findings
from koppel.store.jobs import Jobs
from koppel.store.links import Cursors, Links
from koppel.store.locks import Locks
from koppel.store.proposals import Proposals
from koppel.store.queue import ErrorQueue
from koppel.store.runs import Audit, Runs
from koppel.store.submissions import Submissions
from koppel.store.workspace import Tokens, Users

#: one migration at a time in this process: worker threads open their stores side by side
_MIGRATING = threading.Lock()


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
    dbapi_connection.create_function("koppel_fold", 1, fold, deterministic=True)


class Store:
    """koppel's state behind one SQLAlchemy engine, one repository per kind of state."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        unit = self._unit = Unit()
        self.links = Links(engine, unit)  # which record is which, with the last-synced values
        self.cursors = Cursors(engine, unit)  # where each change read stands
        self.runs = Runs(engine, unit)  # what each run did, and what it saw of the systems
        self.audit = Audit(engine, unit)  # who changed what (append-only)
        self.errors = ErrorQueue(engine, unit)  # records waiting to be fixed or for a dependency
        self.findings = Findings(engine, unit)  # conflicts and violations for a person to decide
        self.proposals = Proposals(engine, unit)  # possible pairs of existing records (first coupling)
        self.submissions = Submissions(engine, unit)  # order entry's idempotency keys
        self.users = Users(engine, unit)  # who may use the workspace and the API
        self.tokens = Tokens(engine, unit)  # their API tokens (hashes only)
        self.jobs = Jobs(engine, unit)  # the job queue
        self.erasure = Erasure(engine, unit)  # scrubbing a person from koppel's own state
        self.locks = Locks(engine)  # who writes what now, across every process (PostgreSQL)

    @contextmanager
    def together(self) -> Iterator[None]:
        """The store writes of this thread inside the block in one transaction (one commit):
        for writes that belong together, such as the links, queue entries and audit rows of a
        batch just created. Never around a call to a system: it holds the database's lock."""
        if self._unit.connection is not None:
            yield
            return
        with self.engine.begin() as conn:
            self._unit.connection = conn
            try:
                yield
            finally:
                self._unit.connection = None

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and migrate to the newest schema."""
        engine = create_engine(url, future=True, json_serializer=json_text)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_connect)
        store = cls(engine)
        store.migrate()
        return store

    def migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(files("koppel.store").joinpath("migrations")))
        with self.engine.connect() as conn:  # at the newest already: nothing to wait for (`koppel status` during a run)
            if set(MigrationContext.configure(conn).get_current_heads()) == set(ScriptDirectory.from_config(config).get_heads()):
                return
        # Alembic's context is process-global; two processes opening a new SQLite store at once
        # would both create its tables: the second waits for the first
        with _MIGRATING, self.locks.exclusive(), self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def connection(self) -> Connection:
        return self.engine.connect()

    def close(self) -> None:
        self.locks.close()
        self.engine.dispose()
