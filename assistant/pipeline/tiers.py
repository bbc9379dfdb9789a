"""A tier pair (cheap, premium) of one kind of provider, and the failover between its tiers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from assistant.core.errors import ProviderError
from assistant.providers.base import CallFailure, CallResult, Provider, ProviderCallError
from assistant.routing import CHEAP, PREMIUM

P = TypeVar("P", bound=Provider)


def other_tier(tier: str) -> str:
    return CHEAP if tier == PREMIUM else PREMIUM


def outcome_tier(vision_tier: str | None, llm_tier: str) -> str:
    """The ``tier_outcomes.tier`` of a combination: the tier itself when vision and answer share
    it (or there is no vision stage), as one-decision runs always wrote; otherwise a label such as
    ``premium-vision/cheap-llm`` that no reader of the two plain tiers mistakes for one."""
    if vision_tier is None or vision_tier == llm_tier:
        return llm_tier
    return f"{vision_tier}-vision/{llm_tier}-llm"


@dataclass(slots=True)
class StageRun:
    """One stage (vision or answer) of one request: the models asked, every call made in order
    (results and failures, priced later by the recorder), and what went wrong."""

    kind: str
    model_requested: str | None = None
    model_resolved: str | None = None
    errors: list[str] = field(default_factory=list)
    fallback_model: str | None = None
    calls: list[CallResult[Any] | CallFailure] = field(default_factory=list)
    # of the calls' time, what ran before the question asked (a prefetched screen reading)
    ahead_ms: float = 0.0

    @property
    def latency_ms(self) -> float:
        """What the question waited for this stage's calls."""
        total = 0.0
        for call in self.calls:
            total += call.latency_ms
        return max(total - self.ahead_ms, 0.0)


@dataclass(frozen=True, slots=True)
class TierPair(Generic[P]):
    """The cheap and the premium provider of one kind; ``call`` fails over to the other tier."""

    cheap: P
    premium: P

    def __getitem__(self, tier: str) -> P:
        if tier == CHEAP:
            return self.cheap
        if tier == PREMIUM:
            return self.premium
        raise KeyError(tier)

    def __iter__(self) -> Iterator[P]:
        yield self.cheap
        yield self.premium

    def chain(self, tier: str) -> list[P]:
        """The tier's provider, then the other tier's when it is a different model."""
        primary, backup = self[tier], self[other_tier(tier)]
        return [primary] if backup.spec == primary.spec else [primary, backup]

    def call(
        self, tier: str, stage: StageRun, call: Callable[[P], CallResult[Any]]
    ) -> CallResult[Any] | None:
        """Call the tier's provider; on failure, the other tier's. Every call goes into
        ``stage.calls``; None when no provider answered."""
        chain = self.chain(tier)
        stage.model_requested = chain[0].spec
        for position, provider in enumerate(chain):
            try:
                result = call(provider)
            except ProviderCallError as exc:
                stage.errors.append(f"{stage.kind} {provider.spec}: {exc.failure.error}")
                stage.calls.append(exc.failure)
                continue
            except ProviderError as exc:  # configuration problems raised before any call
                stage.errors.append(f"{stage.kind} {provider.spec}: {exc}")
                continue
            stage.calls.append(result)
            stage.model_resolved = f"{result.provider}:{result.model_resolved}"
            if position > 0:
                stage.fallback_model = stage.model_resolved
            return result
        return None
