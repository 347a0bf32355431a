"""Builders for tests: two in-memory systems coupled through a fresh store, a customer, the twin
of a coupled record, one record written through a connector, and the settings of a koppel.toml
for two memory systems."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from koppel.config.policy import Policy, default_policy_data, load_policy, merge
from koppel.config.settings import Settings, SyncSettings, load_settings
from koppel.connectors.base import Connector, WriteOp
from koppel.connectors.memory import MemoryConnector
from koppel.engine import Engine
from koppel.store import Store


@dataclass
class Pair:
    """An ERP and a CRM in memory, coupled by an engine over `store`."""

    erp: MemoryConnector
    crm: MemoryConnector
    store: Store
    engine: Engine


def policy_with(**tables: dict[str, object]) -> Policy:
    """The default policy with some `[policy.<entity>]` tables overridden."""
    return load_policy(merge(default_policy_data(), dict(tables)))


def make_pair(policy: Policy | None = None, *, suppress_echo: bool = True, url: str = "sqlite://") -> Pair:
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm")
    store = Store.open(url)
    settings = SyncSettings(retry_base_delay=0, retry_attempts=3, batch_size=50)
    engine = Engine(store, {"erp": erp, "crm": crm}, policy or policy_with(), settings, suppress_echo=suppress_echo)
    return Pair(erp, crm, store, engine)


def customer(pair: Pair, n: int = 1, **extra: object) -> str:
    """ERP customer number n of the in-memory ERP (Acme n GmbH, C<n>)."""
    values = {"name": f"Acme {n} GmbH", "number": f"C{n}", "vat_id": f"DE{n:09d}",
              "postcode": "10115", "currency": "EUR", "payment_term": "Net 30 days", **extra}
    return pair.erp.put("account", values)


def twin(store: Store, record_id: str, entity: str = "account", side: str = "erp") -> str:
    """The id, on the other side, of the record coupled to `side`:`record_id`."""
    link = store.links.by_ids(entity, side, [record_id])[record_id]
    return link.id_on("crm" if side == "erp" else "erp")


def make(system: Connector, entity: str, values: dict[str, Any]) -> str:
    """Write one new record through a connector, as that system's user would; its id."""
    [outcome] = system.write(entity, [WriteOp("new", values)])
    assert outcome.ok, outcome.error
    return outcome.id or ""


def memory_settings(directory: Path, url: str, *, sync: str = "", jobs: str = "") -> Settings:
    """The settings of a koppel.toml written to `directory`: the store at `url`, two memory
    systems, retries without pauses, and the given lines of `[sync]` and `[jobs]`."""
    (directory / "koppel.toml").write_text(f"""
[store]
url = "{url}"
[sync]
retry_attempts = 2
retry_base_delay = 0
{sync}
[jobs]
{jobs}
[systems.erp]
connector = "memory"
[systems.crm]
connector = "memory"
""")
    return load_settings(directory / "koppel.toml")
