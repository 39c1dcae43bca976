"""structlog, configured once: key=value lines for people, JSON lines when asked.

`ZMESOS_LOG_JSON=1` (or `configure(json=True)`) switches to JSON; `ZMESOS_LOG_LEVEL`
sets the level (default `info`). Actors bind their PID into their logger.

Lines about dropped input (events named `dropping_*`) are rate-limited per event
and reason: a flood of bad messages must not become a flood of log. The metrics
still count every drop; the next line let through says how many were held back.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

_configured = False

# Lines per event and reason per window; beyond, lines are held back (and counted).
DROP_LINES_PER_WINDOW = 10
DROP_WINDOW_SECONDS = 1.0
# Distinct (event, reason) keys remembered; hostile input could invent reasons.
_DROP_KEYS_MAX = 1024


class DropLogLimiter:
    """A structlog processor: at most `lines` `dropping_*` lines per key per `window` seconds.

    The key is the event name and its `reason` field. The first line of a new
    window carries `suppressed=N`, the lines held back in the windows before it.
    Real time on purpose: it bounds how fast a log grows, a real-world rate.
    """

    def __init__(
        self,
        lines: int = DROP_LINES_PER_WINDOW,
        window: float = DROP_WINDOW_SECONDS,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lines = lines
        self.window = window
        self.now = now
        # key -> [window start, lines let through in it, lines held back since the last one]
        self._windows: dict[tuple[str, str], list[float]] = {}

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        name = event.get("event")
        if not isinstance(name, str) or not name.startswith("dropping_"):
            return event
        key = (name, str(event.get("reason", ""))[:200])
        now = self.now()
        state = self._windows.get(key)
        if state is None:
            if len(self._windows) >= _DROP_KEYS_MAX:
                self._windows.clear()
            state = self._windows[key] = [now, 0, 0]
        elif now - state[0] >= self.window:
            state[0], state[1] = now, 0
        if state[1] >= self.lines:
            state[2] += 1
            raise structlog.DropEvent
        state[1] += 1
        if state[2]:
            event["suppressed"] = int(state[2])
            state[2] = 0
        return event


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
            DropLogLimiter(),
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
