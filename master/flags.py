"""The master's flags: Mesos's names in snake_case (`--allocation-interval` on the command line)."""

from __future__ import annotations

import dataclasses
import uuid


@dataclasses.dataclass
class MasterFlags:
    """Settings of one master. Durations are seconds on the runtime clock.

    `offer_timeout` None keeps offers until they are used, declined or
    rescinded for another reason (Mesos's default). `http_port` None serves no
    operator HTTP; 0 binds an ephemeral port. `master_id` None draws a fresh
    UUID, the prefix of every agent, framework and offer id this master hands out.
    """

    ip: str = "127.0.0.1"
    port: int = 5050
    hostname: str = ""
    http_port: int | None = 5080
    allocation_interval: float = 1.0
    offer_timeout: float | None = None
    agent_ping_timeout: float = 15.0
    max_agent_ping_timeouts: int = 5
    max_completed_frameworks: int = 50
    max_completed_tasks_per_framework: int = 1000
    master_id: str | None = None

    def __post_init__(self) -> None:
        if self.allocation_interval <= 0:
            raise ValueError("allocation_interval must be > 0")
        if self.offer_timeout is not None and self.offer_timeout <= 0:
            raise ValueError("offer_timeout must be > 0 (or None for no timeout)")
        if self.agent_ping_timeout <= 0:
            raise ValueError("agent_ping_timeout must be > 0")
        if self.max_agent_ping_timeouts < 1:
            raise ValueError("max_agent_ping_timeouts must be >= 1")

    def new_master_id(self) -> str:
        return self.master_id or str(uuid.uuid4())
