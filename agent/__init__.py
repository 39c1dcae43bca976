"""The agent: registers with the master, runs executors in sandboxes, relays their updates.

Public surface: `Agent` (the actor), `AgentFlags` (its flags), `run_agent` (node,
HTTP and actor, as the CLI starts them), `detect_resources`,
`parse_duration`, and the errors (`AgentError`, `FlagsError`).
"""

from agent.agent import Agent
from agent.errors import AgentError, FlagsError, RecoveryError, StatusUpdateError
from agent.flags import AgentFlags, detect_resources, parse_attributes, parse_duration
from agent.runner import AgentHandle, run_agent

__all__ = [
    "Agent",
    "AgentError",
    "AgentFlags",
    "AgentHandle",
    "FlagsError",
    "RecoveryError",
    "StatusUpdateError",
    "detect_resources",
    "parse_attributes",
    "parse_duration",
    "run_agent",
]
