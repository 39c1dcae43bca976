"""Starting an agent the way the CLI does: a node, its HTTP server, the agent actor."""

from __future__ import annotations

import dataclasses
import resource

from agent.agent import Agent
from agent.containerizer import Containerizer
from agent.flags import AgentFlags
from agent.http import serve_http
from libprocess import PID, Node
from zmesos.http import HttpServer
from zmesos.node_security import SecurityFlags

__all__ = ["AgentHandle", "run_agent"]

OPEN_FILES_WANTED = 65536  # a few descriptors per executor (its connection, pidfd, files)

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


async def run_agent(flags: AgentFlags, security: SecurityFlags | None = None) -> AgentHandle:
    """A node on `flags.ip:flags.actor_port`, HTTP on `flags.ip:flags.port`, then the agent.

    HTTP is bound first, so the port the agent advertises (AgentInfo.port) is
    the bound one even when `flags.port` is 0. Raises NodeError, OSError or
    ValueError (a bad work directory, an --isolation the machine cannot give) with
    everything it started stopped. `security`
    (zmesos.node_security): CurveZMQ keys for the node (and its executors), and
    the HTTP door's guard.
    """
    security = security or SecurityFlags()
    _raise_open_files_limit()
    containerizer = Containerizer.from_flags(flags)  # a bad --isolation stops here
    node = await Node(
        host=flags.ip, port=flags.actor_port, curve_keys=security.curve_directory
    ).start()
    pid = PID(AGENT_NAME, *node.address)
    try:
        http = await serve_http(
            pid, node, flags.ip, flags.port, flags, security.http("mesos-agent")
        )
    except BaseException:
        await node.stop()
        raise
    agent = Agent(
        dataclasses.replace(flags, port=http.port), name=AGENT_NAME, containerizer=containerizer
    )
    try:
        spawned = node.spawn(agent)
    except BaseException:
        await http.close()
        await node.stop()
        raise
    assert spawned == pid, (spawned, pid)
    return AgentHandle(node, agent, pid, http)


def _raise_open_files_limit() -> None:
    """Lift the soft limit on open files towards the hard one: 1024 (a common default)
    runs out at a few hundred executors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES_WANTED)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
