"""Logs for operators: one JSON object per line, one `record` event per record outcome with the
run, entity and ids, and no record's values at info."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from koppel.cli import logs
from koppel.testing.builders import Pair, customer


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logs.configure("json", "info", stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_a_sync_logs_one_event_per_record_outcome_with_ids_only(pair: Pair,
                                                                   json_logs: io.StringIO) -> None:
    accounts = [customer(pair, n, email=f"buyer{n}@acme.example") for n in (1, 2, 3)]
    pair.crm.rejecters.append(lambda entity, values: "name is refused" if values.get("name") == "Acme 3 GmbH" else None)
    report = pair.engine.sync(["account"])
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.strip()]
    events = [e for e in lines if e["event"] == "record"]
    outcomes = {e["record"]: e["outcome"] for e in events}
    assert outcomes == {f"erp:{accounts[0]}": "created", f"erp:{accounts[1]}": "created", f"erp:{accounts[2]}": "error"}
    assert all(e["run"] == report.run_id and e["entity"] == "account" and e["level"] == "info" for e in events)
    assert [e.get("error") for e in events if e["outcome"] == "error"] == ["RecordError"]
    said = "\n".join(json.dumps(e) for e in lines if e["level"] in ("info", "debug"))
    for personal in ("Acme 1 GmbH", "buyer1@acme.example", "DE000000001", "name is refused"):
        assert personal not in said
    assert any(e["event"] == "run finished" and e["status"] == "partial" for e in lines)


def test_a_log_level_that_does_not_exist_is_refused() -> None:
    from typer.testing import CliRunner

    from koppel.cli.app import app

    result = CliRunner().invoke(app, ["--log-level", "loud", "status"])
    assert result.exit_code != 0 and "loud" in str(result.exception or result.output)
