"""Settings of the memory connector, validated like every connector's."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class MemorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: keep the records in this JSON file between runs (None: forget them at exit)
    path: Path | None = None
    #: fill an empty system with generated demo data of this flavour
    seed: str | None = Field(default=None, pattern="^(erp|crm)$")
    #: how many accounts the demo data holds
    seed_accounts: int = Field(default=200, ge=0)
    entities: list[str] | None = None
