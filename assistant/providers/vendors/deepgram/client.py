"""Deepgram: deepgram-sdk 7.x imported lazily, the key found like every other vendor's (the environment,
then ``.env``, then ``.streamlit/secrets.toml``: ``providers.keys.get_key``), one base URL for REST
and WebSocket, and error mapping.

The SDK is pointed at ``base_url`` by a custom ``DeepgramClientEnvironment`` (tests drive the real
SDK against a local fake). The API key only ever goes into the SDK's ``Authorization: Token``
header; every message built here is scrubbed of it.
"""

from __future__ import annotations

from typing import Any

from assistant.core.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeoutError,
)
from assistant.providers.catalog import vendor
from assistant.providers.errors import malformed as _malformed
from assistant.providers.keys import get_key

PROVIDER = "deepgram"
DEFAULT_BASE_URL = "https://api.deepgram.com"
INSTALL_HINT = "the Deepgram provider needs deepgram-sdk: pip install -r requirements.txt"


def sdk() -> Any:
    try:
        import deepgram
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(INSTALL_HINT, provider=PROVIDER) from exc
    return deepgram


def credentials(model: str) -> tuple[str, str | None]:
    """(API key, base URL or None) from the catalog's key and base-URL variables (environment,
    ``.env`` or secrets); ``ProviderError`` naming the variable if the key is missing."""
    entry = vendor(PROVIDER)
    api_key = next((k for k in map(get_key, entry.key_envs) if k), "")
    if not api_key:
        raise ProviderError(
            f"deepgram needs an API key: set {entry.key_hint} (console.deepgram.com → API keys), "
            'or use offline transcription (stt.provider = "whisper:tiny.en")',
            provider=PROVIDER,
            model=model,
        )
    return api_key, get_key(entry.base_url_env) if entry.base_url_env else None


def environment(base_url: str) -> Any:
    """One base URL (http(s):// or ws(s)://) for both REST and WebSocket endpoints."""
    url = base_url.rstrip("/")
    http = "http" + url[2:] if url.startswith("ws") else url
    ws = "ws" + url[4:] if url.startswith("http") else url
    return sdk().DeepgramClientEnvironment(base=http, production=ws, agent=ws, agent_rest=http)


def malformed(what: str, model: str) -> ProviderError:
    return _malformed(PROVIDER, what, provider=PROVIDER, model=model)


def _retry_after_s(headers: Any) -> float | None:
    """Deepgram's Retry-After is in seconds."""
    value = next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def _status_error(status: int, headers: Any, body: Any, model: str) -> ProviderError:
    fields = body if isinstance(body, dict) else {}
    code = fields.get("err_code") or fields.get("category") or ""
    msg = fields.get("err_msg") or fields.get("message") or (body if isinstance(body, str) else "")
    detail = (
        f"HTTP {status}" + (f" {code}" if code else "") + (f": {str(msg)[:200]}" if msg else "")
    )
    if status in (401, 403):
        fix = f"check {vendor(PROVIDER).key_hint} (a valid key for a project with speech-to-text access)"
        text = f"deepgram rejected the API key ({detail}); {fix}"
    elif status == 402:
        text = f"deepgram: out of credit ({detail}); top up the project or use another key"
    elif status == 429:
        text = f"deepgram rate limit ({detail})"
    elif status >= 500:
        text = f"deepgram server error ({detail})"
    else:
        text = f"deepgram rejected the request ({detail}); check stt model {model!r} and language"
    retry_after_s = _retry_after_s(headers) if status == 429 else None
    return ProviderStatusError(
        text, status_code=status, provider=PROVIDER, model=model, retry_after_s=retry_after_s
    )


def map_error(exc: BaseException, *, model: str, api_key: str, timeout_s: float) -> ProviderError:
    """An SDK/transport exception as the workbench's provider error (never containing the key)."""
    import httpx
    import websockets.exceptions
    from deepgram.core.api_error import ApiError
    from deepgram.core.parse_error import ParsingError

    error: ProviderError
    if isinstance(exc, ProviderError):
        error = exc
    elif isinstance(exc, httpx.TimeoutException | TimeoutError):
        error = ProviderTimeoutError(
            f"deepgram did not answer within {timeout_s:g} s", provider=PROVIDER, model=model
        )
    elif isinstance(exc, ParsingError) or (
        isinstance(exc, ApiError) and (exc.status_code is None or exc.status_code < 300)
    ):
        error = malformed("body is not the documented JSON", model)
    elif isinstance(exc, ApiError):
        error = _status_error(exc.status_code or 0, exc.headers, exc.body, model)
    elif isinstance(
        exc,
        httpx.TransportError | OSError | websockets.exceptions.ConnectionClosedError,
    ):
        error = ProviderConnectionError(
            f"cannot reach deepgram ({type(exc).__name__}: {exc})", provider=PROVIDER, model=model
        )
    else:
        error = ProviderError(
            f"deepgram: {type(exc).__name__}: {exc}", provider=PROVIDER, model=model
        )
    if api_key and api_key in str(error):
        error.args = (str(error).replace(api_key, "***"),)
    return error
