"""The account 360° and the account list as they were read before `read_related` and
`search_records`: every record of each related entity read from the system and filtered here,
every link loaded and every account of each system read to list the uncoupled ones. Kept for
the tests that prove the view shows the same with the systems' filters, and for
bench/account_view.py, which measures what they save."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from koppel.config.policy import Side, other
from koppel.engine.sync import SIDES
from koppel.processes.account_view import AccountSummary, AccountView


class ScanningAccountView(AccountView):
    """An AccountView whose related documents and uncoupled accounts come from full reads of
    both systems, and whose account search filters every link in Python."""

    def _related(self, side: Side, entity: str, account_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(i, v) for i, v in self._scan(side, entity) if v.get("account") == account_id]

    def accounts(self, search: str | None = None, *, include_uncoupled: bool = False,
                 uncoupled_from: Sequence[Side] = SIDES, limit: int = 100) -> list[AccountSummary]:
        found = [AccountSummary(f"erp:{link.erp_id}", link.snapshot.get("name"), link.snapshot.get("number"),
                                link.erp_id, link.crm_id, True) for link in self.store.links.all("account")]
        for side in uncoupled_from if include_uncoupled else ():
            records = dict(self._scan(side, "account"))
            known = self.store.links.by_ids("account", side, records)
            for record_id, values in records.items():
                if record_id not in known:
                    ids = {side: record_id, other(side): None}
                    found.append(AccountSummary(f"{side}:{record_id}", values.get("name"), values.get("number"),
                                                ids["erp"], ids["crm"], False))
        wanted = (search or "").casefold()
        hits = (s for s in found if not wanted or wanted in f"{s.name} {s.number} {s.key}".casefold())
        return [s for _, s in zip(range(limit), hits, strict=False)]

    def _scan(self, side: Side, entity: str) -> Iterator[tuple[str, dict[str, Any]]]:
        connector = self.engine.connectors[side]
        if entity not in connector.discover():
            return
        for batch in connector.read_changes(entity, None):
            for record in batch.records:
                yield record.id, record.record.model_dump(mode="json")
