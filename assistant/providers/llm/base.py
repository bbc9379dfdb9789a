"""Answering: one ``_answer_impl`` hook per provider behind the shared retry/timing base."""

from __future__ import annotations

import json
from abc import abstractmethod
from dataclasses import dataclass

from assistant.core.events import Answer, Passage
from assistant.providers.base import CallResult, HookOutput, Provider


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    question: str
    transcript: tuple[Passage, ...] = ()
    screen: tuple[Passage, ...] = ()
    knowledge: tuple[Passage, ...] = ()

    @property
    def passages(self) -> tuple[Passage, ...]:
        return self.screen + self.knowledge + self.transcript


class LLM(Provider):
    @abstractmethod
    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Answer]:
        """Answer the question from the given context, citing the passages used."""

    def answer(self, request: AnswerRequest) -> CallResult[Answer]:
        key = self.cache_key("llm", (_prompt_json(request),))
        return self._invoke(lambda: self._answer_impl(request), key=key)

    def _encode_value(self, value: Answer) -> str:
        return json.dumps(
            {
                "text": value.text,
                "citations": [[c.source, c.text, c.score] for c in value.citations],
                "confidence": value.confidence,
            },
            ensure_ascii=False,
        )

    def _decode_value(self, text: str) -> Answer:
        data = json.loads(text)
        confidence = data.get("confidence")  # absent in results stored before it existed
        return Answer(
            data["text"],
            tuple(Passage(c[0], c[1], float(c[2])) for c in data["citations"]),
            None if confidence is None else float(confidence),
        )


def _prompt_json(request: AnswerRequest) -> str:
    """Everything an answer depends on: the question and each passage in its place (section,
    source, text and retrieval score, which the offline answerer weighs)."""
    sections = (request.transcript, request.screen, request.knowledge)
    return json.dumps(
        [request.question, [[[p.source, p.text, p.score] for p in s] for s in sections]],
        ensure_ascii=False,
    )
