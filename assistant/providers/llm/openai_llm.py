"""OpenAI chat completions, and every server that speaks them (Ollama, vLLM, llama.cpp, LM Studio).

One streamed ``chat.completions.create`` per question with ``stream_options={"include_usage":
True}``: the last chunk before ``[DONE]`` carries the usage (``choices`` empty), every chunk the
``model`` that answered. ``ttft_ms`` is the wait for the first chunk with content. The SDK's own
retries are off (``max_retries=0``) since the base owns retries; its exceptions map to the
workbench's (``map_error``). A stream that ends without a finish reason was cut, and is an error.

For an OpenAI-compatible server pass ``provider`` (the name the ledger and pricing see, e.g.
"ollama") and its ``base_url``; it is sent ``max_tokens`` (what those servers read) instead of
``max_completion_tokens``, and may omit the usage chunk. ``local=True`` (a loopback server) has the
call priced by compute seconds like the other local providers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from assistant.core.errors import ProviderError, ProviderTimeoutError
from assistant.core.events import Answer, Usage
from assistant.providers.base import HookOutput, RetryPolicy
from assistant.providers.cloud import CloudClient
from assistant.providers.keys import (
    KEY_ENVS,
    env_name,
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

VENDOR = "openai"
_INSTALL_HINT = "the OpenAI provider needs the openai SDK: pip install -r requirements.txt"


def _sdk() -> Any:
    try:
        import openai
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(_INSTALL_HINT, provider=VENDOR) from exc
    return openai


def make_client(*, api_key: str, base_url: str | None, timeout_s: float) -> Any:
    """An ``openai.OpenAI`` client that never retries on its own."""
    return _sdk().OpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,  # the base retries
    )


def key_env(provider: str) -> str:
    return KEY_ENVS[VENDOR][0] if provider == VENDOR else env_name(provider, "API_KEY")


def _detail(body: Any, fallback: str) -> str:
    """``error.message`` of OpenAI's documented error body, else the SDK's text."""
    error = body.get("error", body) if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else fallback


_STREAM_ERROR_STATUS = {"server_error": 500, "rate_limit_exceeded": 429, "requests": 429}


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
    openai = _sdk()
    error: ProviderError | None
    if isinstance(exc, ProviderError):
        error = exc
    elif isinstance(exc, openai.APITimeoutError):
        error = ProviderTimeoutError(
            f"{provider} did not answer within {timeout_s:g} s", provider=provider, model=model
        )
    elif isinstance(exc, openai.APIStatusError):
        error = status_error(
            vendor=provider,
            provider=provider,
            model=model,
            status=exc.status_code,
            detail=_detail(exc.body, exc.message),
            key_env=key_env(provider),
            retry_after=retry_after_s(dict(exc.response.headers.items())),
        )
    elif isinstance(exc, openai.APIConnectionError):
        error = transport_error(
            exc.__cause__ or OSError(str(exc)),
            vendor=provider,
            provider=provider,
            model=model,
            timeout_s=timeout_s,
            streamed=streamed,
        )
    elif isinstance(exc, openai.APIResponseValidationError):
        error = malformed(
            provider, "body is not the documented JSON", provider=provider, model=model
        )
    elif isinstance(exc, openai.APIError):  # an {"error": ...} event inside the stream
        body = exc.body if isinstance(exc.body, dict) else {}
        kind = body.get("code") or body.get("type")
        status = _STREAM_ERROR_STATUS.get(kind) if isinstance(kind, str) else None
        error = (
            status_error(
                vendor=provider,
                provider=provider,
                model=model,
                status=status,
                detail=exc.message,
                key_env=key_env(provider),
            )
            if status
            else ProviderError(
                f"{provider} stream error: {exc.message}", provider=provider, model=model
            )
        )
    else:
        error = transport_error(
            exc,
            vendor=provider,
            provider=provider,
            model=model,
            timeout_s=timeout_s,
            streamed=streamed,
        )
    if error is None:
        error = ProviderError(
            f"{provider}: {type(exc).__name__}: {exc}", provider=provider, model=model
        )
    error.args = (redact(str(error), [api_key]),)
    return error


class OpenAILLM(CloudClient, LLM):
    system_prompt = SYSTEM_PROMPT  # what the model is told it is (the judge swaps it)

    provider = VENDOR
    local = False

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        max_output_tokens: int = 300,
        provider: str = VENDOR,
        local: bool = False,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if provider != VENDOR and not base_url:
            raise ProviderError(
                f"{provider} is an OpenAI-compatible server: it needs a base_url "
                f"(set {env_name(provider, 'BASE_URL')})",
                provider=provider,
                model=model,
            )
        self.provider = provider
        self.local = local
        self.compatible = provider != VENDOR
        super().__init__(
            model=model,
            api_key=api_key,
            base_url=base_url,
            timeout_s=timeout_s,
            max_output_tokens=max_output_tokens,
            policy=policy,
            sleep=sleep,
        )

    def __repr__(self) -> str:  # never the key
        return f"OpenAILLM(provider={self.provider!r}, model={self.model!r}, base_url={self.base_url!r})"

    def _make_client(self) -> Any:
        return make_client(api_key=self._api_key, base_url=self.base_url, timeout_s=self.timeout_s)

    def _limit(self) -> dict[str, int]:
        key = "max_tokens" if self.compatible else "max_completion_tokens"
        return {key: self.max_output_tokens}

    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Answer]:
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": user_message(request)},
        ]
        started = time.perf_counter()
        ttft_ms: float | None = None
        parts: list[str] = []
        usage: Any = None
        resolved: str | None = None
        finish: str | None = None
        streamed = False
        try:
            stream = self._sdk_client().chat.completions.create(
                model=self.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **self._limit(),
            )
            with stream:
                for chunk in stream:
                    streamed = True
                    resolved = getattr(chunk, "model", None) or resolved
                    usage = getattr(chunk, "usage", None) or usage
                    for choice in getattr(chunk, "choices", None) or ():
                        content = getattr(choice.delta, "content", None)
                        if content:
                            if ttft_ms is None:
                                ttft_ms = (time.perf_counter() - started) * 1000
                            parts.append(content)
                        finish = getattr(choice, "finish_reason", None) or finish
        except Exception as exc:
            raise map_error(
                exc,
                provider=self.provider,
                model=self.model,
                api_key=self._api_key,
                timeout_s=self.timeout_s,
                streamed=streamed,
            ) from exc
        return HookOutput(
            parse_answer(self._text(parts, finish, usage, streamed), request.passages),
            self._usage(usage),
            resolved if isinstance(resolved, str) else None,
            ttft_ms,
        )

    def _text(self, parts: list[str], finish: str | None, usage: Any, streamed: bool) -> str:
        who = {"provider": self.provider, "model": self.model}
        if not streamed:
            raise malformed(self.provider, "the body carried no stream events", **who)
        if finish is None:
            raise ProviderError(
                f"{self.provider}: the answer stream ended before its finish reason (cut mid-way)",
                **who,
            )
        if usage is None and not self.compatible:
            raise ProviderError(
                f"{self.provider}: the answer stream ended before its usage chunk (cut mid-way)",
                **who,
            )
        text = "".join(parts).strip()
        if not text:
            raise empty_answer_error(self.provider, finish, **who)
        return text

    def _usage(self, usage: Any) -> Usage:
        if usage is None:  # an OpenAI-compatible server that does not report usage
            return Usage()
        prompt, completion = (
            getattr(usage, "prompt_tokens", None),
            getattr(usage, "completion_tokens", None),
        )
        if not isinstance(prompt, int) or not isinstance(completion, int):
            raise malformed(
                self.provider,
                "usage lacks prompt_tokens/completion_tokens",
                provider=self.provider,
                model=self.model,
            )
        return Usage(input_tokens=prompt, output_tokens=completion)
