"""Gemini API through google-genai: one ``models.generate_content_stream`` per question.

The SDK posts to ``models/{model}:streamGenerateContent?alt=sse``; each chunk is a
``GenerateContentResponse`` with text parts, the last one a ``finishReason`` and the full
``usageMetadata`` (``promptTokenCount``, ``candidatesTokenCount``, ``thoughtsTokenCount``: thinking
is billed as output, so it is counted in ``output_tokens``) and ``modelVersion``. A stream that
ends without a finish reason was cut. The SDK's own retries are off (``HttpRetryOptions(attempts=1)``;
the default is already none); ``HttpOptions.timeout`` is in milliseconds.

Gemini 2.5 Flash thinks by default and its thinking counts against ``max_output_tokens``, which
leaves short budgets with an empty answer; its thinking budget is set to 0 here (Flash allows it,
Pro does not). A rejected key comes back as 400 ``API_KEY_INVALID``, mapped to the key hint.
"""

from __future__ import annotations

import re
import time
from typing import Any

from assistant.core.errors import ProviderError
from assistant.core.events import Answer, Usage
from assistant.providers.base import HookOutput
from assistant.providers.cloud import CloudClient
from assistant.providers.keys import (
    KEY_ENVS,
    malformed,
    redact,
    retry_after_s,
    status_error,
    transport_error,
)
from assistant.providers.llm.base import LLM, AnswerRequest
from assistant.providers.llm.prompts import (
    SYSTEM_PROMPT,
    empty_answer_error,
    parse_answer,
    user_message,
)

VENDOR = "google"
KEY_ENV = " or ".join(KEY_ENVS[VENDOR])
_INSTALL_HINT = "the Google provider needs google-genai: pip install -r requirements.txt"
_NO_THINKING = re.compile(r"gemini-2\.5-flash")  # models whose thinking can be switched off
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _sdk() -> tuple[Any, Any]:
    try:
        from google import genai
        from google.genai import types
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(_INSTALL_HINT, provider=VENDOR) from exc
    return genai, types


def make_client(*, api_key: str, base_url: str | None, timeout_s: float) -> Any:
    """A Gemini API (not Vertex) ``genai.Client`` that never retries on its own."""
    genai, types = _sdk()
    options = types.HttpOptions(
        base_url=base_url,
        timeout=max(int(timeout_s * 1000), 1),  # milliseconds
        retry_options=types.HttpRetryOptions(attempts=1),  # the base retries
    )
    return genai.Client(api_key=api_key, vertexai=False, http_options=options)


def generation_config(model: str, max_output_tokens: int, **extra: Any) -> Any:
    _, types = _sdk()
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
    error: ProviderError | None
    if isinstance(exc, ProviderError):
        error = exc
    elif isinstance(exc, errors.UnknownApiResponseError):
        error = malformed(VENDOR, "body is not the documented JSON", **who)
    elif isinstance(exc, errors.APIError) and isinstance(exc.code, int) and exc.code >= 400:
        message = exc.message if isinstance(exc.message, str) else str(exc)
        headers = getattr(getattr(exc, "response", None), "headers", None)
        header_delay = retry_after_s(dict(headers.items())) if headers is not None else None
        error = status_error(
            vendor=VENDOR,
            status=exc.code,
            detail=f"{exc.status}: {message}" if exc.status else message,
            key_env=KEY_ENV,
            retry_after=header_delay if header_delay is not None else _retry_delay_s(exc.details),
            bad_key=_bad_key(exc.details, message),
            **who,
        )
    elif isinstance(exc, errors.APIError):
        error = ProviderError(f"{VENDOR} error: {exc}", **who)
    else:
        error = transport_error(exc, vendor=VENDOR, timeout_s=timeout_s, streamed=streamed, **who)
    if error is None:
        error = ProviderError(f"{VENDOR}: {type(exc).__name__}: {exc}", **who)
    error.args = (redact(str(error), [api_key]),)
    return error


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


class GoogleLLM(CloudClient, LLM):
    system_prompt = SYSTEM_PROMPT  # what the model is told it is (the judge swaps it)

    provider = VENDOR
    local = False

    def _make_client(self) -> Any:
        return make_client(api_key=self._api_key, base_url=self.base_url, timeout_s=self.timeout_s)

    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Answer]:
        started = time.perf_counter()
        ttft_ms: float | None = None
        texts: list[str] = []
        resolved: str | None = None
        metadata: Any = None
        finish: str | None = None
        streamed = False
        config = generation_config(
            self.model, self.max_output_tokens, system_instruction=self.system_prompt
        )
        try:
            stream = self._sdk_client().models.generate_content_stream(
                model=self.model, contents=user_message(request), config=config
            )
            for chunk in stream:
                streamed = True
                resolved = getattr(chunk, "model_version", None) or resolved
                metadata = getattr(chunk, "usage_metadata", None) or metadata
                parts, chunk_finish = answer_parts(chunk)
                if ttft_ms is None and any(parts):
                    ttft_ms = (time.perf_counter() - started) * 1000
                texts += parts
                finish = chunk_finish or finish
        except Exception as exc:
            raise map_error(
                exc,
                model=self.model,
                api_key=self._api_key,
                timeout_s=self.timeout_s,
                streamed=streamed,
            ) from exc
        who = {"provider": VENDOR, "model": self.model}
        if not streamed:
            raise malformed(VENDOR, "the body carried no stream events", **who)
        if finish is None or metadata is None:
            raise ProviderError(
                f"{VENDOR}: the answer stream ended before its finishReason (cut mid-way)", **who
            )
        text = "".join(texts).strip()
        if not text:
            raise empty_answer_error(VENDOR, finish, **who)
        return HookOutput(
            parse_answer(text, request.passages),
            read_usage(metadata, model=self.model),
            resolved if isinstance(resolved, str) else None,
            ttft_ms,
        )
