"""Settings of the BottleCRM connector: where the server is, the token, and how hard to push it.

`setup` is the optional `setup` object that `peers/bottlecrm/peer.py start` prints (custom
field keys per model, default pipeline, lead sources); the connector only reads from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class BottleCrmSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: base URL of the server, without `/api/` (e.g. http://127.0.0.1:8001)
    url: str
    #: personal access token (`bcrm_pat_…`)
    token: SecretStr
    #: requests in flight at once for batch writes and detail reads
    concurrency: int = Field(default=4, ge=1, le=32)
    #: seconds before one request counts as timed out (the accounts list is slow)
    timeout: float = Field(default=120.0, gt=0)
    #: rows per list request; BottleCRM has no maximum
    page_size: int = Field(default=500, ge=1)
    #: seconds one scan of a list answers natural-key finds that have no server-side filter
    #: (each change read and koppel's own writes refresh it)
    find_scan_ttl: float = Field(default=120.0, ge=0)
    #: currency of money custom fields when the record has none
    default_currency: str = "EUR"
    #: seconds the `updated_at` cursor and the activity feed re-read before their last stamp (late commits)
    lag: float = Field(default=2.0, ge=0)
    #: between full reads, find changes of accounts, contacts and tasks through BottleCRM's
    #: activity feed (one request a poll) instead of scanning their lists; false: always scan
    change_feed: bool = True
    #: the `setup` object printed by the peer script (pipeline id, custom field keys …)
    setup: dict[str, Any] = Field(default_factory=dict)

    @field_validator("setup", mode="before")
    @classmethod
    def _load_setup(cls, value: Any) -> Any:
        """Also accept the path of a JSON file: the whole `start` line or just its setup."""
        if isinstance(value, str | Path):
            data = json.loads(Path(value).read_text())
            return data.get("setup", data)
        return value
