"""Anthropic Messages API: one streamed ``messages.create(stream=True)`` per question.

The stream's documented events carry everything recorded: ``message_start`` the model that answered
and the input tokens, ``content_block_delta`` (``text_delta``) the text, ``message_delta`` the stop
reason and the output tokens so far, ``message_stop`` the end; a stream without ``message_stop`` was
cut. ``ttft_ms`` is the wait for the first text delta. The client and the error mapping (an
``error`` event inside the stream retried like its HTTP status) are ``client.py``'s.
"""

from __future__ import annotations

from assistant.core.events import Answer, Usage
from assistant.providers.base import HookOutput
from assistant.providers.cloud import StreamedText
from assistant.providers.llm.base import LLM, AnswerRequest
from assistant.providers.llm.prompts import SYSTEM_PROMPT, parse_answer, user_message
from assistant.providers.vendors.anthropic.client import VENDOR, AnthropicClient, read_usage


class AnthropicLLM(AnthropicClient, LLM):
    system_prompt = SYSTEM_PROMPT  # what the model is told it is (the judge swaps it)

    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Answer]:
        answer = StreamedText()
        input_tokens = output_tokens = 0
        stop_reason: str | None = None
        stopped = False
        with self._vendor_errors(answer):
            stream = self._sdk_client().messages.create(
                model=self.model,
                max_tokens=self.max_output_tokens,
                system=self.system_prompt,
                messages=[{"role": "user", "content": user_message(request)}],
                stream=True,
            )
            with stream:
                for event in stream:
                    answer.event()
                    kind = getattr(event, "type", None)
                    if kind == "message_start":
                        answer.resolved = getattr(event.message, "model", None)
                        input_tokens, output_tokens = read_usage(
                            event.message.usage, model=self.model
                        )
                    elif kind == "content_block_delta" and event.delta.type == "text_delta":
                        answer.add(event.delta.text)
                    elif kind == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        output_tokens = getattr(event.usage, "output_tokens", None) or output_tokens
                    elif kind == "message_stop":
                        stopped = True
        text = answer.text(
            vendor=VENDOR,
            model=self.model,
            cut_before=None if stopped else "message_stop",
            finish=stop_reason,
        )
        return HookOutput(
            parse_answer(text, request.passages),
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            answer.model_resolved,
            answer.ttft_ms,
        )
