"""The master's framework handlers: registration, failover, disconnection, removal.

A scheduler whose link breaks leaves its framework inactive (offers
rescinded) for the framework's `failover_timeout`; re-registering with its id
in time resumes it with its tasks, else it is removed and its tasks killed.

Authorization (--acls): a framework registers only in roles register_frameworks
allows its principal; otherwise it hears FrameworkError naming the role.

Principals: a scheduler that authenticated (master.authentication_handlers)
registers under the principal it proved (FrameworkInfo.principal, if set, must
be that one; if unset, it is filled in); with --authenticate-frameworks one
that did not is refused (FrameworkError). Re-registering with an existing
FrameworkID takes the framework over only from the same principal (and, if
the framework's was proved, only proved again): anything else is refused and
changes nothing.
"""

from __future__ import annotations

import math

import msgspec

from libprocess import PID, clock
from master.allocator_process import AllocatorProcess
from master.base import MasterBase
from master.state import MasterFramework
from zmesos.errors import ResourcesError
from zmesos.protocol import (
    DeactivateFramework,
    FrameworkError,
    FrameworkInfo,
    FrameworkRegistered,
    FrameworkReregistered,
    RegisterFramework,
    ReregisterFramework,
    UnregisterFramework,
    UpdateFramework,
)
from zmesos.resources import validate_role

__all__ = ["FrameworkHandlers"]


class FrameworkHandlers(MasterBase):
    """Handlers of the scheduler -> master registration conversation."""

    def _check_framework_info(self, info: FrameworkInfo) -> str | None:
        if not info.user and not info.name:
            return "FrameworkInfo needs a user or a name"
        for role in info.roles or ("*",):
            try:
                validate_role(role)
            except ResourcesError as error:
                return f"Invalid role {role!r}: {error}"
        if len(set(info.roles)) != len(info.roles):
            return "FrameworkInfo.roles has duplicates"
        if not math.isfinite(info.failover_timeout) or info.failover_timeout < 0:
            return f"Invalid failover_timeout {info.failover_timeout!r}"
        return _check_offer_filters(info)

    def register_framework(self, sender: PID, message: RegisterFramework) -> None:
        self.metrics["messages_register_framework"] += 1
        existing = self.cluster.frameworks_by_pid.get(sender)
        if existing is not None:
            # A retry whose answer was lost: answer again, same id.
            self.send(sender, FrameworkRegistered(framework_id=existing.id, master=self.info))
            return
        info = message.framework
        problem = self._check_framework_info(info)
        if problem is None and info.id:
            problem = "Registering with an 'id' already set; re-register instead"
        if problem is not None:
            self._drop(message, sender, problem, "invalid_messages")
            self.send(sender, FrameworkError(message=problem))
            return
        authenticated = self._authenticated_info(sender, info)
        if isinstance(authenticated, str):
            self._refuse_framework(sender, message, authenticated)
            return
        info = authenticated
        denied = self._unauthorized_roles(info)
        if denied is not None:
            self._refuse_framework(sender, message, denied, "framework_registrations_unauthorized")
            return
        framework_id = f"{self.id_prefix}-{next(self._framework_numbers):04d}"
        info = msgspec.structs.replace(info, id=framework_id, roles=info.roles or ("*",))
        framework = MasterFramework(framework_id, info, sender, registered_time=clock.now())
        framework.authenticated = self._principal_of(sender) is not None
        self.cluster.add_framework(framework)
        self.link(sender)
        self.send(sender, FrameworkRegistered(framework_id=framework_id, master=self.info))
        self._allocator_call(
            AllocatorProcess.add_framework, framework_id, framework.roles, {}, True, info
        )
        self.metrics["framework_registrations"] += 1
        self.log.info(
            "framework_registered", framework_id=framework_id, name=info.name, scheduler=str(sender)
        )

    def reregister_framework(self, sender: PID, message: ReregisterFramework) -> None:
        self.metrics["messages_reregister_framework"] += 1
        info = message.framework
        problem = self._check_framework_info(info)
        if problem is None and not info.id:
            problem = "Re-registering without an 'id'"
        if problem is None and any(f.id == info.id for f in self.cluster.completed_frameworks):
            problem = f"Framework {info.id} has been removed"
        other = self.cluster.frameworks_by_pid.get(sender)
        if problem is None and other is not None and other.id != info.id:
            # One scheduler is one framework: answering would unindex the other.
            self._drop(message, sender, f"{sender} is framework {other.id}", "invalid_messages")
            return
        if problem is not None:
            self._drop(message, sender, problem, "invalid_messages")
            self.send(sender, FrameworkError(message=problem))
            return
        authenticated = self._authenticated_info(sender, info)
        if isinstance(authenticated, str):
            self._refuse_framework(sender, message, authenticated)
            return
        info = msgspec.structs.replace(authenticated, roles=authenticated.roles or ("*",))
        denied = self._unauthorized_roles(info)
        if denied is not None:
            self._refuse_framework(sender, message, denied, "framework_registrations_unauthorized")
            return
        proved = self._principal_of(sender) is not None
        framework = self.cluster.frameworks.get(info.id)
        if framework is not None:
            takeover = _takeover_problem(framework, info.principal, proved)
            if takeover is not None:
                self._refuse_framework(sender, message, takeover, "framework_takeovers_refused")
                return
        if framework is None:
            # This master never saw it (a master restart): admit it under its id.
            framework = MasterFramework(info.id, info, sender, registered_time=clock.now())
            framework.authenticated = proved
            framework.reregistered_time = clock.now()
            self.cluster.add_framework(framework)
            self.link(sender)
            self._answer_reregistration(sender, info.id, message.failover)
            self._allocator_call(
                AllocatorProcess.add_framework, info.id, framework.roles, {}, True, info
            )
            self.log.info("framework_reregistered", framework_id=info.id, scheduler=str(sender))
            return
        framework.authenticated = framework.authenticated or proved
        self._framework_reconnected(framework, info, sender, message.failover)

    def _authenticated_info(self, sender: PID, info: FrameworkInfo) -> FrameworkInfo | str:
        """The FrameworkInfo under the principal `sender` proved, or why it is refused."""
        principal = self._principal_of(sender)
        if principal is None:
            if self.flags.authenticate_frameworks:
                return f"Framework at {sender} is not authenticated"
            return info
        if info.principal and info.principal != principal:
            return (
                f"Framework principal {info.principal!r} does not match the authenticated"
                f" principal {principal!r}"
            )
        return msgspec.structs.replace(info, principal=principal)

    def _unauthorized_roles(self, info: FrameworkInfo) -> str | None:
        """Why the ACLs (register_frameworks) refuse the framework its roles, if they do."""
        for role in info.roles or ("*",):
            allowed = self._authorized(
                "register_frameworks", info.principal or None, role, framework=info.name
            )
            if not allowed:
                return f"Not authorized to use role {role!r} (principal {info.principal!r})"
        return None

    def _refuse_framework(
        self,
        sender: PID,
        message: RegisterFramework | ReregisterFramework,
        why: str,
        metric: str = "framework_authentication_refusals",
    ) -> None:
        """A registration refused for who sent it: FrameworkError, logged and counted."""
        self._drop(message, sender, why, metric)
        self.send(sender, FrameworkError(message=why))

    def _answer_reregistration(self, pid: PID, framework_id: str, failover: bool) -> None:
        """A failed-over scheduler hears `registered`, a reconnected one `reregistered`."""
        if failover:
            self.send(pid, FrameworkRegistered(framework_id=framework_id, master=self.info))
        else:
            self.send(pid, FrameworkReregistered(framework_id=framework_id, master=self.info))

    def _framework_reconnected(
        self, framework: MasterFramework, info: FrameworkInfo, pid: PID, failover: bool
    ) -> None:
        """A known framework is back (a failed-over scheduler, or the old one reconnecting)."""
        if framework.connected and framework.pid == pid:
            # A retry whose answer was lost: answer again, change nothing (offers stay).
            self._answer_reregistration(pid, framework.id, failover)
            return
        if framework.failover_timer is not None:
            framework.failover_timer.cancel()
            framework.failover_timer = None
        if framework.pid is not None and framework.pid != pid and framework.connected:
            # The old scheduler is superseded: tell it, and take back what it was offered.
            self.send(framework.pid, FrameworkError(message="Framework failed over"))
        for outstanding in self.offers.of_framework(framework.id):
            self._rescind(outstanding, notify=False)
        old_info = framework.info
        self.cluster.set_framework_pid(framework, pid)
        framework.info = info
        framework.connected = True
        framework.reregistered_time = clock.now()
        self.link(pid)
        if (framework.roles, info.capabilities, info.offer_filters) != (
            old_info.roles,
            old_info.capabilities,
            old_info.offer_filters,
        ):
            self._allocator_call(
                AllocatorProcess.update_framework, framework.id, framework.roles, info
            )
        if not framework.active:
            framework.active = True
            self._allocator_call(AllocatorProcess.activate_framework, framework.id)
        self._answer_reregistration(pid, framework.id, failover)
        self.cluster.notify("FRAMEWORK_UPDATED", framework)
        for agent_id in self._agents_of(framework):
            agent = self.cluster.agents.get(agent_id)
            if agent is not None:
                self.send(
                    agent.pid, UpdateFramework(framework_id=framework.id, framework_pid=str(pid))
                )
        self.log.info("framework_reregistered", framework_id=framework.id, scheduler=str(pid))

    def update_framework_info(
        self,
        framework_id: str,
        scheduler: PID,
        info: FrameworkInfo,
        suppressed_roles: tuple[str, ...],
    ) -> str | None:
        """UPDATE_FRAMEWORK (v1, by dispatch): new FrameworkInfo and suppressed roles,
        applied whole or not at all. Returns why not, or None once applied.

        `user`, `principal` and `checkpoint` cannot change (Mesos refuses it too);
        offers of roles the framework leaves are rescinded; roles that leave the
        suppressed set are revived (their filters cleared).
        """
        self.metrics["framework_updates"] += 1
        framework = self.cluster.frameworks.get(framework_id)
        if framework is None or framework.pid != scheduler or not framework.connected:
            return f"Framework {framework_id} is not subscribed here"
        info = msgspec.structs.replace(info, id=framework_id, roles=info.roles or ("*",))
        problem = self._check_framework_info(info)
        for name in ("user", "principal", "checkpoint"):
            if problem is None and getattr(info, name) != getattr(framework.info, name):
                problem = f"Updating 'FrameworkInfo.{name}' is unsupported"
        if problem is None and not set(suppressed_roles) <= set(info.roles):
            problem = "Suppressed roles must be roles of the framework"
        if problem is None and set(info.roles) != set(framework.roles):
            problem = self._unauthorized_roles(info)
        if problem is not None:
            self.log.warning("framework_update_refused", framework_id=framework_id, reason=problem)
            return problem
        old_roles = framework.roles
        framework.info = info
        if framework.roles != old_roles:
            for outstanding in self.offers.of_framework(framework.id):
                if outstanding.role not in framework.roles:
                    self._rescind(outstanding)
            self._allocator_call(AllocatorProcess.update_framework, framework.id, framework.roles)
        suppressed = set(suppressed_roles)
        revived = tuple(sorted((framework.suppressed_roles - suppressed) & set(framework.roles)))
        newly_suppressed = tuple(sorted(suppressed - framework.suppressed_roles))
        framework.suppressed_roles = suppressed
        if newly_suppressed:
            self._allocator_call(AllocatorProcess.suppress, framework.id, newly_suppressed)
        if revived:
            self._allocator_call(AllocatorProcess.revive, framework.id, revived)
        self.cluster.notify("FRAMEWORK_UPDATED", framework)
        self.log.info("framework_updated", framework_id=framework.id, roles=list(framework.roles))
        return None

    def unregister_framework(self, sender: PID, message: UnregisterFramework) -> None:
        self.metrics["messages_unregister_framework"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is not None:
            self._remove_framework(framework, "framework unregistered")

    def deactivate_framework(self, sender: PID, message: DeactivateFramework) -> None:
        self.metrics["messages_deactivate_framework"] += 1
        framework = self._framework_for(sender, message.framework_id, message)
        if framework is not None:
            self._deactivate(framework)

    def _deactivate(self, framework: MasterFramework) -> None:
        if framework.active:
            framework.active = False
            self._allocator_call(AllocatorProcess.deactivate_framework, framework.id)
        for outstanding in self.offers.of_framework(framework.id):
            self._rescind(outstanding, notify=False)

    def _framework_disconnected(self, framework: MasterFramework) -> None:
        """The scheduler's link broke: inactive now, removed after its failover timeout."""
        if not framework.connected:
            return
        framework.connected = False
        self._deactivate(framework)
        self.cluster.notify("FRAMEWORK_UPDATED", framework)
        timeout = framework.info.failover_timeout
        self.log.info("framework_disconnected", framework_id=framework.id, failover_timeout=timeout)
        framework.failover_timer = self.delay(
            timeout, self._failover_timed_out, framework.id, framework.pid
        )


def _takeover_problem(framework: MasterFramework, principal: str, proved: bool) -> str | None:
    """Why a re-registration under `principal` may not take `framework` over, if it may not."""
    if framework.info.principal != principal:
        return (
            f"Framework {framework.id} belongs to principal {framework.info.principal!r},"
            f" not {principal!r}"
        )
    if framework.authenticated and not proved:
        return f"Framework {framework.id} was registered authenticated; authenticate to re-register"
    return None


def _check_offer_filters(info: FrameworkInfo) -> str | None:
    """Mesos's rules: each minimum names at least one quantity, each finite and >= 0."""
    for role, filters in info.offer_filters.items():
        minimum = filters.min_allocatable_resources
        if minimum is None:
            continue
        for quantities in minimum.quantities:
            if not quantities:
                return f"offer_filters[{role!r}]: resource quantities must name at least one"
            for name, amount in quantities.items():
                if not math.isfinite(amount) or amount < 0:
                    return f"offer_filters[{role!r}]: invalid quantity {amount!r} for {name!r}"
    return None
