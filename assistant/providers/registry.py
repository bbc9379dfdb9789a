"""One registry from a ``provider:model`` spec to a provider, table-driven per stage (stt, vision,
LLM): everything that turns a spec into a provider (the pipeline's stages, the judge, eval-stt)
asks here.

Cloud vendors are ``providers.catalog``'s: each stage serves every catalogued vendor with an
adapter for it (the ``module:Class`` it names, imported only when a spec uses it, so an SDK is
loaded only for the vendors a run uses), built from the cloud target its key resolves to
(``keys.resolve_cloud``) as one ``CloudOptions``. The local providers are the rows here, built
offline from the model name or, for speech, from the stt options. A cloud provider whose key is
missing degrades to the offline provider of its tier, with a notice.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from assistant.core.config import Config, SttConfig
from assistant.core.errors import ConfigError, ProviderError
from assistant.core.events import CHEAP, PREMIUM, Utterance
from assistant.providers.base import Provider, split_spec
from assistant.providers.catalog import adapter, cloud_providers
from assistant.providers.cloud import CloudOptions
from assistant.providers.keys import CloudTarget, resolve_cloud
from assistant.providers.llm.base import LLM
from assistant.providers.stt.base import Transcriber
from assistant.providers.vision.base import VisionProvider

P = TypeVar("P", bound=Provider)
#: The transcript a ``recorded`` transcriber replays (None when the dataset has none).
Transcript = tuple[Utterance, ...] | None


def _load(path: str) -> Any:
    """The class at ``module:Class``, imported now."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


# -- how each kind of provider is built -------------------------------------------------------
def _offline(path: str) -> Callable[[str], Any]:
    """A local provider named by its model alone."""
    return lambda spec: _load(path)(model=split_spec(spec)[1])


def _cloud(stage: str) -> Callable[[str], Any]:
    """A cloud provider for ``stage``: the spec's key and endpoint, then the catalog's adapter
    class of the vendor whose SDK speaks to it (the OpenAI vendor's for compatible servers)."""

    def build(spec: str) -> Any:
        target = resolve_cloud(spec, stage=stage)
        return _load(adapter(target.vendor, stage))(cloud_options(target))

    return build


def cloud_options(target: CloudTarget) -> CloudOptions:
    """The adapter options for a resolved target (a compatible server keeps its own name, and is
    local when it listens on this machine)."""
    return CloudOptions(
        model=target.model,
        api_key=target.api_key,
        base_url=target.base_url,
        provider=target.provider,
        local=target.on_this_machine,
    )


def _whisper(spec: str, stt: SttConfig, transcript: Transcript) -> Transcriber:
    module = "assistant.providers.stt.whisper"
    cls: Any = _load(f"{module}:WhisperTranscriber")
    model, options = _load(f"{module}:parse_model")(split_spec(spec)[1])
    transcriber: Transcriber = cls(model=model, config=stt, **options)
    return transcriber


def _recorded(spec: str, stt: SttConfig, transcript: Transcript) -> Transcriber:
    if transcript is None:
        raise ConfigError(
            "stt.provider 'recorded' needs the dataset's ground-truth transcript "
            "([ground_truth].transcript in manifest.toml); use 'whisper:tiny.en' instead"
        )
    cls: Any = _load("assistant.providers.stt.recorded:RecordedTranscriber")
    model = split_spec(spec)[1] or "ground-truth"
    transcriber: Transcriber = cls(model=model, transcript=transcript, config=stt)
    return transcriber


def _deepgram(spec: str, stt: SttConfig, transcript: Transcript) -> Transcriber:
    from assistant.providers.vendors.deepgram.client import credentials

    model = split_spec(spec)[1] or "nova-3"
    api_key, base_url = credentials(model)
    cls: Any = _load(adapter("deepgram", "stt"))
    options = CloudOptions(model=model, api_key=api_key, base_url=base_url)
    transcriber: Transcriber = cls(options, config=stt)
    return transcriber


# -- the tables -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Registry(Generic[P]):
    """One stage's providers: name → builder (given the whole spec, and the stage's context);
    with ``cloud`` set, also every catalogued cloud vendor with an adapter for ``cloud`` (read
    when asked, so a vendor added to the catalog is served at once)."""

    stage: str
    builders: Mapping[str, Callable[..., P]]
    cloud: str | None = None  # the catalog's stage name

    def names(self) -> tuple[str, ...]:
        return (*self.builders, *(cloud_providers(self.cloud) if self.cloud else ()))

    def make(self, spec: str, *context: Any) -> P:
        provider, _ = split_spec(spec)
        if provider in self.builders:
            return self.builders[provider](spec, *context)
        if self.cloud is not None and provider in cloud_providers(self.cloud):
            built: P = _cloud(self.cloud)(spec)
            return built
        raise ConfigError(
            f"unknown {self.stage} provider {provider!r} in {spec!r}; available here: "
            f"{', '.join(sorted(self.names()))}"
        )

    def __contains__(self, provider: object) -> bool:
        return provider in self.names()


STT: Registry[Transcriber] = Registry(
    "stt", {"whisper": _whisper, "recorded": _recorded, "deepgram": _deepgram}
)
VISION: Registry[VisionProvider] = Registry(
    "vision", {"ocr": _offline("assistant.providers.vision.ocr:OcrVision")}, cloud="vision"
)
LLMS: Registry[LLM] = Registry(
    "LLM", {"local": _offline("assistant.providers.llm.local:LocalExtractiveLLM")}, cloud="llm"
)
#: What a tier (or transcription) falls back to, offline, when its cloud provider has no key.
OFFLINE = {
    ("vision", CHEAP): "ocr:low",
    ("vision", PREMIUM): "ocr:full",
    ("llm", CHEAP): "local:extractive-1",
    ("llm", PREMIUM): "local:extractive-3",
}
STT_OFFLINE = "whisper:tiny.en"
STT_PROVIDERS = tuple(STT.builders)


# -- entry points -----------------------------------------------------------------------------
def make_vision(spec: str) -> VisionProvider:
    return VISION.make(spec)


def make_llm(spec: str) -> LLM:
    return LLMS.make(spec)


def make_cloud_llm(spec: str) -> LLM:
    """A cloud LLM only (the judge's): ``ProviderError`` for any other spec, or naming the
    variable to set when its key is missing."""
    llm: LLM = _cloud("llm")(spec)  # resolve_cloud first: it rejects a spec that is not a cloud one
    return llm


def make_stt(spec: str, stt: SttConfig, transcript: Transcript = None) -> Transcriber:
    """The transcriber for ``spec``, with no fallback (``ProviderError`` when its key is missing)."""
    return STT.make(spec, stt, transcript)


def _tier(registry: Registry[P], kind: str, tier: str, spec: str, notices: list[str] | None) -> P:
    """The tier's provider; a cloud provider without its key degrades to offline with a notice."""
    try:
        return registry.make(spec)
    except ProviderError as exc:
        offline = OFFLINE[(kind, tier)]
        if notices is not None:
            notices.append(f"{kind} {tier} tier: {exc} - using offline {offline} instead")
        return registry.make(offline)


def tier_vision(tier: str, spec: str, notices: list[str] | None) -> VisionProvider:
    """The vision tier's provider (offline with a notice when its key is missing)."""
    return _tier(VISION, "vision", tier, spec, notices)


def tier_llm(tier: str, spec: str, notices: list[str] | None) -> LLM:
    """The answer tier's provider (offline with a notice when its key is missing)."""
    return _tier(LLMS, "llm", tier, spec, notices)


def tier_provider(kind: str, tier: str, spec: str, notices: list[str] | None) -> Provider:
    """``tier_vision`` or ``tier_llm`` by ``kind`` ("vision" or "llm")."""
    return tier_vision(tier, spec, notices) if kind == "vision" else tier_llm(tier, spec, notices)


def make_transcriber(
    config: Config,
    transcript: tuple[Utterance, ...] | None,
    *,
    allow_fallback: bool = True,
    notices: list[str] | None = None,
) -> Transcriber:
    """The configured transcriber. A cloud provider without its key degrades to offline whisper
    with a notice (or raises ``ProviderError`` when ``allow_fallback`` is false)."""
    spec = config.stt.provider
    provider = split_spec(spec)[0]
    if provider not in STT:
        raise ConfigError(
            f"unknown stt provider {provider!r}; available: {', '.join(STT_PROVIDERS)}"
        )
    try:
        return make_stt(spec, config.stt, transcript)
    except ProviderError as exc:
        if provider not in cloud_providers("stt") or not allow_fallback:  # no key to miss
            raise
        if notices is not None:
            notices.append(f"{exc} - transcribing offline with {STT_OFFLINE} instead")
        fallback = dataclasses.replace(
            config, stt=dataclasses.replace(config.stt, provider=STT_OFFLINE)
        )
        return make_transcriber(fallback, transcript)
