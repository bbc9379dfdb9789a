"""One registry from a ``provider:model`` spec to a provider: stt, vision and LLM.

A new provider is one class and one entry here; the pipeline does not change. A cloud provider whose
key is missing degrades to the offline provider of its tier, with a notice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from assistant.core.config import Config
from assistant.core.errors import ConfigError, ProviderError
from assistant.core.events import CHEAP, PREMIUM, Utterance
from assistant.providers.base import Provider, split_spec
from assistant.providers.keys import CLOUD_PROVIDERS
from assistant.providers.llm.base import LLM
from assistant.providers.stt.base import Transcriber
from assistant.providers.vision.base import VisionProvider


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


def tier_provider(kind: str, tier: str, spec: str, notices: list[str] | None) -> Provider:
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


