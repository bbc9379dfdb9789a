"""The vendor catalog: each cloud vendor once, the one place a vendor is added.

A :class:`Vendor` says everything the rest of the workbench needs to know about it: the name a
spec starts with (``openai:gpt-4o-mini``) and the ledger and pricing see, its display name (the
sidebar's key table), the variables its key may be in (first found wins), the adapter class per
stage (``"module:Class"``, imported only when a spec uses it, so an SDK loads only for the vendors
a run uses), and the rules ``pricing.tokens`` counts its tokens by (an image-token rule, and
whether its text tokenizer works offline).

Who reads it: ``providers.keys`` (which key a spec needs), ``providers.registry`` (spec → adapter
per stage), ``views.workbench`` (the sidebar's key status) and ``pricing.tokens`` (token rules).
Adding a vendor is one :func:`register_vendor` call (below, or in any module imported before the
vendor is used) plus its adapter modules (``providers/vendors/<name>/``).

OpenAI-compatible servers (Ollama, vLLM, ...) speak the ``openai`` vendor's SDK: they are listed in
:data:`COMPATIBLE_SERVERS` with their default base URL.

Data only: this module imports no adapter and no SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from assistant.core.errors import ConfigError

STAGES = ("stt", "vision", "llm")


@dataclass(frozen=True, slots=True)
class Vendor:
    """One cloud vendor."""

    name: str  # the spec's provider part and the ledger's provider name
    display_name: str  # how people know it (the sidebar's key table)
    key_envs: tuple[str, ...]  # the variables its key may be in, first found wins
    adapters: Mapping[str, str] = field(default_factory=dict)  # stage → "module:Class"
    aliases: tuple[str, ...] = ()  # other spec names for it ("gemini" → google)
    base_url_env: str | None = None  # a variable that points its SDK elsewhere (tests, proxies)
    image_rule: str | None = None  # pricing.tokens.IMAGE_RULES key: input tokens of one image
    text_tokenizer: str | None = None  # "tiktoken": exact offline counts; None: estimated

    def __post_init__(self) -> None:
        unknown = sorted(set(self.adapters) - set(STAGES))
        if unknown:
            raise ValueError(f"vendor {self.name}: unknown stages {unknown}; stages: {STAGES}")
        if not self.key_envs:
            raise ValueError(f"vendor {self.name}: name at least one key variable")

    @property
    def key_hint(self) -> str:
        """``A`` or ``A or B``: what to set."""
        return " or ".join(self.key_envs)


_VENDORS: dict[str, Vendor] = {}
_ALIASES: dict[str, str] = {}

#: OpenAI-compatible servers → default base URL; ``<NAME>_BASE_URL`` (e.g. ``OLLAMA_BASE_URL``,
#: ``OPENAI_COMPATIBLE_BASE_URL``) overrides it, ``<NAME>_API_KEY`` is sent if set (most ignore it).
COMPATIBLE_SERVERS: Mapping[str, str | None] = MappingProxyType(
    {
        "ollama": "http://localhost:11434/v1",
        "vllm": "http://localhost:8000/v1",
        "llamacpp": "http://localhost:8080/v1",
        "lmstudio": "http://localhost:1234/v1",
        "openai-compatible": None,  # no default: OPENAI_COMPATIBLE_BASE_URL is required
    }
)
COMPATIBLE_VENDOR = "openai"  # the SDK that speaks to every compatible server


def register_vendor(vendor: Vendor) -> Vendor:
    """Add a vendor (its name and aliases must be new)."""
    taken = {*_VENDORS, *_ALIASES, *COMPATIBLE_SERVERS}
    clash = sorted(taken & {vendor.name, *vendor.aliases})
    if clash:
        raise ValueError(f"vendor names already taken: {', '.join(clash)}")
    _VENDORS[vendor.name] = vendor
    _ALIASES.update(dict.fromkeys(vendor.aliases, vendor.name))
    return vendor


def unregister_vendor(name: str) -> None:
    """Remove a vendor (tests that add one take it away again)."""
    vendor = _VENDORS.pop(name, None)
    for alias in vendor.aliases if vendor else ():
        _ALIASES.pop(alias, None)


def vendors() -> tuple[Vendor, ...]:
    """Every vendor, in registration order."""
    return tuple(_VENDORS.values())


def vendor_names() -> tuple[str, ...]:
    return tuple(_VENDORS)


def canonical(name: str) -> str:
    """A vendor's own name for ``name`` or one of its aliases; other names unchanged."""
    return _ALIASES.get(name, name)


def find_vendor(name: str) -> Vendor | None:
    """The vendor called ``name`` (or an alias of it), None if there is none."""
    return _VENDORS.get(canonical(name))


def vendor(name: str) -> Vendor:
    found = find_vendor(name)
    if found is None:
        raise ConfigError(f"unknown vendor {name!r}; known: {', '.join(vendor_names())}")
    return found


def key_envs() -> dict[str, tuple[str, ...]]:
    """Vendor → the variables its key may be in."""
    return {v.name: v.key_envs for v in _VENDORS.values()}


def cloud_providers(stage: str | None = None) -> tuple[str, ...]:
    """Every provider name a cloud spec may start with (vendors with an adapter for ``stage``,
    any stage if None; their aliases; the OpenAI-compatible servers where the OpenAI vendor has
    one)."""
    names: list[str] = []
    for v in _VENDORS.values():
        if stage is None or stage in v.adapters:
            names += [v.name, *v.aliases]
    openai = _VENDORS.get(COMPATIBLE_VENDOR)
    if openai is not None and (stage is None or stage in openai.adapters):
        names += list(COMPATIBLE_SERVERS)
    return tuple(names)


def adapter(vendor_name: str, stage: str) -> str:
    """The ``module:Class`` of ``vendor_name``'s adapter for ``stage``."""
    found = vendor(vendor_name)
    if stage not in found.adapters:
        raise ConfigError(
            f"{found.name} has no {stage} adapter; it serves {', '.join(found.adapters) or 'none'}"
        )
    return found.adapters[stage]


# -- the vendors: add one here ------------------------------------------------------------------
_PKG = "assistant.providers.vendors"
register_vendor(
    Vendor(
        "openai",
        "OpenAI",
        ("OPENAI_API_KEY",),
        adapters={
            "vision": f"{_PKG}.openai.vision:OpenAIVision",
            "llm": f"{_PKG}.openai.llm:OpenAILLM",
        },
        image_rule="openai",
        text_tokenizer="tiktoken",
    )
)
register_vendor(
    Vendor(
        "anthropic",
        "Anthropic",
        ("ANTHROPIC_API_KEY",),
        adapters={
            "vision": f"{_PKG}.anthropic.vision:AnthropicVision",
            "llm": f"{_PKG}.anthropic.llm:AnthropicLLM",
        },
        image_rule="anthropic",
    )
)
register_vendor(
    Vendor(
        "google",
        "Google GenAI",
        ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        adapters={
            "vision": f"{_PKG}.google.vision:GoogleVision",
            "llm": f"{_PKG}.google.llm:GoogleLLM",
        },
        aliases=("gemini",),
        image_rule="gemini",
    )
)
register_vendor(
    Vendor(
        "deepgram",
        "Deepgram",
        ("DEEPGRAM_API_KEY",),
        adapters={"stt": f"{_PKG}.deepgram.stt:DeepgramTranscriber"},
        base_url_env="DEEPGRAM_BASE_URL",
    )
)
