"""Finding cloud keys: API keys by variable name, and a ``provider:model`` spec resolved to its target.

Keys are found by variable name (simonw/llm's habit): the environment first, then a ``.env`` file in
the working directory (plain ``KEY=VALUE`` lines), then Streamlit's ``.streamlit/secrets.toml``. A
key's value is never logged or put in a message: ``redact`` scrubs it from any text that could
carry it (vendor error bodies sometimes echo the key they were sent).

``resolve_cloud`` turns a spec ("openai:gpt-4o-mini", "ollama:llama3.2") into a ``CloudTarget``
(which SDK speaks to it, the ledger's provider name, key, base URL), raising ``ProviderError`` that
names the variable to set when a key is missing; ``providers.registry`` builds the adapter from it.
Which variables hold which vendor's key is ``providers.catalog``'s. This module builds no provider
and imports no adapter.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from assistant.core.errors import ConfigError, ProviderError
from assistant.providers.base import split_spec
from assistant.providers.catalog import (
    COMPATIBLE_SERVERS,
    COMPATIBLE_VENDOR,
    canonical,
    cloud_providers,
    find_vendor,
)

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


def resolve_cloud(spec: str, *, stage: str | None = None) -> CloudTarget:
    """A cloud or OpenAI-compatible spec resolved to its key and endpoint (``stage``: only the
    vendors with an adapter for it)."""
    provider, model = split_spec(spec)
    known = cloud_providers(stage)
    if provider not in known:
        raise ProviderError(
            f"unknown cloud provider {provider!r} in {spec!r}; known: {', '.join(known)}",
            provider=provider,
            model=model,
        )
    provider = canonical(provider)
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
        return CloudTarget(COMPATIBLE_VENDOR, provider, model, key, key_env, base_url)
    vendor = find_vendor(provider)
    names = vendor.key_envs if vendor is not None else ()
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
