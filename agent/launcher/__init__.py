"""Launching the command executor through a fork server (a "zygote").

`ForkServer` (agent.launcher.client) is the agent's handle on one server and
`ForkServerKeeper` (agent.launcher.keeper) keeps one running; the server
process is agent.launcher.zygote, its children become executors through
agent.launcher.child, and agent.launcher.messages is what they say.
"""

from agent.launcher.client import SUPPORTED, ForkedProcess, ForkServer, ForkServerError
from agent.launcher.keeper import ForkServerKeeper

__all__ = ["SUPPORTED", "ForkServer", "ForkServerError", "ForkServerKeeper", "ForkedProcess"]
