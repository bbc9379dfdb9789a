"""Build a pipeline's stages from a config: registries map ``provider:model`` specs to classes.

A new provider is one class and one registry entry here; the pipeline does not change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from assistant.core.config import Config
from assistant.core.errors import ConfigError, ProviderError
from assistant.core.events import Utterance
from assistant.pipeline.sampling import make_sampler
from assistant.pricing.prices import Pricer
from assistant.providers.base import Provider, RetryPolicy, split_spec
from assistant.providers.keys import CLOUD_PROVIDERS
from assistant.providers.llm.base import LLM
from assistant.providers.stt.base import Transcriber
from assistant.providers.vision.base import VisionProvider
from assistant.rag.bm25 import KnowledgeBase
from assistant.routing import CHEAP, PREMIUM, ROUTERS, SCORERS
from assistant.routing.routers import make_router
from assistant.sessions.datasets import Dataset


def _vision(model: str) -> VisionProvider:
    from assistant.providers.vision.ocr import OcrVision

    return OcrVision(model=model)


def _local_llm(model: str) -> LLM:
    from assistant.providers.llm.local import LocalExtractiveLLM

    return LocalExtractiveLLM(model=model)


def _cloud_llm(provider: str) -> Callable[[str], LLM]:
    def build(model: str) -> LLM:
        from assistant.providers.keys import make_cloud_llm

        return make_cloud_llm(f"{provider}:{model}")

    return build


def _cloud_vision(provider: str) -> Callable[[str], VisionProvider]:
    def build(model: str) -> VisionProvider:
        from assistant.providers.vision.cloud import make_cloud_vision

        return make_cloud_vision(f"{provider}:{model}")

    return build


VISION: dict[str, Callable[[str], VisionProvider]] = {
    "ocr": _vision,
    **{p: _cloud_vision(p) for p in CLOUD_PROVIDERS},
}
LLMS: dict[str, Callable[[str], LLM]] = {
    "local": _local_llm,
    **{p: _cloud_llm(p) for p in CLOUD_PROVIDERS},
}
# what a tier falls back to, offline, when its cloud provider has no key
OFFLINE = {
    ("vision", CHEAP): "ocr:low",
    ("vision", PREMIUM): "ocr:full",
    ("llm", CHEAP): "local:extractive-1",
    ("llm", PREMIUM): "local:extractive-3",
}
STT_PROVIDERS = ("whisper", "recorded", "deepgram")
T = TypeVar("T")


def _lookup(registry: dict[str, Callable[[str], T]], spec: str, what: str) -> T:
    provider, model = split_spec(spec)
    if provider not in registry:
        raise ConfigError(
            f"unknown {what} provider {provider!r} in {spec!r}; available here: "
            f"{', '.join(sorted(registry))}"
        )
    return registry[provider](model)


def make_vision(spec: str) -> VisionProvider:
    return _lookup(VISION, spec, "vision")


def make_llm(spec: str) -> LLM:
    return _lookup(LLMS, spec, "LLM")


def _tier(kind: str, tier: str, spec: str, notices: list[str] | None) -> Provider:
    """The tier's provider; a cloud provider without its key degrades to offline with a notice."""
    make: Callable[[str], Provider] = make_vision if kind == "vision" else make_llm
    try:
        return make(spec)
    except ProviderError as exc:
        offline = OFFLINE[(kind, tier)]
        if notices is not None:
            notices.append(f"{kind} {tier} tier: {exc} - using offline {offline} instead")
        return make(offline)


def make_transcriber(
    config: Config,
    transcript: tuple[Utterance, ...] | None,
    *,
    allow_fallback: bool = True,
    notices: list[str] | None = None,
) -> Transcriber:
    """The configured transcriber. A cloud provider without its key degrades to offline whisper
    with a notice (or raises ``ProviderError`` when ``allow_fallback`` is false)."""
    provider, model = split_spec(config.stt.provider)
    if provider == "whisper":
        from assistant.providers.stt.whisper import WhisperTranscriber

        return WhisperTranscriber(model=model or "tiny.en", config=config.stt)
    if provider == "recorded":
        if transcript is None:
            raise ConfigError(
                "stt.provider 'recorded' needs the dataset's ground-truth transcript "
                "([ground_truth].transcript in manifest.toml); use 'whisper:tiny.en' instead"
            )
        from assistant.providers.stt.recorded import RecordedTranscriber

        return RecordedTranscriber(
            model=model or "ground-truth", transcript=transcript, config=config.stt
        )
    if provider == "deepgram":
        from assistant.providers.stt.deepgram import make_deepgram

        try:
            return make_deepgram(model or "nova-3", config.stt)
        except ProviderError as exc:
            if not allow_fallback:
                raise
            if notices is not None:
                notices.append(f"{exc} - transcribing offline with whisper:tiny.en instead")
            fallback = dataclasses.replace(
                config, stt=dataclasses.replace(config.stt, provider="whisper:tiny.en")
            )
            return make_transcriber(fallback, transcript)
    raise ConfigError(f"unknown stt provider {provider!r}; available: {', '.join(STT_PROVIDERS)}")


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
            CHEAP: _tier("vision", CHEAP, config.vision.cheap, notices),
            PREMIUM: _tier("vision", PREMIUM, config.vision.premium, notices),
        },
        "llm": {
            CHEAP: _tier("llm", CHEAP, config.llm.cheap, notices),
            PREMIUM: _tier("llm", PREMIUM, config.llm.premium, notices),
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
