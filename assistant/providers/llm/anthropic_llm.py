"""Anthropic Messages API: one streamed ``messages.create(stream=True)`` per question.

The stream's documented events carry everything recorded: ``message_start`` the model that answered
and the input tokens, ``content_block_delta`` (``text_delta``) the text, ``message_delta`` the stop
reason and the output tokens so far, ``message_stop`` the end; a stream without ``message_stop`` was
cut. ``ttft_ms`` is the wait for the first text delta. The SDK's own retries are off
(``max_retries=0``); an ``error`` event inside the stream (``overloaded_error``) is mapped by its
type to the status it stands for (529), so the base retries it like the HTTP status.
"""

from __future__ import annotations

import time
from typing import Any

from assistant.core.errors import ProviderError, ProviderTimeoutError
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

VENDOR = "anthropic"
KEY_ENV = KEY_ENVS[VENDOR][0]
_INSTALL_HINT = "the Anthropic provider needs the anthropic SDK: pip install -r requirements.txt"
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


def _sdk() -> Any:
    try:
        import anthropic
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(_INSTALL_HINT, provider=VENDOR) from exc
    return anthropic


def make_client(*, api_key: str, base_url: str | None, timeout_s: float) -> Any:
    """An ``anthropic.Anthropic`` client that never retries on its own."""
    return _sdk().Anthropic(
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
    anthropic = _sdk()
    who = {"provider": VENDOR, "model": model}
    error: ProviderError | None
    if isinstance(exc, ProviderError):
        error = exc
    elif isinstance(exc, anthropic.APITimeoutError):
        error = ProviderTimeoutError(f"{VENDOR} did not answer within {timeout_s:g} s", **who)
    elif isinstance(exc, anthropic.APIStatusError):
        kind, message = _error_body(exc.body)
        status = exc.status_code
        if status < 400:  # an ``error`` event inside a 200 stream: its type says which status
            status = ERROR_STATUS.get(kind or "", 0)
        if status:
            error = status_error(
                vendor=VENDOR,
                status=status,
                detail=f"{kind}: {message}" if kind else message or str(exc),
                key_env=KEY_ENV,
                retry_after=retry_after_s(dict(exc.response.headers.items())),
                provider=VENDOR,
                model=model,
            )
        else:
            error = ProviderError(f"{VENDOR} stream error: {message or exc}", **who)
    elif isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or OSError(str(exc))
        error = transport_error(cause, vendor=VENDOR, timeout_s=timeout_s, streamed=streamed, **who)
    elif isinstance(exc, anthropic.APIResponseValidationError):
        error = malformed(VENDOR, "body is not the documented JSON", **who)
    else:
        error = transport_error(exc, vendor=VENDOR, timeout_s=timeout_s, streamed=streamed, **who)
    if error is None:
        error = ProviderError(f"{VENDOR}: {type(exc).__name__}: {exc}", **who)
    error.args = (redact(str(error), [api_key]),)
    return error


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


class AnthropicLLM(CloudClient, LLM):
    system_prompt = SYSTEM_PROMPT  # what the model is told it is (the judge swaps it)

    provider = VENDOR
    local = False

    def _make_client(self) -> Any:
        return make_client(api_key=self._api_key, base_url=self.base_url, timeout_s=self.timeout_s)

    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Answer]:
        started = time.perf_counter()
        ttft_ms: float | None = None
        parts: list[str] = []
        resolved: str | None = None
        input_tokens = output_tokens = 0
        stop_reason: str | None = None
        streamed = stopped = False
        try:
            stream = self._sdk_client().messages.create(
                model=self.model,
                max_tokens=self.max_output_tokens,
                system=self.system_prompt,
                messages=[{"role": "user", "content": user_message(request)}],
                stream=True,
            )
            with stream:
                for event in stream:
                    streamed = True
                    kind = getattr(event, "type", None)
                    if kind == "message_start":
                        resolved = getattr(event.message, "model", None)
                        input_tokens, output_tokens = read_usage(
                            event.message.usage, model=self.model
                        )
                    elif kind == "content_block_delta" and event.delta.type == "text_delta":
                        if ttft_ms is None and event.delta.text:
                            ttft_ms = (time.perf_counter() - started) * 1000
                        parts.append(event.delta.text)
                    elif kind == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        output_tokens = getattr(event.usage, "output_tokens", None) or output_tokens
                    elif kind == "message_stop":
                        stopped = True
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
        if not stopped:
            raise ProviderError(
                f"{VENDOR}: the answer stream ended before message_stop (cut mid-way)", **who
            )
        text = "".join(parts).strip()
        if not text:
            raise empty_answer_error(VENDOR, stop_reason, **who)
        return HookOutput(
            parse_answer(text, request.passages),
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            resolved if isinstance(resolved, str) else None,
            ttft_ms,
        )
