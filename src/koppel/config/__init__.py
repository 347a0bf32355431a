"""koppel's configuration: settings and the ownership policy, loaded from koppel.toml."""

from koppel.config.policy import FieldRule, Policy, Side, load_policy
from koppel.config.settings import Settings, load_settings

__all__ = ["FieldRule", "Policy", "Settings", "Side", "load_policy", "load_settings"]
