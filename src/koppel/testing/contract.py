"""The connector contract suite: every connector must pass it, against its real system.

Subclass `ConnectorContract` in a test module, give it a `connector` fixture and say how to
make valid (and invalid) records of the entities it should exercise:

    class TestMyConnector(ConnectorContract):
        entities = ("account", "contact")

        @pytest.fixture
        def connector(self): ...

        def make(self, connector, entity, n): return {...canonical JSON values...}
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from koppel.connectors.base import Connector, EntityInfo, WriteOp, read_related, search_records
from koppel.errors import KoppelError, RecordError
from koppel.model import ENTITIES, entity_class


class ConnectorContract:
    """The behaviour koppel's engine relies on, checked against one connector."""

    entities: ClassVar[tuple[str, ...]] = ("account",)
    #: a field of each entity that a change test may set to a new text value
    mutable_field: ClassVar[dict[str, str]] = {"account": "name", "contact": "last_name"}

    # --- what a subclass provides -------------------------------------------------------

    def make(self, connector: Connector, entity: str, n: int) -> dict[str, Any]:
        """Canonical JSON values of a new, valid, unique record (n varies per call)."""
        raise NotImplementedError

    def invalid(self, connector: Connector, entity: str) -> dict[str, Any] | None:
        """Values the system rejects with its own message (None: skip that test)."""
        return None

    def comparable(self, entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """The part of `values` a round trip must preserve exactly (default: all given)."""
        return dict(values)

    # --- helpers ------------------------------------------------------------------------

    def create(self, connector: Connector, entity: str, rows: list[dict[str, Any]]) -> list[str]:
        outcomes = connector.write(entity, [WriteOp(str(i), v) for i, v in enumerate(rows)])
        assert [o.key for o in outcomes] == [str(i) for i in range(len(rows))]
        errors = [o.error for o in outcomes if not o.ok]
        assert not errors, f"valid records were rejected: {errors}"
        return [o.id or "" for o in outcomes]

    def unique(self) -> int:
        return uuid.uuid4().int % 10**9

    def drain(self, connector: Connector, entity: str, cursor: str | None) -> tuple[list[str], list[str], str | None]:
        ids: list[str] = []
        deleted: list[str] = []
        last = cursor
        for batch in connector.read_changes(entity, cursor, batch_size=50):
            ids += [r.id for r in batch.records]
            deleted += list(batch.deleted)
            last = batch.cursor
        return ids, deleted, last

    # --- the contract -------------------------------------------------------------------

    def test_check_answers(self, connector: Connector) -> None:
        connector.check()

    def test_discover_names_canonical_fields(self, connector: Connector) -> None:
        infos = connector.discover()
        for entity in self.entities:
            assert entity in infos, f"{connector.name} does not offer {entity}"
            info: EntityInfo = infos[entity]
            known = set(ENTITIES[entity].model_fields)
            assert info.readable <= known and info.writable <= known
            assert info.readable, f"{entity} has no readable fields"

    def test_batch_create_then_read_round_trip(self, connector: Connector) -> None:
        for entity in self.entities:
            rows = [self.make(connector, entity, self.unique()) for _ in range(3)]
            ids = self.create(connector, entity, rows)
            assert len(set(ids)) == 3
            records = {r.id: r for r in connector.read(entity, ids)}
            assert set(records) == set(ids)
            readable = connector.discover()[entity].readable
            for record_id, values in zip(ids, rows, strict=True):
                got = records[record_id].record.model_dump(mode="json")
                want = {k: v for k, v in self.comparable(entity, values).items() if k in readable}
                assert {k: got[k] for k in want} == want
                assert isinstance(records[record_id].record, entity_class(entity))

    def test_update_changes_only_the_given_field(self, connector: Connector) -> None:
        for entity in self.entities:
            field = self.mutable_field[entity]
            values = self.make(connector, entity, self.unique())
            [record_id] = self.create(connector, entity, [values])
            before = connector.read(entity, [record_id])[0].record.model_dump(mode="json")
            new_value = f"Changed {self.unique()}"
            [outcome] = connector.write(entity, [WriteOp("u", {field: new_value}, record_id)])
            assert outcome.ok and outcome.id == record_id, outcome.error
            after = connector.read(entity, [record_id])[0].record.model_dump(mode="json")
            assert after[field] == new_value
            assert {k: v for k, v in after.items() if k != field} == {
                k: v for k, v in before.items() if k != field}

    def test_incremental_read_sees_exactly_the_changes(self, connector: Connector) -> None:
        for entity in self.entities:
            self.create(connector, entity, [self.make(connector, entity, self.unique())])
            _, _, cursor = self.drain(connector, entity, None)
            again, _, cursor = self.drain(connector, entity, cursor)
            assert again == [], "a record was delivered twice across the cursor boundary"
            fresh = self.create(connector, entity, [self.make(connector, entity, self.unique())])
            changed = self.create(connector, entity, [self.make(connector, entity, self.unique())])
            _, _, cursor = self.drain(connector, entity, cursor)
            field = self.mutable_field[entity]
            connector.write(entity, [WriteOp("u", {field: f"Edited {self.unique()}"}, changed[0])])
            seen, _, cursor = self.drain(connector, entity, cursor)
            assert seen == changed, f"expected only {changed}, got {seen}"
            assert fresh[0] not in seen
            quiet, _, _ = self.drain(connector, entity, cursor)
            assert quiet == []

    def test_find_by_natural_key(self, connector: Connector) -> None:
        for entity in self.entities:
            keys = entity_class(entity).natural_keys
            values = self.make(connector, entity, self.unique())
            key = next((k for k in keys if all(values.get(f) for f in k)), None)
            if key is None:
                continue
            [record_id] = self.create(connector, entity, [values])
            wanted = {f: values[f] for f in key}
            missing = {f: f"nobody-{self.unique()}" for f in key}
            assert connector.find(entity, [wanted, missing]) == [record_id, None]

    def test_read_related_returns_what_belongs_to_the_given_accounts(self, connector: Connector) -> None:
        """Records of three accounts in one call; a fourth account's record is left out."""
        for entity in self.entities:
            if "account" not in ENTITIES[entity].model_fields or entity == "account":
                continue
            rows = [self.make(connector, entity, self.unique()) for _ in range(4)]
            ids = self.create(connector, entity, rows)
            accounts = [str(r["account"]) for r in rows]
            found = read_related(connector, entity, "account", accounts[:3])
            assert sorted(r.id for r in found) == sorted(ids[:3])
            assert {str(getattr(r.record, "account", None)) for r in found} == set(accounts[:3])
            assert read_related(connector, entity, "account", [accounts[3]])[0].id == ids[3]
            assert read_related(connector, entity, "account", []) == []

    def test_search_records_finds_an_account_by_its_name_in_other_case_a_page_at_a_time(
            self, connector: Connector) -> None:
        """The text search, natively where the connector can: the name with its letters' case
        swapped finds the record, in pages of at most the size asked; a text nobody has, none."""
        if "account" not in self.entities:
            return
        values = self.make(connector, "account", self.unique())
        [record_id] = self.create(connector, "account", [values])
        pages = list(search_records(connector, "account", str(values["name"]).swapcase(), page_size=1))
        assert record_id in [r.id for page in pages for r in page]
        assert pages and all(len(page) == 1 for page in pages)
        assert list(search_records(connector, "account", f"nobody-{self.unique()}", page_size=5)) == []

    def test_rejected_record_gets_its_own_outcome(self, connector: Connector) -> None:
        for entity in self.entities:
            bad = self.invalid(connector, entity)
            if bad is None:
                continue
            good = self.make(connector, entity, self.unique())
            outcomes = connector.write(entity, [WriteOp("bad", bad), WriteOp("good", good)])
            assert [o.key for o in outcomes] == ["bad", "good"]
            assert isinstance(outcomes[0].error, RecordError)
            assert isinstance(outcomes[0].error, KoppelError) and outcomes[0].error.message
            assert outcomes[1].ok and outcomes[1].id

    def test_read_leaves_out_missing_ids(self, connector: Connector) -> None:
        for entity in self.entities:
            [record_id] = self.create(connector, entity, [self.make(connector, entity, self.unique())])
            connector.delete(entity, [record_id])
            assert connector.read(entity, [record_id]) == []

    def test_delete_is_seen_by_the_next_incremental_read(self, connector: Connector) -> None:
        for entity in self.entities:
            [record_id] = self.create(connector, entity, [self.make(connector, entity, self.unique())])
            _, _, cursor = self.drain(connector, entity, None)
            [outcome] = connector.delete(entity, [record_id])
            assert outcome.ok
            _, deleted, cursor = self.drain(connector, entity, cursor)
            assert record_id in deleted
            _, again, _ = self.drain(connector, entity, cursor)
            assert record_id not in again
