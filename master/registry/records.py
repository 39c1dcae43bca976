"""What the registry holds, and the operations that change it (Mesos's registry.proto).

`Registry` is the whole durable state of a cluster's masters: the admitted
agents (with their AgentInfo), the unreachable agents (with the time they
became so), the gone agents (marked by an operator; never admitted again),
the principal each agent authenticated as (so that, after a master failover
too, only that principal may re-register with the agent's id),
role weights and quota, and `generation`, bumped by every master that
recovers the registry, so ids it hands out never repeat a predecessor's.

An operation is a small struct with `apply(registry)`: it changes the
in-memory registry and returns whether it changed anything (False: a no-op,
so nothing needs writing), or raises `RegistryOperationError` when it cannot
apply (admitting an agent twice). Stores persist what operations did: the
file store rewrites the whole registry, the ZooKeeper store writes one znode
per changed record (see master.registry.zookeeper).
"""

from __future__ import annotations

import msgspec

from master.registry.errors import RegistryOperationError
from zmesos.protocol import AgentInfo

__all__ = [
    "AdmitAgent",
    "BumpGeneration",
    "MarkAgentGone",
    "MarkAgentReachable",
    "MarkAgentUnreachable",
    "Operation",
    "PruneUnreachable",
    "QuotaRecord",
    "Registry",
    "RemoveAgent",
    "RemoveQuota",
    "SetQuota",
    "UpdateWeights",
]


class QuotaRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A role's quota: scalar guarantees and limits (names absent are not constrained)."""

    guarantee: dict[str, float] = {}
    limit: dict[str, float] = {}


class Registry(msgspec.Struct, kw_only=True):
    """The cluster's durable state. Mutated only by operations."""

    generation: int = 0
    agents: dict[str, AgentInfo] = {}
    unreachable: dict[str, float] = {}  # agent id -> when it became unreachable
    gone: dict[str, float] = {}  # agent id -> when an operator marked it gone
    principals: dict[str, str] = {}  # agent id -> the principal it authenticated as
    weights: dict[str, float] = {}
    quota: dict[str, QuotaRecord] = {}


class Operation(msgspec.Struct, frozen=True, kw_only=True):
    """A change to the registry. Subclasses define `apply` and `touched`."""

    def apply(self, registry: Registry) -> bool:
        raise NotImplementedError

    def touched(self) -> list[tuple[str, str | None]]:
        """The records it may change: (table, key); key None for the whole table.

        Tables: generation, weights (keys ""), agents, unreachable, gone, principals, quota.
        A store that writes records one by one writes only these.
        """
        raise NotImplementedError


class BumpGeneration(Operation, frozen=True, kw_only=True):
    """A master recovered the registry: ids it hands out carry the new generation."""

    def touched(self) -> list[tuple[str, str | None]]:
        return [("generation", "")]

    def apply(self, registry: Registry) -> bool:
        registry.generation += 1
        return True


class AdmitAgent(Operation, frozen=True, kw_only=True):
    """A new agent (or one the registry forgot) joins; its id must be new to the registry.
    `principal`: the one it authenticated as ("" if it did not)."""

    info: AgentInfo
    principal: str = ""

    def touched(self) -> list[tuple[str, str | None]]:
        touched: list[tuple[str, str | None]] = [
            ("agents", self.info.id),
            ("unreachable", self.info.id),
        ]
        return [*touched, ("principals", self.info.id)] if self.principal else touched

    def apply(self, registry: Registry) -> bool:
        agent_id = self.info.id
        if agent_id in registry.agents:
            raise RegistryOperationError(f"agent {agent_id} is admitted already")
        if agent_id in registry.gone:
            raise RegistryOperationError(f"agent {agent_id} was marked gone")
        registry.unreachable.pop(agent_id, None)
        registry.agents[agent_id] = self.info
        if self.principal:
            registry.principals[agent_id] = self.principal
        return True


class MarkAgentUnreachable(Operation, frozen=True, kw_only=True):
    """An admitted agent went silent: it leaves the admitted list for the unreachable one."""

    agent_id: str
    time: float

    def touched(self) -> list[tuple[str, str | None]]:
        return [("agents", self.agent_id), ("unreachable", self.agent_id)]

    def apply(self, registry: Registry) -> bool:
        if self.agent_id not in registry.agents:
            raise RegistryOperationError(f"agent {self.agent_id} is not admitted")
        del registry.agents[self.agent_id]
        registry.unreachable[self.agent_id] = self.time
        return True


class MarkAgentReachable(Operation, frozen=True, kw_only=True):
    """An unreachable agent re-registered: admitted again (with its info of now, and the
    principal it authenticated as, kept if it did not)."""

    info: AgentInfo
    principal: str = ""

    def touched(self) -> list[tuple[str, str | None]]:
        touched: list[tuple[str, str | None]] = [
            ("agents", self.info.id),
            ("unreachable", self.info.id),
        ]
        return [*touched, ("principals", self.info.id)] if self.principal else touched

    def apply(self, registry: Registry) -> bool:
        agent_id = self.info.id
        if agent_id in registry.gone:
            raise RegistryOperationError(f"agent {agent_id} was marked gone")
        same_principal = not self.principal or registry.principals.get(agent_id) == self.principal
        if (
            registry.agents.get(agent_id) == self.info
            and agent_id not in registry.unreachable
            and same_principal
        ):
            return False
        registry.unreachable.pop(agent_id, None)
        registry.agents[agent_id] = self.info
        if self.principal:
            registry.principals[agent_id] = self.principal
        return True


class MarkAgentGone(Operation, frozen=True, kw_only=True):
    """An operator says the agent is gone for good: it may never re-register."""

    agent_id: str
    time: float

    def touched(self) -> list[tuple[str, str | None]]:
        tables = ("agents", "unreachable", "gone", "principals")
        return [(table, self.agent_id) for table in tables]

    def apply(self, registry: Registry) -> bool:
        if self.agent_id in registry.gone:
            return False
        if self.agent_id not in registry.agents and self.agent_id not in registry.unreachable:
            raise RegistryOperationError(f"agent {self.agent_id} is not known")
        registry.agents.pop(self.agent_id, None)
        registry.unreachable.pop(self.agent_id, None)
        registry.principals.pop(self.agent_id, None)
        registry.gone[self.agent_id] = self.time
        return True


class RemoveAgent(Operation, frozen=True, kw_only=True):
    """An agent unregistered (it shut down cleanly): no longer admitted."""

    agent_id: str

    def touched(self) -> list[tuple[str, str | None]]:
        return [("agents", self.agent_id), ("principals", self.agent_id)]

    def apply(self, registry: Registry) -> bool:
        registry.principals.pop(self.agent_id, None)
        return registry.agents.pop(self.agent_id, None) is not None


class PruneUnreachable(Operation, frozen=True, kw_only=True):
    """Forget unreachable and gone agents recorded before `before` (--registry-max-agent-age)."""

    before: float

    def touched(self) -> list[tuple[str, str | None]]:
        return [("unreachable", None), ("gone", None), ("principals", None)]

    def apply(self, registry: Registry) -> bool:
        changed = False
        for records in (registry.unreachable, registry.gone):
            for agent_id, time in list(records.items()):
                if time < self.before:
                    del records[agent_id]
                    if agent_id not in registry.agents:
                        registry.principals.pop(agent_id, None)
                    changed = True
        return changed


class UpdateWeights(Operation, frozen=True, kw_only=True):
    """Set role weights (1.0 removes a role's entry: it is the default)."""

    weights: dict[str, float]

    def touched(self) -> list[tuple[str, str | None]]:
        return [("weights", "")]

    def apply(self, registry: Registry) -> bool:
        before = dict(registry.weights)
        for role, weight in self.weights.items():
            if weight == 1.0:
                registry.weights.pop(role, None)
            else:
                registry.weights[role] = weight
        return registry.weights != before


class SetQuota(Operation, frozen=True, kw_only=True):
    role: str
    quota: QuotaRecord

    def touched(self) -> list[tuple[str, str | None]]:
        return [("quota", self.role)]

    def apply(self, registry: Registry) -> bool:
        if registry.quota.get(self.role) == self.quota:
            return False
        registry.quota[self.role] = self.quota
        return True


class RemoveQuota(Operation, frozen=True, kw_only=True):
    role: str

    def touched(self) -> list[tuple[str, str | None]]:
        return [("quota", self.role)]

    def apply(self, registry: Registry) -> bool:
        return registry.quota.pop(self.role, None) is not None
