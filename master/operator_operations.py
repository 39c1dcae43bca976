"""Resource operations by an operator: reserve, unreserve, create and destroy volumes on an agent.

Mesos's `/reserve`, `/unreserve`, `/create-volumes` and `/destroy-volumes`
(docs/operator-http-api.md): the operator acts for any role, so the role,
principal and capability rules of master.operations do not apply; every other
rule does. What the operation consumes must be on the agent and not used by
a task; outstanding offers of the agent are rescinded when that frees it
(Mesos does the same). The agent's total changes in the master and the
allocator, and the agent is sent its checkpointed resources. The ACLs
(reserve_resources, unreserve_resources, create_volumes, destroy_volumes)
apply to the operator's principal: a denial is 403.
"""

from __future__ import annotations

from master.allocator_process import AllocatorProcess
from master.authorization import Forbidden
from master.base import MasterBase
from master.operations import Refusal, apply_operation
from zmesos.protocol import Operation

__all__ = ["ACCEPTED", "BAD_REQUEST", "CONFLICT", "FORBIDDEN", "OperatorOperations"]

ACCEPTED = 202
BAD_REQUEST = 400
FORBIDDEN = 403
CONFLICT = 409


class OperatorOperations(MasterBase):
    """`operator_operation`, dispatched by the operator HTTP (master.http_volumes)."""

    def operator_operation(
        self, agent_id: str, operation: Operation, principal: str | None = None
    ) -> tuple[int, str]:
        """Apply one operation on an agent: (202, what changed), (409 or 400, why not), or
        (403, why not) when the ACLs do not let `principal` (who asks) do it."""
        self.metrics[f"operator_operations/{str(operation.type).lower()}"] += 1
        unauthorized = self._operation_refusal(principal, operation, agent_id=agent_id)
        if unauthorized is not None:
            self.metrics["operations_refused/unauthorized"] += 1
            return self._operator_refused(FORBIDDEN, Forbidden(unauthorized.message))
        agent = self.cluster.agents.get(agent_id)
        if agent is None:
            return self._operator_refused(BAD_REQUEST, f"no agent {agent_id!r} is registered")
        if not agent.connected:
            return self._operator_refused(CONFLICT, f"agent {agent_id} is disconnected")
        offers = self.offers.of_agent(agent.id)
        unused = agent.total - agent.used
        free = unused - sum((offer.resources for offer in offers), unused - unused)
        result = apply_operation(
            operation, framework=None, available=free, agent_total=agent.total, in_use=agent.used
        )
        if isinstance(result, Refusal) and result.rule == "not_offered":
            # Offers may hold what the operator wants: take them back and try again.
            retry = apply_operation(
                operation,
                framework=None,
                available=unused,
                agent_total=agent.total,
                in_use=agent.used,
            )
            if not isinstance(retry, Refusal):
                for offer in offers:
                    self._rescind(offer)
            result = retry
        if isinstance(result, Refusal):
            status = CONFLICT if result.rule == "not_offered" else BAD_REQUEST
            self.metrics[f"operations_refused/{result.rule}"] += 1
            return self._operator_refused(status, result.message)
        agent.total = agent.total - result.consumed + result.converted
        self._allocator_call(AllocatorProcess.update_agent_total, agent.id, agent.total)
        self._checkpoint_resources(agent)
        self.metrics["operations_applied"] += 1
        self.log.info(
            "operator_operation_applied",
            agent_id=agent.id,
            operation=str(operation.type),
            consumed=str(result.consumed),
            converted=str(result.converted),
        )
        return ACCEPTED, str(result.converted)

    def _operator_refused(self, status: int, reason: str) -> tuple[int, str]:
        self.metrics["operator_operations_refused"] += 1
        self.log.warning("operator_operation_refused", status=status, reason=reason)
        return status, reason
