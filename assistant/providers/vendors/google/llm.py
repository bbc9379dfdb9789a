"""Gemini API through google-genai: one ``models.generate_content_stream`` per question.

The SDK posts to ``models/{model}:streamGenerateContent?alt=sse``; each chunk is a
``GenerateContentResponse`` with text parts, the last one a ``finishReason`` and the full
``usageMetadata`` (``promptTokenCount``, ``candidatesTokenCount``, ``thoughtsTokenCount``: thinking
is billed as output, so it is counted in ``output_tokens``) and ``modelVersion``. A stream that
ends without a finish reason was cut. The client, the generation options (thinking off where
Gemini allows it) and the error mapping are ``client.py``'s.
"""

from __future__ import annotations

from typing import Any

from assistant.core.events import Answer
from assistant.providers.base import HookOutput
from assistant.providers.cloud import StreamedText
from assistant.providers.llm.base import LLM, AnswerRequest
from assistant.providers.llm.prompts import SYSTEM_PROMPT, parse_answer, user_message
from assistant.providers.vendors.google.client import (
    VENDOR,
    GoogleClient,
    answer_parts,
    generation_config,
    read_usage,
)


class GoogleLLM(GoogleClient, LLM):
    system_prompt = SYSTEM_PROMPT  # what the model is told it is (the judge swaps it)

    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Answer]:
        answer = StreamedText()
        metadata: Any = None
        finish: str | None = None
        config = generation_config(
            self.model, self.max_output_tokens, system_instruction=self.system_prompt
        )
        with self._vendor_errors(answer):
            stream = self._sdk_client().models.generate_content_stream(
                model=self.model, contents=user_message(request), config=config
            )
            for chunk in stream:
                answer.event()
                answer.resolved = getattr(chunk, "model_version", None) or answer.resolved
                metadata = getattr(chunk, "usage_metadata", None) or metadata
                parts, chunk_finish = answer_parts(chunk)
                for part in parts:
                    answer.add(part)
                finish = chunk_finish or finish
        cut = finish is None or metadata is None
        text = answer.text(
            vendor=VENDOR,
            model=self.model,
            cut_before="its finishReason" if cut else None,
            finish=finish,
        )
        return HookOutput(
            parse_answer(text, request.passages),
            read_usage(metadata, model=self.model),
            answer.model_resolved,
            answer.ttft_ms,
        )
