"""Cloud access shared by every vendor adapter: API keys, ``provider:model`` specs, vendor errors.

Keys are found by variable name (simonw/llm's habit): the environment first, then a ``.env`` file in
the working directory (plain ``KEY=VALUE`` lines), then Streamlit's ``.streamlit/secrets.toml``. A
key's value is never logged or put in a message: ``redact`` scrubs it from any text that could
carry it (vendor error bodies sometimes echo the key they were sent).

``resolve_cloud`` turns a spec ("openai:gpt-4o-mini", "ollama:llama3.2") into a ``CloudTarget``
(which SDK speaks to it, the ledger's provider name, key, base URL), raising ``ProviderError`` that
names the variable to set when a key is missing; ``make_cloud_llm`` builds the answerer from it.
``status_error`` is the one mapping of a vendor's HTTP status to the workbench's error vocabulary.
"""

from __future__ import annotations

import json
import os
import re
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from assistant.core.errors import (
    ConfigError,
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
)
from assistant.providers.base import split_spec

if TYPE_CHECKING:
    from assistant.providers.llm.base import LLM

#: Vendor → the variables its key may be in, first found wins.
KEY_ENVS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
}
ALIASES = {"gemini": "google"}
#: OpenAI-compatible servers → default base URL; ``<NAME>_BASE_URL`` (e.g. ``OLLAMA_BASE_URL``,
#: ``OPENAI_COMPATIBLE_BASE_URL``) overrides it, ``<NAME>_API_KEY`` is sent if set (most ignore it).
COMPATIBLE_SERVERS: dict[str, str | None] = {
    "ollama": "http://localhost:11434/v1",
    "vllm": "http://localhost:8000/v1",
    "llamacpp": "http://localhost:8080/v1",
    "lmstudio": "http://localhost:1234/v1",
    "openai-compatible": None,  # no default: OPENAI_COMPATIBLE_BASE_URL is required
}
CLOUD_PROVIDERS = (*KEY_ENVS, *ALIASES, *COMPATIBLE_SERVERS)
_NO_KEY = "not-needed"  # the OpenAI SDK insists on a key; local servers ignore it
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


# -- keys ------------------------------------------------------------------------------------
def get_key(name: str, *, root: Path | None = None) -> str | None:
    """The value of ``name`` from the environment, else ``root/.env``, else
    ``root/.streamlit/secrets.toml`` (``root`` defaults to the working directory); None if unset."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    base = root if root is not None else Path.cwd()
    dotenv = base / ".env"
    if dotenv.is_file():
        value = parse_dotenv(dotenv.read_text(encoding="utf-8")).get(name, "").strip()
        if value:
            return value
    secrets = base / ".streamlit" / "secrets.toml"
    if secrets.is_file():
        try:
            data = tomllib.loads(secrets.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:  # the message names a position, never a value
            raise ConfigError(f"{secrets}: not valid TOML ({exc}); fix or remove it") from exc
        found = data.get(name)
        if isinstance(found, str) and found.strip():
            return found.strip()
    return None


_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_QUOTED = re.compile(r"""^(["'])(.*?)\1(?:\s+#.*)?$""")


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (optionally ``export``-ed, quoted, with ``# comments``); later lines win."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.match(line)
        if match is None:
            continue
        name, raw = match.groups()
        quoted = _QUOTED.match(raw)
        values[name] = quoted.group(2) if quoted else raw.split(" #", 1)[0].strip()
    return values


def redact(text: str, keys: Iterable[str | None]) -> str:
    """``text`` with every occurrence of any of ``keys`` replaced by ``***`` (longest first)."""
    for key in sorted({k for k in keys if k and len(k) >= 4}, key=len, reverse=True):
        text = text.replace(key, "***")
    return text


# -- specs -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CloudTarget:
    """Where a spec's calls go. ``vendor`` is the SDK that speaks to it ("openai" also for
    OpenAI-compatible servers), ``provider`` the name the ledger and pricing see."""

    vendor: str
    provider: str
    model: str
    api_key: str = field(repr=False)
    key_env: str
    base_url: str | None = None

    @property
    def on_this_machine(self) -> bool:
        """A loopback server (Ollama on this laptop): priced by compute seconds, not tokens."""
        return self.base_url is not None and urlsplit(self.base_url).hostname in _LOOPBACK


def env_name(provider: str, suffix: str) -> str:
    return f"{provider.upper().replace('-', '_')}_{suffix}"


def resolve_cloud(spec: str) -> CloudTarget:
    """A cloud or OpenAI-compatible spec resolved to its key and endpoint."""
    provider, model = split_spec(spec)
    provider = ALIASES.get(provider, provider)
    if provider not in KEY_ENVS and provider not in COMPATIBLE_SERVERS:
        raise ProviderError(
            f"unknown cloud provider {provider!r} in {spec!r}; known: {', '.join(CLOUD_PROVIDERS)}",
            provider=provider,
            model=model,
        )
    if not model:
        raise ProviderError(
            f"{spec!r} names no model; write it as provider:model, e.g. openai:gpt-4o-mini",
            provider=provider,
        )
    if provider in COMPATIBLE_SERVERS:
        url_env, key_env = env_name(provider, "BASE_URL"), env_name(provider, "API_KEY")
        base_url: str | None = get_key(url_env) or COMPATIBLE_SERVERS[provider]
        if not base_url:
            raise ProviderError(
                f"{provider} needs the server's URL: set {url_env} (e.g. http://host:8000/v1)",
                provider=provider,
                model=model,
            )
        key = get_key(key_env) or _NO_KEY
        return CloudTarget("openai", provider, model, key, key_env, base_url)
    names = KEY_ENVS[provider]
    for name in names:
        found = get_key(name)
        if found:
            return CloudTarget(provider, provider, model, found, name)
    raise ProviderError(
        f"{provider} needs an API key: set {' or '.join(names)} in the environment, "
        "in .env or in .streamlit/secrets.toml",
        provider=provider,
        model=model,
    )


def make_cloud_llm(spec: str) -> LLM:
    """The answerer for ``spec``; ``ProviderError`` (naming the variable) if its key is missing."""
    target = resolve_cloud(spec)
    if target.vendor == "anthropic":
        from assistant.providers.llm.anthropic_llm import AnthropicLLM

        return AnthropicLLM(model=target.model, api_key=target.api_key)
    if target.vendor == "google":
        from assistant.providers.llm.google_llm import GoogleLLM

        return GoogleLLM(model=target.model, api_key=target.api_key)
    from assistant.providers.llm.openai_llm import OpenAILLM

    return OpenAILLM(
        model=target.model,
        api_key=target.api_key,
        base_url=target.base_url,
        provider=target.provider,
        local=target.on_this_machine,
    )


# -- vendor errors ---------------------------------------------------------------------------
def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lower:
            return max(float(lower["retry-after-ms"]) / 1000.0, 0.0)
        value = lower.get("retry-after")
        if value is None:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, IndexError):
        return None


def status_error(
    *,
    vendor: str,
    provider: str,
    model: str,
    status: int,
    detail: str,
    key_env: str,
    retry_after: float | None = None,
    bad_key: bool = False,
) -> ProviderError:
    """A vendor's HTTP error as the workbench's: 429 and 5xx (529 too) retryable, the rest not,
    with what to check. ``bad_key`` marks a rejected key reported under another status (Gemini
    answers 400 API_KEY_INVALID)."""
    detail = " ".join(detail.split())[:300] or "no detail"
    if status == 408:
        return ProviderTimeoutError(
            f"{vendor} timed out the request (408: {detail})", provider=provider, model=model
        )
    if bad_key or status == 401:
        text = f"{vendor} rejected the API key ({status}: {detail}); check {key_env}"
    elif status == 403:
        text = f"{vendor} refused access ({detail}); check that {key_env} may use model {model!r}"
    elif status == 404:
        text = f"{vendor} does not know model {model!r} ({detail}); check the model name"
    elif status == 429:
        text = f"{vendor} rate limit or quota reached ({detail})"
    elif status >= 500:
        text = f"{vendor} server error {status} ({detail})"
    else:
        text = f"{vendor} rejected the request ({status}: {detail})"
    return ProviderStatusError(
        text,
        status_code=status,
        provider=provider,
        model=model,
        retry_after_s=retry_after if status == 429 else None,
    )


def malformed(vendor: str, what: str, *, provider: str, model: str) -> ProviderError:
    return ProviderError(f"{vendor}: malformed response ({what})", provider=provider, model=model)


def transport_error(
    exc: BaseException, *, vendor: str, provider: str, model: str, timeout_s: float, streamed: bool
) -> ProviderError | None:
    """The SDK-independent failures: timeouts, dropped connections, a stream cut after it began,
    bodies that are not the documented JSON. None if ``exc`` is none of these."""
    import httpx2  # the transport of all three SDKs
    import pydantic

    if isinstance(exc, httpx2.TimeoutException | TimeoutError):
        return ProviderTimeoutError(
            f"{vendor} did not answer within {timeout_s:g} s", provider=provider, model=model
        )
    if streamed and isinstance(exc, httpx2.TransportError | OSError):
        return ProviderError(
            f"{vendor}: the answer stream was cut mid-way ({type(exc).__name__})",
            provider=provider,
            model=model,
        )
    if isinstance(exc, httpx2.TransportError | OSError):
        return ProviderConnectionError(
            f"cannot reach {vendor} ({type(exc).__name__}: {exc})", provider=provider, model=model
        )
    if isinstance(exc, json.JSONDecodeError | pydantic.ValidationError | UnicodeDecodeError):
        return malformed(vendor, "body is not the documented JSON", provider=provider, model=model)
    return None
