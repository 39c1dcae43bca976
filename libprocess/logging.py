"""structlog, configured once: key=value lines for people, JSON lines when asked.

`ZMESOS_LOG_JSON=1` (or `configure(json=True)`) switches to JSON; `ZMESOS_LOG_LEVEL`
sets the level (default `info`). Actors bind their PID into their logger.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

_configured = False


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(*, json: bool | None = None, level: str | None = None) -> None:
    """Set up structlog for this OS process; later calls change the settings."""
    global _configured
    if json is None:
        json = os.environ.get("ZMESOS_LOG_JSON", "").lower() in ("1", "true", "yes")
    level_name = (level or os.environ.get("ZMESOS_LOG_LEVEL", "info")).upper()
    numeric = logging.getLevelNamesMapping().get(level_name)
    if numeric is None:
        raise ValueError(f"unknown log level {level_name.lower()!r}")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    _configured = True


def ensure_configured() -> None:
    """Configure from the environment unless something already did."""
    if not _configured:
        configure()
