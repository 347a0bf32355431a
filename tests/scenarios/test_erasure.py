"""A person's erasure between the real systems: `koppel erase contact crm:ID` anonymises the person
in Tryton and in BottleCRM, through their own APIs, and leaves nothing of her in koppel's store."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import create_engine, text

from koppel.config import load_settings
from koppel.connectors.base import WriteOp
from tests.scenarios.conftest import Coupled, write_config


def test_erase_a_contact_in_both_systems(coupled: Coupled) -> None:
    c = coupled
    config = write_config(c)
    [account] = c.erp.write("account", [WriteOp("a", {"name": "Privat GmbH", "postcode": "10115"})])
    [person] = c.erp.write("contact", [WriteOp("p", {"first_name": "Erika", "last_name": "Mustermann",
                                                     "email": "erika@privat.example", "account": account.id})])

    def koppel(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "koppel", *args, "-c", str(config)], capture_output=True,
                              text=True, timeout=600, check=False)

    assert koppel("sync").returncode == 0
    url = load_settings(config).store.url
    with create_engine(url).connect() as conn:
        [crm_id] = conn.execute(text("SELECT crm_id FROM links WHERE entity='contact'")).scalars().all()
    done = koppel("erase", "contact", f"crm:{crm_id}", "--yes", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ids"] == {"crm": crm_id, "erp": person.id}
    for system, record in ((c.erp, person.id or ""), (c.crm, crm_id)):
        left = system.read("contact", [record])[0].record
        assert (left.last_name, left.email) == ("(erased)", None), (system.name, left)
    with create_engine(url).connect() as conn:
        stored = " ".join(str(r) for t in ("links", "errors", "audit") for r in conn.execute(text(f"SELECT * FROM {t}")))
    assert "Mustermann" not in stored and "erika@" not in stored
    assert koppel("sync", "--json").returncode == 0
