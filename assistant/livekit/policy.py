"""The decision ``RoutedLLM`` makes for each turn, with no LiveKit in it: score, route, budgets.

A turn's question (the last user message) is scored by one of the workbench's scorers and routed
by the same routers the replays use (``assistant.routing``: a threshold, exploration with logged
propensities). Turns with an image in the chat context (a screen frame) get the vision decision
when one is configured (``vision_scorer`` / ``vision_threshold``). Two guards run before the router
and say why they overrode it:

* ``budget``: the spend of the trailing hour is at or over ``budget_usd_per_hour`` → cheap;
* ``latency``: the premium tier's TTFT p95 over its last ``latency_window`` answers is above
  ``latency_budget_ms`` → cheap for ``latency_cooldown_s``, after which premium is tried again.

A forced tier is chosen with probability 1, so its propensity is 1 and it is not explored.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant.core.config import Config
from assistant.core.errors import ConfigError
from assistant.routing import CHEAP, PREMIUM, Router, Score, ScoreContext, Scorer
from assistant.routing.registry import make_router, make_scorer

HOUR_S = 3600.0
VISION_SEED_OFFSET = 1000  # the vision router's draws are not the LLM router's (as in pipeline/)


@dataclass(frozen=True, slots=True)
class RoutingOptions:
    """Everything a ``RoutedLLM`` decides with. Budgets: None (or 0) is none."""

    scorer: str = "heuristic"
    scorer_options: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"weights": PATH}
    vision_scorer_options: Mapping[str, Any] = field(default_factory=dict)  # the same for vision
    router: str = "threshold"
    threshold: float = 0.5
    explore_share: float = 0.0
    seed: int = 0
    vision_scorer: str | None = None  # None: the LLM's scorer
    vision_threshold: float | None = None  # None and no vision_scorer: one decision for all turns
    budget_usd_per_hour: float | None = None
    latency_budget_ms: float | None = None  # premium TTFT p95 above it: premium is skipped
    latency_window: int = 20  # the premium answers the p95 is taken over
    latency_min_samples: int = 5  # fewer premium answers than this: no verdict
    latency_cooldown_s: float = 60.0  # how long premium is skipped once too slow

    def __post_init__(self) -> None:
        for name in ("threshold", "explore_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        for name in ("budget_usd_per_hour", "latency_budget_ms"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ConfigError(f"{name} must be a number >= 0, got {value}")
        if self.latency_window < 1 or self.latency_min_samples < 1:
            raise ConfigError("latency_window and latency_min_samples must be >= 1")

    @property
    def split(self) -> bool:
        return self.vision_scorer is not None or self.vision_threshold is not None

    @classmethod
    def from_config(
        cls, config: Config, *, tenant: str | None = None, **changes: Any
    ) -> RoutingOptions:
        """A workbench config's ``[routing]`` (a replay's or a run's), with ``changes`` on top."""
        r = config.routing
        budget = r.budget_for(tenant) if tenant is not None else (r.budget_usd_per_hour or None)
        base = cls(
            scorer=r.scorer,
            router=r.router,
            threshold=r.threshold,
            explore_share=r.explore_share,
            seed=r.seed,
            vision_scorer=r.vision_scorer,
            vision_threshold=r.vision_threshold,
            budget_usd_per_hour=budget,
            scorer_options={"weights": r.scorer_weights} if r.scorer_weights else {},
            vision_scorer_options=(
                {"weights": r.vision_scorer_weights} if r.vision_scorer_weights else {}
            ),
        )
        return dataclasses.replace(base, **changes)


@dataclass(frozen=True, slots=True)
class Decision:
    """One turn's route and why. ``reason``: threshold (the router's rule), explored (a random
    tier), budget or latency (a guard forced cheap); a failover is told by the turn's outcome."""

    tier: str
    scorer: str
    score: float
    features: dict[str, float]
    router: str
    threshold: float | None
    propensity: float
    explored: bool
    reason: str
    vision: bool  # made by the vision decision (an image in the chat context)
    routing_latency_ms: float


class RoutePolicy:
    """Decides turns and learns from their outcomes (spend, premium TTFT). One per ``RoutedLLM``;
    used from one event loop. ``clock`` is in seconds (monotonic); tests pass their own."""

    def __init__(
        self,
        options: RoutingOptions,
        *,
        scorer: Scorer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.clock = clock
        self.scorer = scorer or make_scorer(options.scorer, **dict(options.scorer_options))
        self.router: Router = make_router(
            options.router,
            threshold=options.threshold,
            seed=options.seed,
            explore_share=options.explore_share,
        )
        self.vision_scorer: Scorer | None = None
        self.vision_router: Router | None = None
        if options.split:
            self.vision_scorer = (
                make_scorer(options.vision_scorer, **dict(options.vision_scorer_options))
                if options.vision_scorer else self.scorer
            )
            self.vision_router = make_router(
                options.router,
                threshold=options.threshold
                if options.vision_threshold is None
                else options.vision_threshold,
                seed=options.seed + VISION_SEED_OFFSET,
                explore_share=options.explore_share,
            )
        self._spend: deque[tuple[float, float]] = deque()  # (at, cost_usd) of the trailing hour
        self._premium_ttft_ms: deque[float] = deque(maxlen=options.latency_window)
        self._premium_skipped_until = -math.inf

    # -- what the guards know -------------------------------------------------------------------
    def spent_last_hour_usd(self) -> float:
        now = self.clock()
        while self._spend and self._spend[0][0] <= now - HOUR_S:
            self._spend.popleft()
        return sum(cost for _, cost in self._spend)

    def premium_ttft_p95_ms(self) -> float | None:
        """The premium tier's TTFT p95 over its last answers; None with too few of them."""
        if len(self._premium_ttft_ms) < self.options.latency_min_samples:
            return None
        ordered = sorted(self._premium_ttft_ms)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]

    def premium_skipped(self) -> bool:
        return self.clock() < self._premium_skipped_until

    def record(self, *, tier: str, cost_usd: float, ttft_ms: float | None) -> None:
        """What a call cost and, for premium, how soon it answered."""
        if cost_usd > 0:
            self._spend.append((self.clock(), cost_usd))
        budget = self.options.latency_budget_ms
        if tier != PREMIUM or ttft_ms is None or not budget:
            return
        self._premium_ttft_ms.append(ttft_ms)
        p95 = self.premium_ttft_p95_ms()
        if p95 is not None and p95 > budget:
            self._premium_skipped_until = self.clock() + self.options.latency_cooldown_s
            self._premium_ttft_ms.clear()  # after the cooldown, premium is judged afresh

    # -- the decision ---------------------------------------------------------------------------
    def decide(self, question: str, *, has_image: bool = False) -> Decision:
        started = time.perf_counter()
        vision = has_image and self.vision_router is not None
        scorer = self.vision_scorer if vision and self.vision_scorer else self.scorer
        router = self.vision_router if vision and self.vision_router else self.router
        score: Score = scorer.score(question, ScoreContext(needs_screen=has_image))
        route = router.route(score.value)  # drawn even when a guard overrides: same draws
        tier, propensity, explored = route.tier, route.propensity, route.explored
        reason = "explored" if explored else router.name.removesuffix("+explore")
        budget = self.options.budget_usd_per_hour
        if budget and self.spent_last_hour_usd() >= budget:
            tier, propensity, explored, reason = CHEAP, 1.0, False, "budget"
        elif tier == PREMIUM and self.premium_skipped():
            tier, propensity, explored, reason = CHEAP, 1.0, False, "latency"
        return Decision(
            tier=tier,
            scorer=scorer.name,
            score=score.value,
            features=dict(score.contributions),
            router=router.name,
            threshold=router.threshold,
            propensity=propensity,
            explored=explored,
            reason=reason,
            vision=vision,
            routing_latency_ms=(time.perf_counter() - started) * 1000.0,
        )
