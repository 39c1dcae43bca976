"""Protocol values are frozen and untracked by the cyclic garbage collector."""

from __future__ import annotations

import gc

import msgspec

from zmesos.protocol import (
    AgentInfo,
    CommandInfo,
    FrameworkInfo,
    ReportedTask,
    ReregisterAgent,
    TaskInfo,
    TaskState,
)
from zmesos.resources import Resources


def test_protocol_values_decoded_from_the_wire_are_not_tracked_by_the_collector():
    """10,000 agents re-registering are half a million of these: the collector skips them."""
    resources = tuple(Resources.parse("cpus:0.1;mem:32;ports:[31000-31001]").to_list())
    task = TaskInfo(
        name="t", task_id="t1", agent_id="a1", resources=resources, command=CommandInfo(value="x")
    )
    message = ReregisterAgent(
        agent=AgentInfo(hostname="h", id="a1", resources=resources),
        tasks=(ReportedTask(framework_id="f1", task=task, state=TaskState.RUNNING),),
        frameworks=(FrameworkInfo(user="u", name="n", id="f1"),),
    )
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(message), type=ReregisterAgent)
    assert decoded == message
    [record] = decoded.tasks
    values = [decoded, decoded.agent, record, record.task, record.task.command, *resources]
    values += list(record.task.resources) + list(decoded.frameworks)
    assert not any(gc.is_tracked(value) for value in values)
