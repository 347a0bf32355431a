"""The account 360° as it was read before `read_related`: every record of each related entity
read from the system and filtered here. Kept for the tests that prove the view shows the same
with the systems' filters, and for bench/account_view.py, which measures what they save."""

from __future__ import annotations

from typing import Any

from koppel.config.policy import Side
from koppel.processes.account_view import AccountView


class ScanningAccountView(AccountView):
    """An AccountView whose related documents come from full reads of both systems."""

    def _related(self, side: Side, entity: str, account_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(i, v) for i, v in self._scan(side, entity) if v.get("account") == account_id]
