"""Build a pipeline's stages from a config: registries map ``provider:model`` specs to classes.

A new provider is one class and one registry entry here; the pipeline does not change.
"""

from __future__ import annotations

from assistant.core.config import Config
from assistant.core.errors import ConfigError
from assistant.pipeline.sampling import make_sampler
from assistant.pricing.prices import Pricer
from assistant.providers.base import Provider, RetryPolicy
from assistant.providers.registry import make_transcriber, tier_provider
from assistant.rag.bm25 import KnowledgeBase
from assistant.routing import CHEAP, PREMIUM, ROUTERS, SCORERS
from assistant.routing.routers import make_router
from assistant.sessions.datasets import Dataset


def make_stages(
    config: Config, dataset: Dataset, *, notices: list[str] | None = None
) -> dict[str, object]:
    """Every stage of a pipeline for ``dataset`` under ``config`` (keyword arguments of Pipeline)."""
    routing = config.routing
    if routing.scorer not in SCORERS:
        raise ConfigError(f"unknown scorer {routing.scorer!r}; available: {', '.join(SCORERS)}")
    if routing.router not in ROUTERS:
        raise ConfigError(f"unknown router {routing.router!r}; available: {', '.join(ROUTERS)}")
    stages: dict[str, object] = {
        "sampler": make_sampler(config.sampling),
        "transcriber": make_transcriber(config, dataset.transcript, notices=notices),
        "vision": {
            CHEAP: tier_provider("vision", CHEAP, config.vision.cheap, notices),
            PREMIUM: tier_provider("vision", PREMIUM, config.vision.premium, notices),
        },
        "llm": {
            CHEAP: tier_provider("llm", CHEAP, config.llm.cheap, notices),
            PREMIUM: tier_provider("llm", PREMIUM, config.llm.premium, notices),
        },
        "scorer": SCORERS[routing.scorer](),
        "router": make_router(
            routing.router,
            threshold=routing.threshold,
            seed=routing.seed,
            explore_share=routing.explore_share,
        ),
        "knowledge": KnowledgeBase(
            dataset.tenant,
            ((d.doc_id, d.text) for d in dataset.documents),
            chunk_words=config.retrieval.chunk_words,
        ),
    }
    calls = config.calls
    policy = RetryPolicy(
        max_attempts=calls.max_attempts,
        base_delay_s=calls.base_delay_s,
        max_delay_s=calls.max_delay_s,
    )
    for provider in providers_of(stages):
        provider.configure(policy=policy, timeout_s=calls.timeout_s)
    pricer = Pricer(config.pricing)
    for provider in providers_of(stages):
        pricer.check(provider=provider.provider, model=provider.model, local=provider.local)
    stages["pricer"] = pricer
    return stages


def providers_of(stages: dict[str, object]) -> list[Provider]:
    """Every provider among a pipeline's stages (transcriber, vision and LLM tiers)."""
    found: list[Provider] = [stages["transcriber"]]  # type: ignore[list-item]
    for key in ("vision", "llm"):
        found.extend(stages[key].values())  # type: ignore[attr-defined]
    return found
