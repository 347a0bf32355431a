"""The workspace: one Runtime opened for the app, the lock around the peers, the audit trail.

Connectors are not thread-safe, and FastAPI runs plain routes in a thread pool: everything that
talks to a peer system goes through `Workspace.peers()`, which holds one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from koppel.engine.runtime import Runtime
from koppel.processes.account_view import AccountView
from koppel.store import AuditEntry
from koppel.workers.queue import JobQueue, queue_for


@dataclass
class Workspace:
    runtime: Runtime
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def view(self) -> AccountView:
        return AccountView(self.runtime.engine)

    @property
    def queue(self) -> JobQueue:
        """Where jobs wait: koppel's own queue, or Procrastinate's (`[jobs] runner`)."""
        return queue_for(self.runtime.settings, self.runtime.store)

    @contextmanager
    def peers(self) -> Iterator[Runtime]:
        with self.lock:
            yield self.runtime

    def audit(self, actor: str, action: str, record: str, *, entity: str | None = None,
              before: Any = None, after: Any = None, origin: str = "api") -> None:
        """Every change a person makes lands in the audit trail under their name."""
        self.runtime.store.audit.add([AuditEntry(actor=actor, action=action, entity=entity, record=record,
                                       before=before, after=after, origin=origin)])
