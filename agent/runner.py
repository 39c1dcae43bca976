"""Starting an agent the way the CLI does: a node, its HTTP server, the agent actor."""

from __future__ import annotations

import dataclasses

from agent.agent import Agent
from agent.flags import AgentFlags
from agent.http import serve_http
from libprocess import PID, Node
from zmesos.http import HttpServer

__all__ = ["AgentHandle", "run_agent"]

AGENT_NAME = "agent"


@dataclasses.dataclass
class AgentHandle:
    """A running agent: its node, PID and HTTP server. `stop()` ends them all."""

    node: Node
    agent: Agent
    pid: PID
    http: HttpServer

    async def wait(self) -> None:
        """Until the agent terminates."""
        await self.node.wait(self.pid)

    async def stop(self) -> None:
        await self.http.close()
        await self.node.stop()


async def run_agent(flags: AgentFlags) -> AgentHandle:
    """A node on `flags.ip:flags.actor_port`, HTTP on `flags.ip:flags.port`, then the agent.

    HTTP is bound first, so the port the agent advertises (AgentInfo.port) is
    the bound one even when `flags.port` is 0. Raises NodeError, OSError or
    ValueError (a bad work directory) with everything it started stopped.
    """
    node = await Node(host=flags.ip, port=flags.actor_port).start()
    pid = PID(AGENT_NAME, *node.address)
    try:
        http = await serve_http(pid, node, flags.ip, flags.port, flags)
    except BaseException:
        await node.stop()
        raise
    agent = Agent(dataclasses.replace(flags, port=http.port), name=AGENT_NAME)
    try:
        spawned = node.spawn(agent)
    except BaseException:
        await http.close()
        await node.stop()
        raise
    assert spawned == pid, (spawned, pid)
    return AgentHandle(node, agent, pid, http)
