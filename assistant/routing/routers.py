"""Routers: a score and a fixed rule pick the cheap or the premium tier (RouteLLM's shape).

Every router reports the probability with which it chose the tier it chose (``propensity``), so
thresholds other than the one in use can later be evaluated from logged traffic. ``random`` is the
baseline any router must beat.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass

CHEAP, PREMIUM = "cheap", "premium"


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


ROUTERS: dict[str, type[Router]] = {
    r.name: r for r in (ThresholdRouter, RandomRouter, AlwaysCheap, AlwaysPremium)
}
