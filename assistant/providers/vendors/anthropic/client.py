"""Anthropic: the SDK, a client that never retries, usage and error mapping.

The SDK's own retries are off (``max_retries=0``); an ``error`` event inside a stream
(``overloaded_error``) is mapped by its type to the status it stands for (529), so the base retries
it like the HTTP status.
"""

from __future__ import annotations

from typing import Any

from assistant.core.errors import ProviderError, ProviderTimeoutError
from assistant.providers.catalog import vendor
from assistant.providers.cloud import CloudClient
from assistant.providers.errors import (
    malformed,
    retry_after_s,
    status_error,
    transport_error,
    vendor_error,
)

VENDOR = "anthropic"
INSTALL_HINT = "the Anthropic provider needs the anthropic SDK: pip install -r requirements.txt"
#: Anthropic's documented ``error.type`` values → the HTTP status each is sent with.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def sdk() -> Any:
    try:
        import anthropic
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(INSTALL_HINT, provider=VENDOR) from exc
    return anthropic


def make_client(*, api_key: str, base_url: str | None, timeout_s: float) -> Any:
    """An ``anthropic.Anthropic`` client that never retries on its own."""
    return sdk().Anthropic(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,  # the base retries
    )


def _error_body(body: Any) -> tuple[str | None, str | None]:
    """(``error.type``, ``error.message``) of Anthropic's documented error body."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    kind, message = error.get("type"), error.get("message")
    return (kind if isinstance(kind, str) else None, message if isinstance(message, str) else None)


def map_error(
    exc: BaseException,
    *,
    model: str,
    api_key: str,
    timeout_s: float,
    streamed: bool = False,
) -> ProviderError:
    """An SDK or transport exception as the workbench's error, scrubbed of the key."""
    anthropic = sdk()
    who = {"provider": VENDOR, "model": model}

    def specific(exc: BaseException) -> ProviderError | None:
        if isinstance(exc, anthropic.APITimeoutError):
            return ProviderTimeoutError(f"{VENDOR} did not answer within {timeout_s:g} s", **who)
        if isinstance(exc, anthropic.APIStatusError):
            kind, message = _error_body(exc.body)
            status = exc.status_code
            if status < 400:  # an ``error`` event inside a 200 stream: its type says which status
                status = ERROR_STATUS.get(kind or "", 0)
            if not status:
                return ProviderError(f"{VENDOR} stream error: {message or exc}", **who)
            return status_error(
                vendor=VENDOR,
                status=status,
                detail=f"{kind}: {message}" if kind else message or str(exc),
                key_env=vendor(VENDOR).key_hint,
                retry_after=retry_after_s(dict(exc.response.headers.items())),
                provider=VENDOR,
                model=model,
            )
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or OSError(str(exc))
            return transport_error(
                cause, vendor=VENDOR, timeout_s=timeout_s, streamed=streamed, **who
            )
        if isinstance(exc, anthropic.APIResponseValidationError):
            return malformed(VENDOR, "body is not the documented JSON", **who)
        return None

    return vendor_error(
        exc,
        specific,
        vendor=VENDOR,
        api_key=api_key,
        timeout_s=timeout_s,
        streamed=streamed,
        **who,
    )


def read_usage(usage: Any, *, model: str) -> tuple[int, int]:
    """(input, output) tokens; prompt-cache reads and writes count as input."""
    input_tokens = getattr(usage, "input_tokens", None)
    output_tokens = getattr(usage, "output_tokens", None)
    if not isinstance(input_tokens, int) or not isinstance(output_tokens, int):
        raise malformed(
            VENDOR, "usage lacks input_tokens/output_tokens", provider=VENDOR, model=model
        )
    cached = sum(
        getattr(usage, name, None) or 0
        for name in ("cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return input_tokens + cached, output_tokens


class AnthropicClient(CloudClient):
    """The Anthropic SDK client and error mapping for an adapter."""

    provider = VENDOR

    def _make_client(self) -> Any:
        return make_client(api_key=self._api_key, base_url=self.base_url, timeout_s=self.timeout_s)

    def _map_error(self, exc: BaseException, *, streamed: bool = False) -> ProviderError:
        return map_error(
            exc,
            model=self.model,
            api_key=self._api_key,
            timeout_s=self.timeout_s,
            streamed=streamed,
        )
