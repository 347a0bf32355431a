"""Settings: koppel.toml, layered with a secrets file and the environment, validated at once.

Every problem in the file is reported together, each with the line to fix. Secrets (tokens,
passwords) come from `koppel.secrets.toml` beside the config or from `KOPPEL_<SYSTEM>_<KEY>`
environment variables, and are masked whenever settings are printed.
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from koppel.config.locate import locate
from koppel.config.policy import Policy, PolicyFile, default_policy_data, merge, semantic_problems
from koppel.errors import ConfigError
from koppel.model import ORDER

SECRET_WORDS = ("password", "token", "secret", "api_key", "apikey")
_PATH_KEYS = re.compile(r"^(path|.*_path|.*_dir)$")


class SystemSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connector: str
    settings: dict[str, Any] = Field(default_factory=dict)
    #: write calls in flight to this system at once, across every worker (None: as many as run;
    #: Tryton on SQLite takes one writer at a time: 1)
    max_parallel: int | None = Field(default=None, ge=1, le=1000)
    #: creates in flight at once per entity, across every worker, beside what the connector asks
    #: for itself (BottleCRM numbers quotes per day: 1)
    max_parallel_creates: dict[str, Annotated[int, Field(ge=1, le=1000)]] = Field(default_factory=dict)

    @field_validator("max_parallel_creates")
    @classmethod
    def _entities(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(ORDER))
        if unknown:
            raise ValueError(f"not an entity: {', '.join(unknown)} (the entities: {', '.join(ORDER)})")
        return value


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = "sqlite:///.koppel/koppel.db"


class SyncSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_size: int = Field(default=500, ge=1, le=10_000)
    retry_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_delay: float = Field(default=0.5, ge=0)
    entities: list[str] | None = None
    poll_interval: float = Field(default=2.0, gt=0)
    schedule: str = "0 2 * * *"
    stale_after: float = Field(default=300, gt=0)  # seconds without a heartbeat: a job's worker died

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression: five fields, minute hour day month "
                             'weekday, e.g. "0 2 * * *" for 02:00 every night')
        return value


class OrderEntrySettings(BaseModel):
    """How order entry proposes ship dates (`[order_entry]`)."""

    model_config = ConfigDict(extra="forbid")
    #: days to get goods that neither stock nor known supply covers (buy or make them)
    replenishment_days: int = Field(default=14, ge=0)
    #: lead time of products for which the ERP has none
    default_lead_days: int = Field(default=0, ge=0)


class ValueSettings(BaseModel):
    """Customer value: cost-to-serve rates and tier cuts (`[analytics.value]`)."""

    model_config = ConfigDict(extra="forbid")
    task_rate: Decimal = Field(default=Decimal(25), ge=0)  # cost of one CRM task
    case_rate: Decimal = Field(default=Decimal(60), ge=0)  # cost of one CRM case
    a_share: float = Field(default=0.2, ge=0, le=1)
    b_share: float = Field(default=0.3, ge=0, le=1)

    @model_validator(mode="after")
    def _shares(self) -> ValueSettings:
        if self.a_share + self.b_share > 1:
            raise ValueError("a_share + b_share must not exceed 1")
        return self


class AnalyticsSettings(BaseModel):
    """`[analytics]`: where the sales targets are, and how customer value is computed."""

    model_config = ConfigDict(extra="forbid")
    #: TOML ([[target]] tables) or JSON list of sales targets, relative to koppel.toml
    targets_path: str | None = None
    value: ValueSettings = Field(default_factory=ValueSettings)


class WorkspaceSettings(BaseModel):
    """`[workspace]`: the web workspace's language for users who chose none and browsers that ask
    for none koppel speaks (en, de or nl)."""

    model_config = ConfigDict(extra="forbid")
    language: Literal["en", "de", "nl"] = "en"


class JobsSettings(BaseModel):
    """`[jobs]`: who runs koppel's jobs. `auto`: Procrastinate workers (`koppel worker`, on any
    number of machines) when the store is PostgreSQL, else koppel's own queue in one process."""

    model_config = ConfigDict(extra="forbid")
    runner: Literal["auto", "embedded", "procrastinate"] = "auto"
    #: seconds without a worker's heartbeat after which its running jobs are taken up again
    stalled_after: float = Field(default=30, gt=0)
    #: a load of an entity (the nightly batch, the first read) is split into this many jobs that
    #: apply a part of its records each, side by side on the workers
    shards: int = Field(default=1, ge=1, le=256)
    #: seconds a write waits for a free slot of a system's cap before its run fails
    slot_timeout: float = Field(default=600, gt=0)

    def runner_for(self, store_url: str) -> Literal["embedded", "procrastinate"]:
        if self.runner != "auto":
            return self.runner
        return "procrastinate" if store_url.startswith("postgresql") else "embedded"


class SettingsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store: StoreSettings = Field(default_factory=StoreSettings)
    systems: dict[str, SystemSettings]
    sync: SyncSettings = Field(default_factory=SyncSettings)
    order_entry: OrderEntrySettings = Field(default_factory=OrderEntrySettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    workspace: WorkspaceSettings = Field(default_factory=WorkspaceSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    policy: dict[str, Any] = Field(default_factory=dict)
    maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    overrides: list[Any] = Field(default_factory=list)


class Settings:
    """Validated settings plus the resolved policy."""

    def __init__(self, data: SettingsFile, policy: Policy, path: Path) -> None:
        self.store = data.store
        self.systems = data.systems
        self.sync = data.sync
        self.order_entry = data.order_entry
        self.analytics = data.analytics
        self.workspace = data.workspace
        self.jobs = data.jobs
        self.policy = policy
        self.path = path

    def masked(self) -> dict[str, Any]:
        """The settings as data, every secret replaced by '***'."""
        return {"store": {"url": mask_url(self.store.url)},
                "systems": {n: {"connector": s.connector, "settings": mask(s.settings)}
                            for n, s in self.systems.items()},
                "sync": self.sync.model_dump()}


def mask(values: dict[str, Any]) -> dict[str, Any]:
    return {k: "***" if any(w in k.lower() for w in SECRET_WORDS) else
            mask_url(v) if isinstance(v, str) and "://" in v else v for k, v in values.items()}


def mask_url(url: str) -> str:
    """Hide the password in a URL such as postgresql://user:secret@host/db."""
    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


def load_settings(path: Path | str = "koppel.toml", *, env: dict[str, str] | None = None) -> Settings:
    """Read, layer, validate: raises ConfigError listing every problem with its line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError([f"{path} does not exist: create one with `koppel init`"], source=str(path))
    text = path.read_text(encoding="utf-8")
    data = _parse(text, str(path))
    misplaced = [_where(text, loc, msg) for loc, msg in _secrets_in(data, path)]
    data = _layer_secrets(data, path, os.environ if env is None else env)
    settings = _validate(data, text, str(path), misplaced)
    _resolve_paths(settings, path.parent.resolve())
    return settings


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], source=source) from None


def _layer_secrets(data: dict[str, Any], path: Path, env: Any) -> dict[str, Any]:
    secrets_path = Path(env.get("KOPPEL_SECRETS", path.parent / "koppel.secrets.toml"))
    if secrets_path.exists():
        data = merge(data, _parse(secrets_path.read_text(encoding="utf-8"), str(secrets_path)))
    for system in ("erp", "crm"):
        prefix = f"KOPPEL_{system.upper()}_"
        for key, value in env.items():
            if key.startswith(prefix) and system in data.get("systems", {}):
                data["systems"][system].setdefault("settings", {})[key[len(prefix):].lower()] = value
    if "KOPPEL_STORE_URL" in env:
        data.setdefault("store", {})["url"] = env["KOPPEL_STORE_URL"]
    return data


def _secrets_in(data: dict[str, Any], path: Path) -> list[tuple[tuple[Any, ...], str]]:
    """Secrets written into koppel.toml, the file that is committed (never echo their values)."""
    found = []
    for side, system in (data.get("systems") or {}).items():
        for key in (system.get("settings") or {}) if isinstance(system, dict) else ():
            if any(word in key.lower() for word in SECRET_WORDS):
                found.append((("systems", side, "settings", key),
                              f"a secret in {path.name}, which is committed: move it to koppel.secrets.toml "
                              f"(beside it, not committed) or to KOPPEL_{str(side).upper()}_{key.upper()}"))
    return found


def _connector_problems(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Connector names that no installed package provides, with the installed ones."""
    from importlib.metadata import entry_points

    installed = sorted({ep.name for ep in entry_points(group="koppel.connectors")})
    return [(("systems", side, "connector"), f"{system.get('connector')!r} is not an installed connector "
             f"(installed: {', '.join(installed) or 'none'})")
            for side, system in (data.get("systems") or {}).items()
            if isinstance(system, dict) and isinstance(system.get("connector"), str)
            and system["connector"] not in installed]


def _validate(data: dict[str, Any], text: str, source: str, problems: list[str]) -> Settings:
    problems = [*problems, *(_where(text, loc, msg) for loc, msg in _connector_problems(data))]
    parsed: SettingsFile | None = None
    try:
        parsed = SettingsFile.model_validate(data)
    except ValidationError as exc:
        problems += [_where(text, e["loc"], e["msg"]) for e in exc.errors()]
    if parsed is not None:
        problems += [_where(text, ("systems",), f"[systems.{side}] is missing: koppel couples an "
                            f"erp and a crm") for side in ("erp", "crm") if side not in parsed.systems]
    policy_data = merge(default_policy_data(), {k: data.get(k, {}) for k in ("policy", "maps")})
    policy_data["overrides"] = data.get("overrides", [])
    policy: Policy | None = None
    try:
        policy_file = PolicyFile.model_validate(policy_data)
        found = semantic_problems(policy_file)
        problems += [_where(text, loc, msg) for loc, msg in found]
        policy = Policy(policy_file) if not found else None
    except ValidationError as exc:
        problems += [_where(text, e["loc"], e["msg"]) for e in exc.errors()]
    if problems or parsed is None or policy is None:
        raise ConfigError(problems, source=source)
    return Settings(parsed, policy, Path(source))


def _where(text: str, loc: tuple[Any, ...], msg: str) -> str:
    dotted = ".".join(str(p) for p in loc)
    line = locate(text, loc)
    return f"line {line}: {dotted}: {msg}" if line else f"{dotted}: {msg}"


def _resolve_paths(settings: Settings, base: Path) -> None:
    url = settings.store.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        target = base / url[len("sqlite:///"):]
        target.parent.mkdir(parents=True, exist_ok=True)
        settings.store.url = f"sqlite:///{target}"
    targets = settings.analytics.targets_path
    if targets and not Path(targets).is_absolute():
        settings.analytics.targets_path = str(base / targets)
    for system in settings.systems.values():
        for key, value in system.settings.items():
            if _PATH_KEYS.match(key) and isinstance(value, str) and not Path(value).is_absolute():
                system.settings[key] = str(base / value)
