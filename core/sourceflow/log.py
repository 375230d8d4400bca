"""Logging through structlog, with every event redacted before it is rendered.

structlog (and logging, and the redaction patterns) are imported on first use, not at start-up:
commands that log nothing (``sourceflow plugins``) do not pay for them.
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from typing import Any

_configured = False
_defaults: dict[str, Any] = {"level": "WARNING", "json": False, "stream": None}


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    from sourceflow.redact import redact

    return redact(dict(event))  # type: ignore[no-any-return]


def set_defaults(*, level: str = "WARNING", json: bool = False) -> None:
    """What :func:`get_logger` configures on first use, unless :func:`configure` ran first."""
    _defaults.update(level=level, json=json)
    if _configured:
        configure(**_defaults)


def configure(*, level: str = "WARNING", json: bool = False, stream: Any = None) -> None:
    """Set up structlog: redaction always on, console or JSON lines, to stderr by default."""
    import logging

    import structlog

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
    import structlog

    if not _configured:
        configure(**_defaults)
    return structlog.get_logger(name)
