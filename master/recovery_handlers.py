"""The master's leadership and recovery: elected, it reads the registry before serving.

Without `--zk` a master leads from the start. With it the Contender
(master.election) tells it by dispatch: `elected()`, `leader_is(info)` (another
leads, or none), `zookeeper_lost(why)`. A master that loses leadership, or
ZooKeeper, abdicates (master.base): it says so and ends, and the runner starts
a fresh one that contends again.

A master that starts leading reads the registry and bumps its generation durably; messages it leads
for are held meanwhile and replayed in order afterwards. Then:
- ids it hands out carry the new generation (`<master id>-<generation>`), so
  no id a predecessor gave is ever given again; with the in-memory registry,
  whose generation starts over with every master, they carry the master's
  start time and a random part instead (`<master id>-<YYYYmmdd-HHMMSS>-<hex>`,
  as Mesos's master ids carry the time), so a master restarted with the same
  `--master-id` never gives the ids of the one before;
- role weights and quota go to the allocator;
- admitted agents are expected back: those that have not re-registered
  within `agent_reregister_timeout` are marked unreachable;
- unreachable and gone agents past `registry_max_agent_age` are forgotten,
  every `registry_gc_interval`.
A registry that cannot be read makes the master abdicate.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from master.offer_book import OfferBook
from master.partition_handlers import PartitionHandlers
from master.registry import Registry
from zmesos.protocol import MasterInfo
from zmesos.zookeeper import LeaderInfo

__all__ = ["RecoveryHandlers"]


class RecoveryHandlers(PartitionHandlers):
    """Leadership, and reading the registry when this master starts leading."""

    def elected(self) -> None:
        """The Contender: this master leads now."""
        if self.leading or self.abdicated:
            return
        self.leading = True
        self.leader = self.info
        self.metrics["elections_won"] += 1
        self.log.warning("master_elected", master_id=self.id)
        self._recover_registry()

    def leader_is(self, info: LeaderInfo | None) -> None:
        """The Contender: another master leads (`info`), or none does (None)."""
        if self.leading:
            self._abdicate("another master leads now")
            return
        if not self._standing_by:
            # Keep the registry's copy current meanwhile: if elected, recover from it.
            self._standing_by = True
            self.defer(self.registrar.store.keep_warm(), self._stood_by)
        self.leader = (
            None
            if info is None
            else MasterInfo(
                id=info.id,
                pid=info.pid,
                hostname=info.hostname,
                port=info.port,
                version=info.version,
            )
        )
        self.log.info("leader_detected", leader=info.pid if info else None)

    def _stood_by(self, done: asyncio.Future[None]) -> None:
        error = None if done.cancelled() else done.exception()
        if error is not None:
            self.log.warning("registry_copy_failed", error=repr(error))

    def zookeeper_lost(self, why: str) -> None:
        """The Contender: the ZooKeeper session is gone (or may be): stop leading."""
        self.log.warning("zookeeper_lost", reason=why, leading=self.leading)
        self.leader = None if not self.leading else self.leader
        self._abdicate(f"ZooKeeper lost: {why}")

    def _recover_registry(self) -> None:
        self.log.info("registry_recovering", store=self.registrar.store.kind)
        self.defer(self.registrar.recover(), self._registry_recovered)

    def _registry_recovered(self, done: asyncio.Future[Registry]) -> None:
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            self.log.error("registry_recovery_failed", error=str(error))
            self._abdicate(f"the registry could not be recovered: {error}")
            return
        registry = done.result()
        self.id_prefix = f"{self.id}-{_generation_part(self.registrar.store.kind, registry)}"
        self.offers = OfferBook(self.id_prefix)
        for role, weight in sorted(registry.weights.items()):
            self._allocator_weight(role, weight)
        for role, quota in sorted(registry.quota.items()):
            if "/" in role:
                # Written before nested-role quota was refused; the allocator refuses it.
                self.log.warning("quota_ignored", role=role, reason="quota on a nested role")
                continue
            self._allocator_quota(role, quota)
        self.awaiting_reregistration = set(registry.agents)
        if registry.agents:
            self.delay(self.flags.agent_reregister_timeout, self._reregistration_timed_out)
        self.delay(self.flags.registry_gc_interval, self._prune_registry)
        self.log.info(
            "registry_recovered",
            store=self.registrar.store.kind,
            generation=registry.generation,
            agents=len(registry.agents),
            unreachable=len(registry.unreachable),
            gone=len(registry.gone),
            held_messages=len(self._held_messages),
        )
        self._replay_held()  # recovered once the held messages are handled


def _generation_part(store_kind: str, registry: Registry) -> str:
    """What makes this master's ids its own: the durable generation, or (in memory) the
    wall-clock start time and 32 random bits, since nothing tells it what came before."""
    if store_kind != "in_memory":
        return f"{registry.generation:04d}"
    started = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{started}-{secrets.token_hex(4)}"
