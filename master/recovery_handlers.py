"""The master's recovery: reading the registry before serving, as a Mesos master does.

A master that starts leading (at once without ZooKeeper, once elected with
it) reads the registry and bumps its generation durably; messages it leads
for are held meanwhile and replayed in order afterwards. Then:
- ids it hands out carry the new generation (`<master id>-<generation>`), so
  no id a predecessor gave is ever given again;
- role weights and quota go to the allocator;
- admitted agents are expected back: those that have not re-registered
  within `agent_reregister_timeout` are marked unreachable;
- unreachable and gone agents past `registry_max_agent_age` are forgotten,
  every `registry_gc_interval`.
A registry that cannot be read makes the master abdicate.
"""

from __future__ import annotations

import asyncio

from master.offer_book import OfferBook
from master.partition_handlers import PartitionHandlers
from master.registry import Registry

__all__ = ["RecoveryHandlers"]


class RecoveryHandlers(PartitionHandlers):
    """Reading the registry when this master starts leading."""

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
        self.id_prefix = f"{self.id}-{registry.generation:04d}"
        self.offers = OfferBook(self.id_prefix)
        for role, weight in sorted(registry.weights.items()):
            self._allocator_weight(role, weight)
        for role, quota in sorted(registry.quota.items()):
            self._allocator_quota(role, quota)
        self.awaiting_reregistration = set(registry.agents)
        if registry.agents:
            self.delay(self.flags.agent_reregister_timeout, self._reregistration_timed_out)
        self.delay(self.flags.registry_gc_interval, self._prune_registry)
        self.recovered = True
        self.log.info(
            "registry_recovered",
            store=self.registrar.store.kind,
            generation=registry.generation,
            agents=len(registry.agents),
            unreachable=len(registry.unreachable),
            gone=len(registry.gone),
            held_messages=len(self._held_messages),
        )
        self._replay_held()
