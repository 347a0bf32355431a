"""Policy and settings: validation reports every problem with its line; secrets are masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from koppel.config import load_settings
from koppel.config.policy import default_policy_data, load_policy, merge
from koppel.errors import ConfigError

GOOD = """
[systems.erp]
connector = "memory"
[systems.erp.settings]
path = "erp.json"

[systems.crm]
connector = "memory"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "koppel.toml"
    path.write_text(text)
    return path


def test_the_default_policy_is_the_one_of_the_design() -> None:
    policy = load_policy(default_policy_data())
    account = policy.rules("account")
    assert account.fields["name"].owner == "erp" and account.fields["name"].direction == "to_crm"
    assert account.fields["industry"].owner == "crm" and account.fields["industry"].direction == "none"
    assert account.coupling_trigger == "first_order" and account.create == {"erp", "crm"}
    assert policy.rules("product").create == {"erp"}
    assert policy.rules("contact").fields["email"].direction == "both"
    assert policy.rules("invoice").owner == "erp"
    assert policy.rules("case").owner == "crm" and policy.rules("case").fields["erp_state"].owner == "erp"


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace('[systems.crm]\nconnector', '[systems.crm]\nconnectr') + """
[sync]
batch_size = 0

[policy.account]
fields.nme = { owner = "crm" }

[policy.contact.fields.email]
map = "nowhere"
"""
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    problems = caught.value.problems
    assert any(p.startswith("line 11: sync.batch_size") for p in problems), problems
    assert any("connectr" in p and p.startswith("line 8:") for p in problems), problems
    assert any(p.startswith("line 14: policy.account.fields.nme") for p in problems), problems
    assert any(p.startswith("line 16: policy.contact.fields.email") for p in problems), problems
    assert len(problems) == 5, problems  # connector missing, connectr unknown, and the three above


def test_semantic_problems_name_the_field(tmp_path: Path) -> None:
    text = GOOD + """
[policy.account]
fields.nme = { owner = "crm" }
fields.name = { owner = "erp", direction = "to_erp" }

[policy.contact.fields.email]
map = "nowhere"
"""
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    text_out = str(caught.value)
    assert "policy.account.fields.nme: no such field" in text_out
    assert "direction 'to_erp' contradicts owner 'erp'" in text_out
    assert "value map 'nowhere' is not defined" in text_out
    assert len(caught.value.problems) == 3


def test_broken_toml_is_one_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[systems.erp\n"))


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="koppel init"):
        load_settings(tmp_path / "nope.toml")


def test_secrets_come_from_env_or_secrets_file_and_are_masked(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    (tmp_path / "koppel.secrets.toml").write_text('[systems.erp.settings]\npassword = "s3cret"\n')
    settings = load_settings(path, env={"KOPPEL_CRM_TOKEN": "tok-123",
                                        "KOPPEL_STORE_URL": "postgresql://u:pw@127.0.0.1/db"})
    assert settings.systems["erp"].settings["password"] == "s3cret"
    assert settings.systems["crm"].settings["token"] == "tok-123"
    printed = repr(settings.masked())
    assert "s3cret" not in printed and "tok-123" not in printed and ":pw@" not in printed
    assert "***" in printed


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD), env={})
    assert settings.systems["erp"].settings["path"] == str(tmp_path.resolve() / "erp.json")
    assert str(tmp_path.resolve()) in settings.store.url


def test_koppel_toml_overrides_the_default_per_field() -> None:
    policy = load_policy(merge(default_policy_data(), {"policy": {"account": {
        "fields": {"phone": {"owner": "crm"}}}}}))
    rules = policy.rules("account")
    assert rules.fields["phone"].owner == "crm" and rules.fields["name"].owner == "erp"
    assert rules.coupling_trigger == "first_order"


def test_order_entry_and_analytics_sections(tmp_path: Path) -> None:
    text = GOOD + '[order_entry]\nreplenishment_days = 21\n\n[analytics]\ntargets_path = "targets.toml"\n' \
        '[analytics.value]\na_share = 0.5\nb_share = 0.5\n'
    settings = load_settings(write(tmp_path, text), env={})
    assert settings.order_entry.replenishment_days == 21
    assert settings.analytics.targets_path == str(tmp_path.resolve() / "targets.toml")
    assert settings.analytics.value.a_share == 0.5
    with pytest.raises(ConfigError, match="a_share"):
        load_settings(write(tmp_path, text.replace("b_share = 0.5", "b_share = 0.9")), env={})
