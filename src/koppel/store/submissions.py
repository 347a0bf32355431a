"""Submissions in the store: what one submission (an order placed from the workspace) has made, by
its idempotency key, so that a second submission after a failure goes on where the first stopped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select, update

from koppel import clock
from koppel.store import tables as t
from koppel.store.base import Repository


class Submissions(Repository):
    def get(self, key: str) -> dict[str, Any]:
        """What the submission with this key has made so far ({} for a new one)."""
        with self.connect() as conn:
            made = conn.execute(select(t.submissions.c.made).where(t.submissions.c.key == key)).scalar()
        return dict(made or {})

    def record(self, key: str, kind: str, made: Mapping[str, Any]) -> None:
        """Remember what the submission has made, as soon as it has made it."""
        now = clock.now()
        with self.begin() as conn:
            known = conn.execute(select(t.submissions.c.made).where(t.submissions.c.key == key)).scalar()
            if known is None:
                conn.execute(insert(t.submissions).values(key=key, kind=kind, made=dict(made),
                                                          created_at=now, updated_at=now))
            else:
                conn.execute(update(t.submissions).where(t.submissions.c.key == key).values(
                    made={**known, **made}, updated_at=now))
