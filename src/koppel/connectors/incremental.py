"""The incremental cursor done right: a lag window plus de-duplication at the boundary.

A cursor remembers the highest modification stamp seen and the ids already delivered at that
stamp. The next read starts `lag` before it (to catch late commits) and drops records whose
(id, stamp) was already delivered, so nothing is missed and nothing is seen twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Cursor:
    """Position in a system's change stream: the last stamp and the ids seen there."""

    stamp: float | None = None
    seen: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(stamp=data.get("stamp"), seen=dict(data.get("seen", {})))

    def dump(self) -> str:
        return json.dumps({"stamp": self.stamp, "seen": self.seen}, separators=(",", ":"))

    def since(self, lag: float) -> float | None:
        """Where the next read starts: `lag` seconds before the last stamp."""
        return None if self.stamp is None else self.stamp - lag

    def is_new(self, record_id: str, stamp: float) -> bool:
        """False when this exact version of the record was already delivered."""
        return self.seen.get(record_id) != stamp

    def advance(self, delivered: Iterable[tuple[str, float]], lag: float) -> None:
        """Move past delivered (id, stamp) pairs; keep only those inside the lag window."""
        for record_id, stamp in delivered:
            if self.stamp is None or stamp > self.stamp:
                self.stamp = stamp
            self.seen[record_id] = stamp
        if self.stamp is not None:
            floor = self.stamp - lag
            self.seen = {k: v for k, v in self.seen.items() if v >= floor}
