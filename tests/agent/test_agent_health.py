"""Health checks through a real agent: the `healthy` field reaches the master."""

from __future__ import annotations

import msgspec

from libprocess import Node
from tests.agent.fakes import command_task, sandboxes, start_agent
from zmesos.protocol import CommandInfo, HealthCheck, HealthCheckType, Reason, TaskState


async def test_agent_forwards_health_updates_and_the_unhealthy_kill(tmp_path):
    check = HealthCheck(
        type=HealthCheckType.COMMAND,
        command=CommandInfo(value="test ! -f sick"),  # healthy until the test makes it sick
        delay_seconds=0.0,
        interval_seconds=0.1,
        consecutive_failures=2,
        grace_period_seconds=0.0,
    )
    task = msgspec.structs.replace(command_task("t1", "sleep 60"), health_check=check)
    async with Node(host="127.0.0.1", port=0) as node:
        master, _ = await start_agent(node, tmp_path)
        await master.wait_for(lambda: master.agent is not None)
        master.run_task(task)
        await master.wait_for(lambda: any(u.status.healthy for u in master.updates))
        [sandbox] = sandboxes(tmp_path, "t1")
        (sandbox / "sick").touch()
        await master.wait_for(lambda: master.terminal("t1"))
        statuses = [u.status for u in master.updates if u.status.task_id == "t1"]
        updated = [s for s in statuses if s.reason is Reason.TASK_HEALTH_CHECK_STATUS_UPDATED]
        assert [s.healthy for s in updated] == [True, False, False]
        assert {s.state for s in updated} == {TaskState.RUNNING}
        final = statuses[-1]
        assert final.state is TaskState.KILLED and final.healthy is False
        assert "consecutive failed health checks" in final.message
