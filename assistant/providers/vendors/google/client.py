"""Google's Gemini API through google-genai: the SDK, a client that never retries, generation
options, usage, answer parts and error mapping.

The SDK's own retries are off (``HttpRetryOptions(attempts=1)``; the default is already none);
``HttpOptions.timeout`` is in milliseconds. Gemini 2.5 Flash thinks by default and its thinking
counts against ``max_output_tokens``, which leaves short budgets with an empty answer; its thinking
budget is set to 0 here (Flash allows it, Pro does not). A rejected key comes back as 400
``API_KEY_INVALID``, mapped to the key hint; ``google.rpc.RetryInfo`` gives the retry delay.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.core.errors import ProviderError
from assistant.core.events import Usage
from assistant.providers.catalog import vendor
from assistant.providers.cloud import CloudClient
from assistant.providers.errors import malformed, retry_after_s, status_error, vendor_error

VENDOR = "google"
INSTALL_HINT = "the Google provider needs google-genai: pip install -r requirements.txt"
_NO_THINKING = re.compile(r"gemini-2\.5-flash")  # models whose thinking can be switched off
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def sdk() -> tuple[Any, Any]:
    """(``google.genai``, ``google.genai.types``)."""
    try:
        from google import genai
        from google.genai import types
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(INSTALL_HINT, provider=VENDOR) from exc
    return genai, types


def make_client(*, api_key: str, base_url: str | None, timeout_s: float) -> Any:
    """A Gemini API (not Vertex) ``genai.Client`` that never retries on its own."""
    genai, types = sdk()
    options = types.HttpOptions(
        base_url=base_url,
        timeout=max(int(timeout_s * 1000), 1),  # milliseconds
        retry_options=types.HttpRetryOptions(attempts=1),  # the base retries
    )
    return genai.Client(api_key=api_key, vertexai=False, http_options=options)


def generation_config(model: str, max_output_tokens: int, **extra: Any) -> Any:
    _, types = sdk()
    thinking = types.ThinkingConfig(thinking_budget=0) if _NO_THINKING.search(model) else None
    return types.GenerateContentConfig(
        max_output_tokens=max_output_tokens, thinking_config=thinking, **extra
    )


def _retry_delay_s(details: Any) -> float | None:
    """``google.rpc.RetryInfo.retryDelay`` ("27s") from an error body's ``details``."""
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details", ()) if isinstance(error, dict) else ():
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        match = _DELAY.match(delay) if isinstance(delay, str) else None
        if match:
            return float(match.group(1))
    return None


def _bad_key(details: Any, message: str) -> bool:
    error = details.get("error", details) if isinstance(details, dict) else None
    items = error.get("details", ()) if isinstance(error, dict) else ()
    reasons = (
        {i.get("reason") for i in items if isinstance(i, dict)}
        if isinstance(items, list)
        else set()
    )
    return "API_KEY_INVALID" in reasons or "API key not valid" in message


def map_error(
    exc: BaseException, *, model: str, api_key: str, timeout_s: float, streamed: bool = False
) -> ProviderError:
    """An SDK or transport exception as the workbench's error, scrubbed of the key."""
    from google.genai import errors

    who = {"provider": VENDOR, "model": model}

    def specific(exc: BaseException) -> ProviderError | None:
        if isinstance(exc, errors.UnknownApiResponseError):
            return malformed(VENDOR, "body is not the documented JSON", **who)
        if isinstance(exc, errors.APIError) and isinstance(exc.code, int) and exc.code >= 400:
            message = exc.message if isinstance(exc.message, str) else str(exc)
            headers = getattr(getattr(exc, "response", None), "headers", None)
            header_delay = retry_after_s(dict(headers.items())) if headers is not None else None
            return status_error(
                vendor=VENDOR,
                status=exc.code,
                detail=f"{exc.status}: {message}" if exc.status else message,
                key_env=vendor(VENDOR).key_hint,
                retry_after=header_delay
                if header_delay is not None
                else _retry_delay_s(exc.details),
                bad_key=_bad_key(exc.details, message),
                **who,
            )
        if isinstance(exc, errors.APIError):
            return ProviderError(f"{VENDOR} error: {exc}", **who)
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


def read_usage(metadata: Any, *, model: str) -> Usage:
    """``usageMetadata``: prompt tokens in, candidate plus thinking tokens out."""
    prompt = getattr(metadata, "prompt_token_count", None)
    candidates = getattr(metadata, "candidates_token_count", None) or 0
    thoughts = getattr(metadata, "thoughts_token_count", None) or 0
    if not isinstance(prompt, int):
        raise malformed(
            VENDOR, "usageMetadata lacks promptTokenCount", provider=VENDOR, model=model
        )
    return Usage(input_tokens=prompt, output_tokens=candidates + thoughts)


def answer_parts(response: Any) -> tuple[list[str], str | None]:
    """(text parts that are not thoughts, finish reason) of one ``GenerateContentResponse``."""
    candidates = getattr(response, "candidates", None) or []
    if not candidates:
        return [], None
    content = getattr(candidates[0], "content", None)
    parts = getattr(content, "parts", None) or []
    texts = [p.text for p in parts if isinstance(getattr(p, "text", None), str) and not p.thought]
    finish = getattr(candidates[0], "finish_reason", None)
    return texts, (getattr(finish, "value", None) or str(finish)) if finish else None


class GoogleClient(CloudClient):
    """The google-genai client and error mapping for an adapter."""

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
