"""Property: random edits on both sides, synced, converge to what the policy says.

name is ERP-owned (a CRM edit is reverted), phone is shared (both-sided edits to different
values are a conflict, settled by an operator), industry is CRM-local (the ERP never touches
it). Whatever the sequence, after each sync both systems hold exactly the modelled values.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koppel.testing.builders import make_pair

VALUES = st.sampled_from(["a", "b", "c", "d"])
EDIT = st.tuples(st.sampled_from(["erp", "crm"]), st.sampled_from(["name", "phone", "industry"]), VALUES)
ROUND = st.tuples(st.lists(EDIT, max_size=4), st.sampled_from(["erp", "crm"]))


@dataclass
class Expected:
    name: str
    phone: str
    crm_industry: str | None
    erp_industry: str | None


def expected_after(model: Expected, edits: list[tuple[str, str, str]], winner: str) -> Expected:
    last = {(side, field): value for side, field, value in edits}
    erp_phone, crm_phone = last.get(("erp", "phone")), last.get(("crm", "phone"))
    erp_changed = erp_phone is not None and erp_phone != model.phone
    crm_changed = crm_phone is not None and crm_phone != model.phone
    phone = model.phone
    if erp_changed and crm_changed and erp_phone != crm_phone:
        phone = erp_phone if winner == "erp" else crm_phone
    elif erp_changed:
        phone = erp_phone or phone
    elif crm_changed:
        phone = crm_phone or phone
    return Expected(name=last.get(("erp", "name"), model.name), phone=phone,
                    crm_industry=last.get(("crm", "industry"), model.crm_industry),
                    erp_industry=last.get(("erp", "industry"), model.erp_industry))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROUND, min_size=1, max_size=5))
def test_random_edits_converge_to_the_policy(rounds: list[tuple[list[tuple[str, str, str]], str]]) -> None:
    pair = make_pair()
    erp_id = pair.erp.put("account", {"name": "start", "number": "C1", "phone": "start"})
    pair.engine.sync(["account"])
    crm_id = pair.crm.ids("account")[0]
    model = Expected("start", "start", None, None)
    for edits, winner in rounds:
        for side, field, value in edits:
            system = pair.erp if side == "erp" else pair.crm
            system.put("account", {field: value}, erp_id if side == "erp" else crm_id)
        report = pair.engine.sync(["account"])
        assert report.status == "ok", report.message
        for conflict in pair.store.findings.conflicts():
            pair.engine.resolve_conflict(conflict.id, winner)  # type: ignore[arg-type]
        model = expected_after(model, edits, winner)
        erp, crm = pair.erp.get("account", erp_id), pair.crm.get("account", crm_id)
        assert (erp["name"], crm["name"]) == (model.name, model.name)
        assert (erp["phone"], crm["phone"]) == (model.phone, model.phone)
        assert (erp["industry"], crm["industry"]) == (model.erp_industry, model.crm_industry)
    assert pair.engine.sync(["account"]).writes == 0
    pair.store.close()
