"""What makes a task's check valid: the one rule the master and the executors share.

The master refuses a task whose check breaks it (TASK_ERROR, "Task uses invalid
check: ..."); an executor runs no check that breaks it. The messages are
Mesos's (common/validation.cpp), so frameworks written for Mesos read what they
expect; times must also be finite and at most a year, so no timer is asked for
an absurd deadline.
"""

from __future__ import annotations

import math

from zmesos.protocol.common import MAX_TASK_SECONDS, CheckInfo, CheckType

__all__ = ["check_info_error"]


def check_info_error(check: CheckInfo) -> str | None:
    """None when `check` can be run, else a one-line message naming the problem."""
    error = _type_error(check)
    if error is not None:
        return error
    for name in ("delay_seconds", "interval_seconds", "timeout_seconds"):
        seconds: float = getattr(check, name)
        if not seconds >= 0.0:  # NaN too
            return f"Expecting '{name}' to be non-negative"
        if not math.isfinite(seconds) or seconds > MAX_TASK_SECONDS:
            return f"Expecting '{name}' to be at most {MAX_TASK_SECONDS:.0f} seconds"
    return None


def _type_error(check: CheckInfo) -> str | None:
    if check.type is None:
        return "CheckInfo must specify 'type'"
    if check.type is CheckType.COMMAND:
        if check.command is None:
            return "Expecting 'command' to be set for COMMAND check"
        if not check.command.value:
            wanted = "'shell command'" if check.command.shell else "'executable path'"
            return f"Command check must contain {wanted}"
        return None
    if check.type is CheckType.HTTP:
        if check.http is None:
            return "Expecting 'http' to be set for HTTP check"
        if check.http.path and not check.http.path.startswith("/"):
            return f"The path '{check.http.path}' of HTTP check must start with '/'"
        return None
    if check.type is CheckType.TCP:
        return "Expecting 'tcp' to be set for TCP check" if check.tcp is None else None
    return f"'{check.type.value}' is not a valid check type"
