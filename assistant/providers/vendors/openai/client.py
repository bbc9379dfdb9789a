"""OpenAI and the servers that speak its API: the SDK, a client that never retries, error mapping.

The SDK's own retries are off (``max_retries=0``) since ``Provider`` owns retries; its exceptions
map to the workbench's (``map_error``), including an ``{"error": ...}`` event inside a stream,
whose code says which status it stands for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from assistant.core.errors import ProviderError, ProviderTimeoutError
from assistant.providers.base import RetryPolicy
from assistant.providers.catalog import vendor
from assistant.providers.cloud import CloudClient, CloudOptions
from assistant.providers.errors import (
    malformed,
    retry_after_s,
    status_error,
    transport_error,
    vendor_error,
)
from assistant.providers.keys import env_name

VENDOR = "openai"
INSTALL_HINT = "the OpenAI provider needs the openai SDK: pip install -r requirements.txt"
_STREAM_ERROR_STATUS = {"server_error": 500, "rate_limit_exceeded": 429, "requests": 429}


def sdk() -> Any:
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(INSTALL_HINT, provider=VENDOR) from exc
    return openai


def make_client(*, api_key: str, base_url: str | None, timeout_s: float) -> Any:
    """An ``openai.OpenAI`` client that never retries on its own."""
    return sdk().OpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,  # the base retries
    )


def key_env(provider: str) -> str:
    """The variable a key for ``provider`` (OpenAI or a compatible server) is read from."""
    return vendor(VENDOR).key_envs[0] if provider == VENDOR else env_name(provider, "API_KEY")


def _detail(body: Any, fallback: str) -> str:
    """``error.message`` of OpenAI's documented error body, else the SDK's text."""
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else fallback


def map_error(
    exc: BaseException,
    *,
    provider: str,
    model: str,
    api_key: str,
    timeout_s: float,
    streamed: bool = False,
) -> ProviderError:
    """An SDK or transport exception as the workbench's error, scrubbed of the key."""
    openai = sdk()

    def specific(exc: BaseException) -> ProviderError | None:
        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeoutError(
                f"{provider} did not answer within {timeout_s:g} s", provider=provider, model=model
            )
        if isinstance(exc, openai.APIStatusError):
            return status_error(
                vendor=provider,
                provider=provider,
                model=model,
                status=exc.status_code,
                detail=_detail(exc.body, exc.message),
                key_env=key_env(provider),
                retry_after=retry_after_s(dict(exc.response.headers.items())),
            )
        if isinstance(exc, openai.APIConnectionError):
            return transport_error(
                exc.__cause__ or OSError(str(exc)),
                vendor=provider,
                provider=provider,
                model=model,
                timeout_s=timeout_s,
                streamed=streamed,
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return malformed(
                provider, "body is not the documented JSON", provider=provider, model=model
            )
        if isinstance(exc, openai.APIError):  # an {"error": ...} event inside the stream
            body = exc.body if isinstance(exc.body, dict) else {}
            kind = body.get("code") or body.get("type")
            status = _STREAM_ERROR_STATUS.get(kind) if isinstance(kind, str) else None
            if status:
                return status_error(
                    vendor=provider,
                    provider=provider,
                    model=model,
                    status=status,
                    detail=exc.message,
                    key_env=key_env(provider),
                )
            return ProviderError(
                f"{provider} stream error: {exc.message}", provider=provider, model=model
            )
        return None

    return vendor_error(
        exc,
        specific,
        vendor=provider,
        provider=provider,
        model=model,
        api_key=api_key,
        timeout_s=timeout_s,
        streamed=streamed,
    )


class OpenAIClient(CloudClient):
    """The OpenAI SDK client and error mapping for an adapter (also OpenAI-compatible servers:
    ``options.provider`` names the server, ``options.base_url`` points at it)."""

    provider = VENDOR

    def __init__(
        self,
        options: CloudOptions,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        provider = options.provider or VENDOR
        if provider != VENDOR and not options.base_url:
            raise ProviderError(
                f"{provider} is an OpenAI-compatible server: it needs a base_url "
                f"(set {env_name(provider, 'BASE_URL')})",
                provider=provider,
                model=options.model,
            )
        super().__init__(options, policy=policy, sleep=sleep)
        self.compatible = provider != VENDOR

    def _make_client(self) -> Any:
        return make_client(api_key=self._api_key, base_url=self.base_url, timeout_s=self.timeout_s)

    def _map_error(self, exc: BaseException, *, streamed: bool = False) -> ProviderError:
        return map_error(
            exc,
            provider=self.provider,
            model=self.model,
            api_key=self._api_key,
            timeout_s=self.timeout_s,
            streamed=streamed,
        )

    def _token_limit(self) -> dict[str, int]:
        """OpenAI reads ``max_completion_tokens``; the compatible servers read ``max_tokens``."""
        key = "max_completion_tokens" if self.provider == VENDOR else "max_tokens"
        return {key: self.max_output_tokens}
