"""The environment an agent gives the executors it launches (the agent <-> executor contract).

Executors read these variables to find their agent and learn their ids, as Mesos
executors read `MESOS_*`. Durations are seconds, written as decimal numbers.
"""

from __future__ import annotations

AGENT_PID = "ZMESOS_AGENT_PID"  # name@host:port of the agent to register with
AGENT_ID = "ZMESOS_AGENT_ID"
FRAMEWORK_ID = "ZMESOS_FRAMEWORK_ID"
EXECUTOR_ID = "ZMESOS_EXECUTOR_ID"
CONTAINER_ID = "ZMESOS_CONTAINER_ID"
SANDBOX = "ZMESOS_SANDBOX"  # the executor's working directory
CHECKPOINT = "ZMESOS_CHECKPOINT"  # "1" when the framework checkpoints: outlive the agent
RECOVERY_TIMEOUT = "ZMESOS_RECOVERY_TIMEOUT"  # how long to wait for a lost agent to return
SHUTDOWN_GRACE_PERIOD = "ZMESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"  # after ShutdownExecutor
LIBPROCESS_IP = "LIBPROCESS_IP"  # where the executor's node binds (the agent's host)
# For a command task with volumes the agent cannot symlink: JSON [[source, target, mode], ...]
# the command executor bind-mounts in the task's own mount namespace.
VOLUME_MOUNTS = "ZMESOS_VOLUME_MOUNTS"

# What Mesos gives every executor (docs/executor-http-api.md), for executors written
# against Mesos's v1 executor API: they subscribe at MESOS_AGENT_ENDPOINT (the agent's
# HTTP, host:port). Durations in Mesos's spelling, e.g. "5secs".
MESOS_FRAMEWORK_ID = "MESOS_FRAMEWORK_ID"
MESOS_EXECUTOR_ID = "MESOS_EXECUTOR_ID"
MESOS_AGENT_ID = "MESOS_SLAVE_ID"
MESOS_DIRECTORY = "MESOS_DIRECTORY"
MESOS_SANDBOX = "MESOS_SANDBOX"
MESOS_AGENT_ENDPOINT = "MESOS_AGENT_ENDPOINT"
MESOS_CHECKPOINT = "MESOS_CHECKPOINT"
MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD = "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"
MESOS_RECOVERY_TIMEOUT = "MESOS_RECOVERY_TIMEOUT"
MESOS_SUBSCRIPTION_BACKOFF_MAX = "MESOS_SUBSCRIPTION_BACKOFF_MAX"

__all__ = [
    "AGENT_ID",
    "AGENT_PID",
    "CHECKPOINT",
    "CONTAINER_ID",
    "EXECUTOR_ID",
    "FRAMEWORK_ID",
    "LIBPROCESS_IP",
    "MESOS_AGENT_ENDPOINT",
    "MESOS_AGENT_ID",
    "MESOS_CHECKPOINT",
    "MESOS_DIRECTORY",
    "MESOS_EXECUTOR_ID",
    "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
    "MESOS_FRAMEWORK_ID",
    "MESOS_RECOVERY_TIMEOUT",
    "MESOS_SANDBOX",
    "MESOS_SUBSCRIPTION_BACKOFF_MAX",
    "RECOVERY_TIMEOUT",
    "SANDBOX",
    "SHUTDOWN_GRACE_PERIOD",
    "VOLUME_MOUNTS",
]
