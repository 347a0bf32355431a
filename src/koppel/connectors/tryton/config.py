"""Settings of the Tryton connector, validated like every connector's.

`setup` is the dict (or the path to the JSON file) that `peers/tryton/peer.py start` prints;
the connector only takes defaults from it (product category, payment method) and looks the
rest up in Tryton itself, so it also works against a database it did not build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class TrytonSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    database: str
    user: str = "admin"
    password: SecretStr
    #: seconds before one JSON-RPC call counts as failed (and is retried by the engine)
    timeout: float = Field(default=120.0, gt=0)
    #: records per create/write/read call (Tryton is fastest at 100-250)
    batch_size: int = Field(default=200, ge=1, le=5000)
    #: seconds each incremental read reaches back to catch transactions committed late
    lag: float = Field(default=5.0, ge=0)
    #: seconds the looked-up codes (payment terms, currencies, countries, units) are kept before
    #: they are loaded again, so that a code renamed in Tryton reaches the next full batch; a
    #: code or id they lack loads them again at once
    lookups_ttl: float = Field(default=3600.0, ge=0)
    #: the peer's setup JSON (dict or path); None: everything is looked up in Tryton
    setup: dict[str, Any] | None = None
    #: company currency when Tryton does not say (ISO 4217)
    currency: str = "EUR"
    #: the country of addresses that carry none (ISO 3166-1 alpha-2)
    country: str | None = None
    #: name of the party relation type that links a contact person to its company
    contact_relation: str = "Contact person of"
    #: name of the product category new products get (None: the setup's or the first one)
    product_category: str | None = None
    #: name of the price list quotes use when their customer has none (None: the setup's)
    price_list: str | None = None
    #: name of the payment term of a sale whose customer has none, when Tryton has no default
    default_payment_term: str | None = None

    @field_validator("setup", mode="before")
    @classmethod
    def _load_setup(cls, value: Any) -> Any:
        if isinstance(value, str | Path):
            data = json.loads(Path(value).read_text())
            return data.get("setup", data)  # the whole `start` line or just its setup dict
        return value
