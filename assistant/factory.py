"""Build a pipeline's stages from a config: registries map ``provider:model`` specs to classes.

A new provider is one class and one registry entry here; the pipeline does not change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from assistant.config import Config
from assistant.datasets import Dataset
from assistant.errors import ConfigError, ProviderError
from assistant.llm.base import LLM
from assistant.pricing import Pricer
from assistant.providers import Provider, split_spec
from assistant.rag.bm25 import KnowledgeBase
from assistant.routing import CHEAP, PREMIUM, ROUTERS, SCORERS
from assistant.sampling import make_sampler
from assistant.stt.base import Transcriber
from assistant.types import Utterance
from assistant.vision.base import VisionProvider


def _vision(model: str) -> VisionProvider:
    from assistant.vision.ocr import OcrVision

    return OcrVision(model=model)


def _local_llm(model: str) -> LLM:
    from assistant.llm.local import LocalExtractiveLLM

    return LocalExtractiveLLM(model=model)


VISION: dict[str, Callable[[str], VisionProvider]] = {"ocr": _vision}
LLMS: dict[str, Callable[[str], LLM]] = {"local": _local_llm}
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
        from assistant.stt.whisper import WhisperTranscriber

        return WhisperTranscriber(model=model or "tiny.en", config=config.stt)
    if provider == "recorded":
        if transcript is None:
            raise ConfigError(
                "stt.provider 'recorded' needs the dataset's ground-truth transcript "
                "([ground_truth].transcript in manifest.toml); use 'whisper:tiny.en' instead"
            )
        from assistant.stt.recorded import RecordedTranscriber

        return RecordedTranscriber(
            model=model or "ground-truth", transcript=transcript, config=config.stt
        )
    if provider == "deepgram":
        from assistant.stt.deepgram import make_deepgram

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
            CHEAP: make_vision(config.vision.cheap),
            PREMIUM: make_vision(config.vision.premium),
        },
        "llm": {CHEAP: make_llm(config.llm.cheap), PREMIUM: make_llm(config.llm.premium)},
        "scorer": SCORERS[routing.scorer](),
        "router": ROUTERS[routing.router](threshold=routing.threshold, seed=routing.seed),
        "knowledge": KnowledgeBase(
            dataset.tenant,
            ((d.doc_id, d.text) for d in dataset.documents),
            chunk_words=config.retrieval.chunk_words,
        ),
    }
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
