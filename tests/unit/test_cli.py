"""The command line as a script sees it: output, JSON, and exit codes it can rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from koppel.connectors.memory import MemoryConnector
from koppel.connectors.memory.config import MemorySettings


def koppel(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "koppel", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    assert koppel("init", cwd=tmp_path).returncode == 0
    text = (tmp_path / "koppel.toml").read_text()
    (tmp_path / "koppel.toml").write_text(text.replace("seed_accounts = 200", "seed_accounts = 12"))
    return tmp_path


def test_init_refuses_to_overwrite(workdir: Path) -> None:
    again = koppel("init", cwd=workdir)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr


def test_sync_status_and_json(workdir: Path) -> None:
    run = koppel("sync", "--json", cwd=workdir)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["status"] == "ok" and report["stats"]["account"]["created"] == 12
    status = json.loads(koppel("status", "--json", cwd=workdir).stdout)
    assert status["links"]["account"] == 12 and status["runs"][0]["status"] == "ok"
    assert status["errors"] == {"held": 40}  # the CRM's 20 prospects and their contacts wait
    jobs = status["jobs"]  # SQLite: koppel's own queue, nothing waiting, no worker
    assert (jobs["runner"], jobs["waiting"], jobs["running"], jobs["workers"]) == ("embedded", {}, 0, [])


def test_check_masks_secrets(workdir: Path) -> None:
    (workdir / "koppel.secrets.toml").write_text('[systems.crm.settings]\napi_token = "hunter2"\n')
    result = koppel("check", cwd=workdir)
    assert "hunter2" not in result.stdout + result.stderr
    assert result.returncode == 2 and "api_token" in result.stderr  # memory has no such setting


def test_a_crm_edit_reaches_the_erp_between_two_runs(workdir: Path) -> None:
    koppel("sync", cwd=workdir)
    crm = MemoryConnector("crm", MemorySettings(path=workdir / ".koppel" / "crm.json"))
    coupled = [i for i in crm.ids("account") if crm.get("account", i)["number"]]
    crm.put("account", {"phone": "+31 10 555"}, coupled[0])
    crm.close()
    result = koppel("sync", "--json", "--entity", "account", cwd=workdir)
    assert json.loads(result.stdout)["stats"]["account"]["updated"] == 1
    erp = MemoryConnector("erp", MemorySettings(path=workdir / ".koppel" / "erp.json"))
    number = crm.get("account", coupled[0])["number"]
    [twin] = [i for i in erp.ids("account") if erp.get("account", i)["number"] == number]
    assert erp.get("account", twin)["phone"] == "+31 10 555"


def test_bad_input_is_one_message_never_a_traceback(workdir: Path) -> None:
    for args in (["sync", "--record", "nonsense"], ["sync", "--entity", "spaceship"], ["worker"],
                 ["conflicts", "resolve", "1", "--winner", "both"], ["errors", "retry", "999"]):
        result = koppel(*args, cwd=workdir)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stderr.strip()


def test_sync_of_one_record_on_demand(workdir: Path) -> None:
    erp = MemoryConnector("erp", MemorySettings(path=workdir / ".koppel" / "erp.json", seed="erp",
                                                seed_accounts=12))
    erp.close()
    record = erp.ids("account")[0]
    result = koppel("sync", "--entity", "account", "--record", f"erp:{record}", "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stats"]["account"]["created"] == 1


def test_reconcile_exit_code_says_whether_there_is_drift(workdir: Path) -> None:
    assert koppel("sync", cwd=workdir).returncode == 0
    clean = koppel("reconcile", "--json", "--entity", "account", cwd=workdir)
    assert clean.returncode == 0 and json.loads(clean.stdout)["drift"] == []
    crm = MemoryConnector("crm", MemorySettings(path=workdir / ".koppel" / "crm.json"))
    coupled = next(i for i in crm.ids("account") if crm.get("account", i)["number"])
    crm.put("account", {"name": "Drifted"}, coupled)
    crm.close()
    drift = koppel("reconcile", "--json", "--entity", "account", cwd=workdir)
    assert drift.returncode == 1
    [line] = json.loads(drift.stdout)["drift"]
    assert (line["kind"], line["record_id"]) == ("differs", coupled)


def test_messages_and_hints_follow_lang(workdir: Path) -> None:
    def in_language(lang: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "koppel", *args], cwd=workdir, capture_output=True, text=True,
                              timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "LANG": lang})

    german = in_language("de_DE.UTF-8", "init")
    assert german.returncode == 2
    assert "Fehler: koppel.toml gibt es bereits — verwenden Sie --force, um sie zu überschreiben" in german.stderr
    dutch = in_language("nl_NL.UTF-8", "errors", "retry")
    assert dutch.returncode == 2 and "geen fouten gekozen — geef fout-id's of --all op" in dutch.stderr
    status = in_language("de_DE.UTF-8", "status")
    assert "Verknüpfungen" in status.stdout and "offene Konflikte: 0" in status.stdout
    assert json.loads(in_language("de_DE.UTF-8", "status", "--json").stdout)["links"] == {}  # keys stay
