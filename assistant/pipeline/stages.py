"""A pipeline's stages, typed: built from a config and a tenant's knowledge (``build_stages``).

The registries (``assistant.providers.registry``) map ``provider:model`` specs to classes: a new
provider is one class and one registry entry there; the pipeline does not change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from assistant.core.config import Config
from assistant.core.errors import ConfigError
from assistant.core.events import Utterance
from assistant.pipeline.sampling import Sampler, make_sampler
from assistant.pipeline.tiers import TierPair
from assistant.pricing.prices import Pricer
from assistant.providers.base import Provider, RetryPolicy
from assistant.providers.cache import CallCache
from assistant.providers.llm.base import LLM
from assistant.providers.registry import make_transcriber, tier_llm, tier_vision
from assistant.providers.stt.base import Transcriber
from assistant.providers.vision.base import VisionProvider
from assistant.rag.bm25 import KnowledgeBase
from assistant.routing import CHEAP, PREMIUM, Router, Scorer
from assistant.routing.registry import (
    check_router,
    make_router,
    make_scorer,
    scorer_names,
    scorer_spec,
)

VISION_SEED_OFFSET = 1000  # the vision router's seed: its draws are not the LLM router's


class Document(Protocol):
    """A knowledge document: ``assistant.sessions.datasets.Document`` is one."""

    @property
    def doc_id(self) -> str: ...

    @property
    def text(self) -> str: ...


class Knowledge(Protocol):
    """What stages are built for: a tenant, its documents, maybe a recorded transcript
    (``assistant.sessions.datasets.Dataset`` is one)."""

    @property
    def tenant(self) -> str: ...

    @property
    def documents(self) -> tuple[Any, ...]: ...

    @property
    def transcript(self) -> tuple[Utterance, ...] | None: ...


@dataclass(frozen=True, slots=True)
class Stages:
    """Every stage of a pipeline: sampler, transcriber, vision and answer tiers, scorer, router,
    knowledge base and the pricer its calls are priced by. ``vision_scorer`` / ``vision_router``
    make the vision decision when the config splits it (``[routing] vision_threshold`` or
    ``vision_scorer``); when both are None the LLM decision decides the vision tier too."""

    sampler: Sampler
    transcriber: Transcriber
    vision: TierPair[VisionProvider]
    llm: TierPair[LLM]
    scorer: Scorer
    router: Router
    knowledge: KnowledgeBase
    pricer: Pricer
    vision_scorer: Scorer | None = None  # None: the LLM's score
    vision_router: Router | None = None  # None: the LLM decision is the vision decision

    @property
    def providers(self) -> list[Provider]:
        """Every provider among the stages (transcriber, vision and answer tiers)."""
        return [self.transcriber, *self.vision, *self.llm]

    def with_(self, **changes: Any) -> Stages:
        """A copy with some stages replaced (e.g. a test's fake vision tier)."""
        return replace(self, **changes)

    def warm_up(self, *, seen_before: bool = False) -> None:
        """Load every model before the run, so no request is timed with a model load. A
        provider whose results the call cache holds is left to load on its first miss (a
        replay of a recording seen before may need none of its calls); with ``seen_before``
        (the recording was replayed before with this sampling: its frame index was found)
        every provider the cache answers for is, since one the earlier replay never called is
        likely not called now either."""
        for provider in self.providers:
            cache = provider.call_cache
            if cache is None or not (seen_before or cache.holds(provider.spec)):
                provider.warm_up()
        self.knowledge.warm_up()

    def close(self) -> None:
        for provider in self.providers:
            provider.close()

    def cached_providers(self, setting: bool | None) -> list[Provider]:
        """The providers the call cache answers for under ``[calls] cache`` (``setting``):
        local ones unless it is false, cloud ones only when it is true; never one whose result
        is not a function of its input (``Provider.cacheable``)."""
        if setting is False:
            return []
        return [p for p in self.providers if p.cacheable and (p.local or setting)]

    def use_cache(self, cache: CallCache | None, setting: bool | None) -> list[Provider]:
        """Attach ``cache`` to the providers ``cached_providers`` names (and detach it from the
        others); those providers."""
        chosen = self.cached_providers(setting) if cache is not None else []
        for provider in self.providers:
            provider.use_cache(cache if any(provider is p for p in chosen) else None)
        return chosen


def build_stages(
    config: Config,
    *,
    tenant: str,
    documents: Iterable[Document] = (),
    transcript: tuple[Utterance, ...] | None = None,
    notices: list[str] | None = None,
) -> Stages:
    """Every stage under ``config``, searching ``tenant``'s ``documents``; ``transcript`` is for
    the ``recorded`` transcriber. Problems that degrade a stage are added to ``notices``."""
    routing = config.routing
    scorer_spec(routing.scorer)  # ConfigError naming the registered scorers
    check_router(routing.router)
    if routing.vision_scorer is not None and routing.vision_scorer not in scorer_names():
        raise ConfigError(
            f"unknown routing.vision_scorer {routing.vision_scorer!r}; available: "
            f"{', '.join(scorer_names())}"
        )
    stages = Stages(
        sampler=make_sampler(config.sampling),
        transcriber=make_transcriber(config, transcript, notices=notices),
        vision=TierPair(
            cheap=tier_vision(CHEAP, config.vision.cheap, notices),
            premium=tier_vision(PREMIUM, config.vision.premium, notices),
        ),
        llm=TierPair(
            cheap=tier_llm(CHEAP, config.llm.cheap, notices),
            premium=tier_llm(PREMIUM, config.llm.premium, notices),
        ),
        scorer=make_scorer(routing.scorer, weights=routing.scorer_weights),
        router=make_router(
            routing.router,
            threshold=routing.threshold,
            seed=routing.seed,
            explore_share=routing.explore_share,
        ),
        knowledge=KnowledgeBase(
            tenant,
            ((d.doc_id, d.text) for d in documents),
            chunk_words=config.retrieval.chunk_words,
        ),
        pricer=Pricer(config.pricing),
    )
    if routing.split:
        vision_threshold = routing.vision_threshold
        stages = stages.with_(
            vision_scorer=None
            if routing.vision_scorer is None
            else make_scorer(routing.vision_scorer, weights=routing.vision_scorer_weights),
            vision_router=make_router(
                routing.router,
                threshold=routing.threshold if vision_threshold is None else vision_threshold,
                seed=routing.seed + VISION_SEED_OFFSET,  # draws of its own
                explore_share=routing.explore_share,
            ),
        )
    calls = config.calls
    policy = RetryPolicy(
        max_attempts=calls.max_attempts,
        base_delay_s=calls.base_delay_s,
        max_delay_s=calls.max_delay_s,
    )
    for provider in stages.providers:
        provider.configure(policy=policy, timeout_s=calls.timeout_s)
    for provider in stages.providers:
        stages.pricer.check(provider=provider.provider, model=provider.model, local=provider.local)
    return stages


def make_stages(
    config: Config, knowledge: Knowledge, *, notices: list[str] | None = None
) -> Stages:
    """``build_stages`` for a dataset (its tenant, documents and transcript)."""
    return build_stages(
        config,
        tenant=knowledge.tenant,
        documents=knowledge.documents,
        transcript=knowledge.transcript,
        notices=notices,
    )
