"""Answering: one ``_answer_impl`` hook per provider behind the shared retry/timing base."""

from __future__ import annotations

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
        return self._invoke(lambda: self._answer_impl(request))
