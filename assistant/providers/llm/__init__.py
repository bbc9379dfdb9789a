"""Answering a question from its context: the ``LLM`` base, the offline answerer, the cloud adapters in ``providers/vendors/<vendor>/llm.py``."""

from assistant.providers.llm.base import LLM, AnswerRequest

__all__ = ["LLM", "AnswerRequest"]
