"""The ownership policy: per entity and field, who owns it, which way it flows, who may
create and delete, coupling triggers, value maps and defaults, plus per-record overrides.

The shipped default (default_policy.toml) is the one in design.md; koppel.toml's [policy.*]
tables override it entity by entity and field by field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from koppel.model import ENTITIES

Side = Literal["erp", "crm"]
Owner = Literal["erp", "crm", "shared"]
LineRule = Literal["link", "code", "name"]
Direction = Literal["to_crm", "to_erp", "both", "once", "none"]
Trigger = Literal["always", "first_order", "manual"]
SIDES: tuple[Side, Side] = ("erp", "crm")
_DEFAULT_DIRECTION: dict[str, Direction] = {"erp": "to_crm", "crm": "to_erp", "shared": "both"}
_ALLOWED: dict[str, set[str]] = {
    "erp": {"to_crm", "once", "none"}, "crm": {"to_erp", "once", "none"},
    "shared": {"both", "to_crm", "to_erp", "none"}}


def other(side: Side) -> Side:
    return "crm" if side == "erp" else "erp"


class FieldPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: Owner | None = None
    direction: Direction | None = None
    map: str | None = None
    default: Any = None


class EntityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sync: bool = True
    owner: Owner = "erp"
    create: list[Side] = Field(default_factory=lambda: list[Side](["erp"]))
    delete: list[Side] = Field(default_factory=list)
    coupling_trigger: Trigger = "always"
    create_when: dict[str, list[Any]] = Field(default_factory=dict)
    match: list[list[str]] | None = None
    #: the target refuses a create because another record holds the same unique value (a CRM
    #: account's name): create it under `collision_pattern` and propose the pair, or report it
    on_unique_collision: Literal["disambiguate", "report"] = "disambiguate"
    #: None: "{name} ({number})", else the colliding value and the source record's id
    collision_pattern: str | None = None
    #: how a handed-over quote's line finds its ERP product, in this order (R5)
    line_match: list[LineRule] = Field(default_factory=lambda: list[LineRule](["link", "code", "name"]))
    #: a line that finds no product goes as a free-text line (services sold without a catalogue entry)
    free_text_lines: bool = False
    #: `koppel erase`: anonymise the person in both systems (kept for the documents that name it) or delete
    erasure: Literal["anonymise", "delete"] = "anonymise"
    fields: dict[str, FieldPolicy] = Field(default_factory=dict)


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity: str
    record: str = Field(pattern=r"^(erp|crm):.+$", description="SYSTEM:ID of the record")
    fields: dict[str, FieldPolicy]


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: dict[str, EntityPolicy] = Field(default_factory=dict)
    maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    overrides: list[Override] = Field(default_factory=list)



Problem = tuple[tuple[str, ...], str]


def semantic_problems(data: PolicyFile) -> list[Problem]:
    """Everything pydantic cannot see: unknown entities, fields and maps, owner contradictions."""
    problems: list[Problem] = []
    for name, ep in data.policy.items():
        problems += _check_entity(name, ep, data.maps)
    for o in data.overrides:
        problems += [(("overrides",), p) for p in _check_override(o, data.maps)]
    for name, table in data.maps.items():
        problems += [(("maps", name), p) for p in _check_map(table)]
    return problems


def _check_map(table: dict[str, str]) -> list[str]:
    """A value map is read both ways, so no CRM value may stand for two ERP values."""
    erp_values: dict[str, list[str]] = {}
    for erp, crm in table.items():
        erp_values.setdefault(crm, []).append(erp)
    return [f"{crm!r} is the CRM value of {' and '.join(map(repr, erps))}: a value map must be "
            "one-to-one, as koppel maps CRM values back" for crm, erps in erp_values.items() if len(erps) > 1]


def _pattern_fields(pattern: str) -> list[str]:
    import string

    try:
        return [f for _, f, _, _ in string.Formatter().parse(pattern) if f]
    except ValueError:
        return ["(unbalanced braces)"]


def _check_entity(name: str, ep: EntityPolicy, maps: dict[str, dict[str, str]]) -> list[Problem]:
    where = ("policy", name)
    if name not in ENTITIES:
        return [(where, f"unknown entity {name!r} (known: {', '.join(ENTITIES)})")]
    known = ENTITIES[name].model_fields
    problems: list[Problem] = [((*where, "fields", f), f"no such field in {name} (known: {', '.join(known)})")
                               for f in ep.fields if f not in known]
    problems += [((*where, "match"), f"no such field {f!r}") for key in ep.match or [] for f in key
                 if f not in known]
    problems += [((*where, "create_when"), f"no such field {f!r}") for f in ep.create_when if f not in known]
    problems += [((*where, "collision_pattern"), f"no such field {f!r} (known: {', '.join(known)})")
                 for f in _pattern_fields(ep.collision_pattern or "") if f not in known]
    for fname, fp in ep.fields.items():
        problems += [((*where, "fields", fname), p) for p in _check_field(fp, ep.owner, maps)]
    return problems


def _check_field(fp: FieldPolicy, owner: Owner, maps: dict[str, dict[str, str]]) -> list[str]:
    problems = []
    effective = fp.owner or owner
    if fp.direction and fp.direction not in _ALLOWED[effective]:
        problems.append(f"direction {fp.direction!r} contradicts owner {effective!r}")
    if fp.map and fp.map not in maps:
        problems.append(f"value map {fp.map!r} is not defined under [maps]")
    return problems


def _check_override(o: Override, maps: dict[str, dict[str, str]]) -> list[str]:
    if o.entity not in ENTITIES:
        return [f"override {o.record}: unknown entity {o.entity!r}"]
    known = ENTITIES[o.entity].model_fields
    problems = [f"override {o.record}: no such field {f!r}" for f in o.fields if f not in known]
    for fname, fp in o.fields.items():
        problems += [f"override {o.record}.{fname}: {p}" for p in _check_field(fp, fp.owner or "shared", maps)]
    return problems


@dataclass(frozen=True)
class FieldRule:
    """The resolved rule for one field: who owns it and which way changes may flow."""

    owner: Owner
    direction: Direction
    map: str | None = None
    default: Any = None

    def flows(self, source: Side) -> bool:
        """May a change made in `source` be copied to the other side?"""
        return self.direction == "both" or self.direction == f"to_{other(source)}"

    @property
    def once(self) -> bool:
        """Copied when the record is created, never after; a later change by the owner is flagged."""
        return self.direction == "once"


@dataclass(frozen=True)
class EntityRules:
    """An entity's resolved policy."""

    name: str
    sync: bool
    owner: Owner
    create: frozenset[str]
    delete: frozenset[str]
    coupling_trigger: Trigger
    create_when: dict[str, list[Any]]
    match: tuple[tuple[str, ...], ...]
    fields: dict[str, FieldRule]
    on_unique_collision: str = "disambiguate"
    collision_pattern: str = "{name} ({number})"
    line_match: tuple[str, ...] = ("link", "code", "name")
    free_text_lines: bool = False
    erasure: str = "anonymise"


class Policy:
    """The resolved policy for every entity, with value maps and per-record overrides."""

    def __init__(self, data: PolicyFile) -> None:
        self.maps = data.maps
        self.entities = {name: _resolve(name, ep) for name, ep in data.policy.items()}
        self._overrides: dict[tuple[str, str], dict[str, FieldPolicy]] = {
            (o.entity, o.record): o.fields for o in data.overrides}

    def rules(self, entity: str) -> EntityRules:
        return self.entities[entity]

    def synced_entities(self) -> list[str]:
        return [e for e in ENTITIES if e in self.entities and self.entities[e].sync]

    def field_rules(self, entity: str, side: Side, record_id: str) -> dict[str, FieldRule]:
        """The entity's field rules with any override for this record applied."""
        base = self.entities[entity].fields
        override = self._overrides.get((entity, f"{side}:{record_id}"))
        if not override:
            return base
        merged = dict(base)
        for name, fp in override.items():
            merged[name] = _rule(fp, base[name].owner)
        return merged

    @property
    def has_overrides(self) -> bool:
        return bool(self._overrides)

    def map_value(self, name: str | None, value: Any, *, to: Side) -> Any:
        """Translate a value through a value map (maps are written erp value = crm value)."""
        if name is None or value is None:
            return value
        table = self.maps[name]
        if to == "crm":
            return table.get(value, value)
        reverse = {v: k for k, v in table.items()}
        return reverse.get(value, value)


def _rule(fp: FieldPolicy, owner: Owner) -> FieldRule:
    effective = fp.owner or owner
    return FieldRule(effective, fp.direction or _DEFAULT_DIRECTION[effective], fp.map, fp.default)


def _resolve(name: str, ep: EntityPolicy) -> EntityRules:
    cls = ENTITIES[name]
    fields = {f: _rule(ep.fields.get(f, FieldPolicy()), ep.owner) for f in cls.model_fields}
    match = tuple(tuple(k) for k in ep.match) if ep.match is not None else cls.natural_keys
    return EntityRules(name, ep.sync, ep.owner, frozenset(ep.create), frozenset(ep.delete),
                       ep.coupling_trigger, ep.create_when, match, fields, ep.on_unique_collision,
                       ep.collision_pattern or "{name} ({number})", tuple(ep.line_match), ep.free_text_lines, ep.erasure)


def default_policy_data() -> dict[str, Any]:
    """The shipped default policy as TOML data."""
    text = files("koppel.config").joinpath("default_policy.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge TOML tables: `top` wins, tables merge, everything else is replaced."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_policy(data: dict[str, Any]) -> Policy:
    """Validate policy tables (already merged over the default); raises ValueError on problems."""
    parsed = PolicyFile.model_validate(data)
    problems = semantic_problems(parsed)
    if problems:
        raise ValueError("; ".join(p for _, p in problems))
    return Policy(parsed)


__all__ = ["EntityRules", "FieldRule", "Policy", "PolicyFile", "Side", "ValidationError",
           "load_policy", "other", "semantic_problems"]
