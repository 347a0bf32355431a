"""A fresh database on the local PostgreSQL for a test or a benchmark, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

#: the server's maintenance database; `KOPPEL_TEST_PG` names another server
ADMIN_URL = os.environ.get("KOPPEL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_database(prefix: str = "koppel_test", admin_url: str = ADMIN_URL) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database, dropped (connections and all) on the way out."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
