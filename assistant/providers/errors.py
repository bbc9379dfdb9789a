"""Vendor failures in the workbench's error vocabulary (``assistant.core.errors``), shared by every
vendor module: an HTTP status with what to check, a Retry-After, a malformed body, a dropped or
timed-out transport, and the one shape of a vendor's mapping (``vendor_error``), which always
scrubs the key from the message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

from assistant.core.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
)
from assistant.providers.keys import redact


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


def vendor_error(
    exc: BaseException,
    specific: Callable[[BaseException], ProviderError | None],
    *,
    vendor: str,
    provider: str,
    model: str,
    api_key: str,
    timeout_s: float,
    streamed: bool,
) -> ProviderError:
    """``exc`` as the workbench's error, scrubbed of the key: a ``ProviderError`` as it is, else
    what the vendor's ``specific`` mapping makes of its SDK's exceptions, else a transport failure,
    else a plain ``ProviderError`` naming the exception."""
    error: ProviderError | None = exc if isinstance(exc, ProviderError) else specific(exc)
    if error is None:
        error = transport_error(
            exc,
            vendor=vendor,
            provider=provider,
            model=model,
            timeout_s=timeout_s,
            streamed=streamed,
        )
    if error is None:
        error = ProviderError(
            f"{vendor}: {type(exc).__name__}: {exc}", provider=provider, model=model
        )
    error.args = (redact(str(error), [api_key]),)
    return error


def empty_answer_error(
    vendor: str, finish: str | None, *, provider: str, model: str
) -> ProviderError:
    """No text came back: say why (the output budget spent on reasoning, a safety stop)."""
    hint = ""
    if finish and finish.lower() in {"length", "max_tokens"}:
        hint = "; the output budget ran out first (reasoning models spend it thinking): raise max_output_tokens"
    return ProviderError(
        f"{vendor} returned no answer text (finish reason {finish or 'none'}){hint}",
        provider=provider,
        model=model,
    )
