"""Logging through structlog, with every event redacted before it is rendered."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from sourceflow.redact import redact

_configured = False


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return redact(dict(event))  # type: ignore[no-any-return]


def configure(*, level: str = "WARNING", json: bool = False, stream: Any = None) -> None:
    """Set up structlog: redaction always on, console or JSON lines, to stderr by default."""
    global _configured
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


def get_logger(name: str = "sourceflow") -> Any:
    """A structlog logger; configures the defaults on first use."""
    if not _configured:
        configure()
    return structlog.get_logger(name)
