"""Operator calls on the master: role weights and quota (kept in the registry), teardown.

Each call is a method meant to be dispatched (the operator HTTP does, and the
v1 operator API can): it validates, writes the registry, and resolves its
future once the change is durable and handed to the allocator; to None on
success, to a one-line reason when refused. Reads return plain data.

Each takes the `principal` the HTTP request authenticated as (None: unknown)
for the ACLs: update_weights, update_quotas and get_quotas name the role,
teardown_frameworks the framework's principal. A denial resolves to a
`Forbidden` reason (403).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping

from master.authorization import Forbidden, refusal_message
from master.base import MasterBase
from master.registry import Operation, QuotaRecord, RemoveQuota, SetQuota, UpdateWeights
from zmesos.errors import ResourcesError
from zmesos.protocol import FrameworkError
from zmesos.resources import validate_role

__all__ = ["OperatorCalls"]

QUOTA_RESOURCES = frozenset({"cpus", "mem", "disk", "gpus"})  # Mesos: scalar quota only


class OperatorCalls(MasterBase):
    """Weights and quota (see the module docstring)."""

    def weights(self, principal: str | None = None) -> dict[str, float]:
        """Each role's weight that view_roles lets `principal` see."""
        viewer = self._viewer(principal)
        weights = {
            role: weight
            for role, weight in sorted(self.registrar.registry.weights.items())
            if viewer.role(role)
        }
        self._viewed(viewer, principal, "weights")
        return weights

    def quota(self, principal: str | None = None) -> dict[str, QuotaRecord]:
        """Each role's quota that get_quotas lets `principal` see."""
        viewer = self._viewer(principal)
        quota = {
            role: record
            for role, record in sorted(self.registrar.registry.quota.items())
            if viewer.sees("get_quotas", role)
        }
        self._viewed(viewer, principal, "quota")
        return quota

    def update_weights(
        self, weights: Mapping[str, float], principal: str | None = None
    ) -> asyncio.Future[str | None]:
        """Set the weight of each role named (1.0 is the default)."""
        problem = self._not_serving() or _check_roles(weights)
        problem = problem or self._forbidden("update_weights", principal, weights)
        for role, weight in weights.items():
            if problem is None and (not math.isfinite(weight) or weight <= 0):
                problem = f"weight of role {role!r} must be a positive number, not {weight!r}"
        if problem is not None:
            return _resolved(problem)
        updated = dict(weights)

        def applied() -> None:
            for role, weight in sorted(updated.items()):
                self._allocator_weight(role, weight)
            self.log.info("weights_updated", weights=updated)

        return self._operator_apply(UpdateWeights(weights=updated), applied)

    def set_quota(
        self,
        role: str,
        guarantee: Mapping[str, float],
        limit: Mapping[str, float] | None = None,
        principal: str | None = None,
    ) -> asyncio.Future[str | None]:
        """Set a role's quota: scalar guarantees (and limits) of cpus, mem, disk, gpus."""
        problem = self._not_serving() or _check_roles({role: 0})
        problem = problem or self._forbidden("update_quotas", principal, [role])
        if problem is None and "/" in role:
            problem = f"quota on nested role {role!r} is not supported (as in Mesos)"
        record = QuotaRecord(guarantee=dict(guarantee), limit=dict(limit or {}))
        for name, amount in (*record.guarantee.items(), *record.limit.items()):
            if problem is None and name not in QUOTA_RESOURCES:
                problem = f"quota of {name!r}: only {', '.join(sorted(QUOTA_RESOURCES))} take quota"
            if problem is None and (not math.isfinite(amount) or amount < 0):
                problem = f"quota of {name!r} must be a non-negative number, not {amount!r}"
        for name, amount in record.guarantee.items():
            limit_amount = record.limit.get(name)
            if problem is None and limit_amount is not None and amount > limit_amount:
                problem = f"guarantee of {name!r} exceeds its limit"
        if problem is not None:
            return _resolved(problem)

        def applied() -> None:
            self._allocator_quota(role, record)
            self.log.info("quota_set", role=role, guarantee=record.guarantee, limit=record.limit)

        return self._operator_apply(SetQuota(role=role, quota=record), applied)

    def remove_quota(self, role: str, principal: str | None = None) -> asyncio.Future[str | None]:
        problem = self._not_serving() or self._forbidden("update_quotas", principal, [role])
        if problem is None and role not in self.registrar.registry.quota:
            problem = f"role {role!r} has no quota"
        if problem is not None:
            return _resolved(problem)

        def applied() -> None:
            self._allocator_quota(role, None)
            self.log.info("quota_removed", role=role)

        return self._operator_apply(RemoveQuota(role=role), applied)

    def teardown_framework(self, framework_id: str, principal: str | None = None) -> str | None:
        """Mesos's /teardown: remove the framework now (tasks killed, executors shut down);
        a reason when there is no such framework, a `Forbidden` one when the ACLs
        (teardown_frameworks, on the framework's principal) refuse `principal`."""
        problem = self._not_serving()
        framework = self.cluster.frameworks.get(framework_id)
        if problem is None and framework is None:
            problem = f"no framework found with id {framework_id[:256]!r}"
        if problem is not None:
            return problem
        assert framework is not None
        owner = framework.info.principal or None
        if not self._authorized("teardown_frameworks", principal, owner, framework_id=framework_id):
            return Forbidden(refusal_message("teardown_frameworks", owner))
        scheduler = framework.pid
        self.metrics["operator_teardowns"] += 1
        self._remove_framework(framework, "torn down by an operator")
        if scheduler is not None:  # it would otherwise learn only from silence
            self.send(scheduler, FrameworkError(message="Framework torn down by an operator"))
        return None

    def _forbidden(
        self, action: str, principal: str | None, roles: Iterable[str]
    ) -> Forbidden | None:
        for role in roles:
            if not self._authorized(action, principal, role):
                return Forbidden(refusal_message(action, role))
        return None

    def _not_serving(self) -> str | None:
        if not self.leading or not self.recovered:
            return "this master is not the recovered leader"
        return None

    def _operator_apply(
        self, operation: Operation, applied: Callable[[], None]
    ) -> asyncio.Future[str | None]:
        """Write `operation`; once durable run `applied` and resolve to None, else to why not."""
        result: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        def done(error: BaseException | None) -> None:
            if error is not None:
                result.set_result(f"the registry refused it: {error}")
            else:
                applied()
                result.set_result(None)

        self._registry_apply(operation, done)
        return result


def _check_roles(roles: Mapping[str, object]) -> str | None:
    for role in roles:
        try:
            validate_role(role)
        except ResourcesError as error:
            return f"invalid role {role!r}: {error}"
        if role == "*":
            return "the default role '*' takes no weight or quota"
    return None


def _resolved(value: str | None) -> asyncio.Future[str | None]:
    future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future
