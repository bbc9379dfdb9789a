"""OpenAI chat completions, and every server that speaks them (Ollama, vLLM, llama.cpp, LM Studio).

One streamed ``chat.completions.create`` per question with ``stream_options={"include_usage":
True}``: the last chunk before ``[DONE]`` carries the usage (``choices`` empty), every chunk the
``model`` that answered. ``ttft_ms`` is the wait for the first chunk with content. The client and
the error mapping are ``client.py``'s. A stream that ends without a finish reason was cut, and is
an error.

For an OpenAI-compatible server set ``CloudOptions.provider`` (the name the ledger and pricing
see, e.g. "ollama") and its ``base_url``; it is sent ``max_tokens`` (what those servers read)
instead of ``max_completion_tokens``, and may omit the usage chunk. ``local=True`` (a loopback server) has the
call priced by compute seconds like the other local providers.
"""

from __future__ import annotations

from typing import Any

from assistant.core.events import Answer, Usage
from assistant.providers.base import HookOutput
from assistant.providers.cloud import StreamedText
from assistant.providers.errors import malformed
from assistant.providers.llm.base import LLM, AnswerRequest
from assistant.providers.llm.prompts import SYSTEM_PROMPT, parse_answer, user_message
from assistant.providers.vendors.openai.client import OpenAIClient


class OpenAILLM(OpenAIClient, LLM):
    system_prompt = SYSTEM_PROMPT  # what the model is told it is (the judge swaps it)

    def __repr__(self) -> str:  # never the key
        return f"OpenAILLM(provider={self.provider!r}, model={self.model!r}, base_url={self.base_url!r})"

    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Answer]:
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": user_message(request)},
        ]
        answer = StreamedText()
        usage: Any = None
        finish: str | None = None
        with self._vendor_errors(answer):
            stream = self._sdk_client().chat.completions.create(
                model=self.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **self._token_limit(),
            )
            with stream:
                for chunk in stream:
                    answer.event()
                    answer.resolved = getattr(chunk, "model", None) or answer.resolved
                    usage = getattr(chunk, "usage", None) or usage
                    for choice in getattr(chunk, "choices", None) or ():
                        content = getattr(choice.delta, "content", None)
                        if content:
                            answer.add(content)
                        finish = getattr(choice, "finish_reason", None) or finish
        if finish is None:
            cut_before: str | None = "its finish reason"
        elif usage is None and not self.compatible:
            cut_before = "its usage chunk"
        else:
            cut_before = None
        text = answer.text(
            vendor=self.provider, model=self.model, cut_before=cut_before, finish=finish
        )
        return HookOutput(
            parse_answer(text, request.passages),
            self._usage(usage),
            answer.model_resolved,
            answer.ttft_ms,
        )

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
