"""A koppel.toml with several kinds of mistakes is answered with every one of them at once, each
with its line: the connector name (and the installed ones), the cron schedule, numbers out of range,
policy entities and fields, value maps, and a secret written into the committed file."""

from __future__ import annotations

from pathlib import Path

import pytest

from koppel.config import load_settings
from koppel.errors import ConfigError

BAD = """
[systems.erp]
connector = "tryon"

[systems.crm]
connector = "memory"
[systems.crm.settings]
token = "bcrm_pat_do_not_commit"

[sync]
batch_size = -5
schedule = "every night"

[maps.terms]
"Net 30 days" = "NET_30"
"30 days net" = "NET_30"

[policy.acount]
owner = "erp"
"""


def test_every_kind_of_mistake_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "koppel.toml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    problems = "\n".join(caught.value.problems)
    assert "line 3: systems.erp.connector: 'tryon' is not an installed connector" in problems
    assert "bottlecrm, memory, tryton" in problems
    assert "line 11: sync.batch_size" in problems
    assert "line 12: sync.schedule" in problems and "cron" in problems
    assert "line 14: maps.terms" in problems and "NET_30" in problems
    assert "line 18: policy.acount: unknown entity" in problems
    assert "line 8: systems.crm.settings.token: a secret in koppel.toml" in problems
    assert "bcrm_pat_do_not_commit" not in str(caught.value)  # never echo a secret
    assert len(caught.value.problems) == 6
