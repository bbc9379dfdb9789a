"""Routers: a score and a fixed rule pick the cheap or the premium tier (RouteLLM's shape).

Every router reports the probability with which it chose the tier it chose (``propensity``), so
thresholds other than the one in use can later be evaluated from logged traffic. ``random`` is the
baseline any router must beat.

``Exploring(router, share=..., seed=...)`` wraps any router: a ``share`` of requests goes to a tier
drawn uniformly at random (``explored=True``), and every route logs the probability of its tier
under that mixture, which is what ``calibration.ipw_estimate`` needs to judge other thresholds.
The learned router is a scorer (``learned.LearnedScorer``) routed by ``threshold``, as in RouteLLM a
router is a score plus a fixed rule. Names map to routers in ``routing.registry``.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass

from assistant.core.events import CHEAP, PREMIUM


@dataclass(frozen=True, slots=True)
class Route:
    tier: str
    propensity: float
    explored: bool = False


class Router(ABC):
    name = "router"
    threshold: float | None = None

    def __init__(self, *, threshold: float = 0.5, seed: int = 0) -> None:
        self.threshold = threshold

    @abstractmethod
    def route(self, score: float) -> Route:
        """Pick a tier for a request of complexity ``score``."""


class ThresholdRouter(Router):
    """Premium when ``score >= threshold``."""

    name = "threshold"

    def __init__(self, *, threshold: float = 0.5, seed: int = 0) -> None:
        self.threshold = threshold

    def route(self, score: float) -> Route:
        return Route(PREMIUM if score >= (self.threshold or 0.0) else CHEAP, 1.0)


class RandomRouter(Router):
    """Premium with probability ``1 - threshold`` (so a threshold sweep spans 0..100 % premium)."""

    name = "random"

    def __init__(self, *, threshold: float = 0.5, seed: int = 0) -> None:
        self.threshold = threshold
        self._rng = random.Random(seed)

    def route(self, score: float) -> Route:
        p_premium = 1.0 - (self.threshold or 0.0)
        tier = PREMIUM if self._rng.random() < p_premium else CHEAP
        return Route(tier, p_premium if tier == PREMIUM else 1.0 - p_premium)


class AlwaysCheap(Router):
    name = "always-cheap"

    def __init__(self, *, threshold: float = 0.5, seed: int = 0) -> None:
        pass

    def route(self, score: float) -> Route:
        return Route(CHEAP, 1.0)


class AlwaysPremium(Router):
    name = "always-premium"

    def __init__(self, *, threshold: float = 0.5, seed: int = 0) -> None:
        pass

    def route(self, score: float) -> Route:
        return Route(PREMIUM, 1.0)


class Exploring(Router):
    """Routes a ``share`` of requests at random (either tier with probability 1/2), the rest by
    ``router``. The propensity is the probability of the chosen tier under this mixture:
    ``(1 - share) · P_router(tier) + share / 2``, so it is never below ``share / 2``."""

    def __init__(self, router: Router, *, share: float, seed: int = 0) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"exploration share must be in [0, 1], got {share}")
        self.router = router
        self.share = share
        self.name = f"{router.name}+explore"
        self.threshold = router.threshold
        self._rng = random.Random(seed)

    def route(self, score: float) -> Route:
        base = self.router.route(score)
        p_premium = base.propensity if base.tier == PREMIUM else 1.0 - base.propensity
        explored = self._rng.random() < self.share
        tier = base.tier
        if explored:
            tier = PREMIUM if self._rng.random() < 0.5 else CHEAP
        p_premium = (1.0 - self.share) * p_premium + self.share * 0.5
        return Route(tier, p_premium if tier == PREMIUM else 1.0 - p_premium, explored)
