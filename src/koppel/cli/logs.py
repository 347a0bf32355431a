"""Logs for operators: structlog through the standard library, so koppel's own events and those
of the libraries under it (uvicorn, SQLAlchemy) come out in one format on stderr.

`--log-format json` writes one JSON object per line (for a log shipper), `console` writes lines
for people; the default is console on a terminal and JSON otherwise. `--log-level` (or
KOPPEL_LOG_LEVEL) sets the level, warning by default. At info, a sync writes one `record` event
per record outcome (run, entity, record ids, outcome) and never a record's values.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Literal, TextIO

import structlog

Format = Literal["json", "console"]
LEVELS = ("debug", "info", "warning", "error")


def default_format() -> Format:
    chosen = os.environ.get("KOPPEL_LOG_FORMAT", "").lower()
    if chosen in ("json", "console"):
        return chosen  # type: ignore[return-value]
    return "console" if sys.stderr.isatty() else "json"


def configure(log_format: Format | None = None, level: str | None = None, stream: TextIO | None = None) -> None:
    """Send every log event to stderr (or `stream`) in `log_format` from `level` up."""
    name = (level or os.environ.get("KOPPEL_LOG_LEVEL") or "warning").lower()
    number = getattr(logging, name.upper(), logging.WARNING)
    renderer: Any = (structlog.processors.JSONRenderer() if (log_format or default_format()) == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    shared: list[Any] = [structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level,
                         structlog.stdlib.add_logger_name, structlog.processors.TimeStamper(fmt="iso", utc=True)]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(number),  # a record event below the level costs nothing
        cache_logger_on_first_use=False)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=shared))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(number)
