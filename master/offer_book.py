"""Outstanding offers: made from the allocator's allocations, indexed by framework and agent.

An offer lives from the moment the master sends it until it is accepted,
declined, rescinded or times out; `OfferBook.remove` is the one way out, so
every path that ends an offer also drops its indexes and cancels its timer.
"""

from __future__ import annotations

import dataclasses
import itertools

from libprocess import Timer
from zmesos.protocol import Offer
from zmesos.resources import Resources

__all__ = ["OfferBook", "OutstandingOffer"]


@dataclasses.dataclass(eq=False)
class OutstandingOffer:
    offer: Offer
    resources: Resources
    made_at: float
    timer: Timer | None = None

    @property
    def id(self) -> str:
        return self.offer.id

    @property
    def framework_id(self) -> str:
        return self.offer.framework_id

    @property
    def agent_id(self) -> str:
        return self.offer.agent_id

    @property
    def role(self) -> str:
        return self.offer.role


class OfferBook:
    """Offer ids are `<master_id>-O<N>`, unique for the life of the master."""

    def __init__(self, master_id: str) -> None:
        self._prefix = f"{master_id}-O"
        self._numbers = itertools.count()
        self._offers: dict[str, OutstandingOffer] = {}
        self._by_framework: dict[str, set[str]] = {}
        self._by_agent: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._offers)

    def __contains__(self, offer_id: object) -> bool:
        return offer_id in self._offers

    def new_id(self) -> str:
        return f"{self._prefix}{next(self._numbers)}"

    def add(self, offer: Offer, resources: Resources, now: float) -> OutstandingOffer:
        outstanding = OutstandingOffer(offer, resources, now)
        self._offers[offer.id] = outstanding
        self._by_framework.setdefault(offer.framework_id, set()).add(offer.id)
        self._by_agent.setdefault(offer.agent_id, set()).add(offer.id)
        return outstanding

    def get(self, offer_id: str) -> OutstandingOffer | None:
        return self._offers.get(offer_id)

    def remove(self, offer_id: str) -> OutstandingOffer | None:
        """Forget an offer (None if it is gone already); its timer is cancelled."""
        outstanding = self._offers.pop(offer_id, None)
        if outstanding is None:
            return None
        if outstanding.timer is not None:
            outstanding.timer.cancel()
        _discard(self._by_framework, outstanding.framework_id, offer_id)
        _discard(self._by_agent, outstanding.agent_id, offer_id)
        return outstanding

    def of_framework(self, framework_id: str) -> list[OutstandingOffer]:
        return [self._offers[i] for i in sorted(self._by_framework.get(framework_id, ()))]

    def of_agent(self, agent_id: str) -> list[OutstandingOffer]:
        return [self._offers[i] for i in sorted(self._by_agent.get(agent_id, ()))]

    def all(self) -> list[OutstandingOffer]:
        return list(self._offers.values())

    def offered_on(self, agent_id: str) -> Resources:
        return sum((o.resources for o in self.of_agent(agent_id)), Resources())


def _discard(index: dict[str, set[str]], key: str, offer_id: str) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.discard(offer_id)
        if not ids:
            del index[key]
