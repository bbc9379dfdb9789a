"""Answering providers behind one base (``LLM``)."""

from assistant.providers.llm.base import LLM, AnswerRequest

__all__ = ["LLM", "AnswerRequest"]
