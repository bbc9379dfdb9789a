"""The answer cache: answers by content hash (provider spec, question, every passage)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from assistant.core.events import Answer, Passage, Usage
from assistant.ledger.records import AnswerCacheRecord
from assistant.providers.llm.base import AnswerRequest


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    spec: str
    answer: Answer
    usage: Usage


def answer_key(spec: str, request: AnswerRequest) -> str:
    """The content hash an answer is cached under: provider spec, question, every passage."""
    payload = json.dumps(
        [spec, request.question, [[p.source, p.text] for p in request.passages]],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _answer_json(answer: Answer) -> str:
    citations = [{"source": c.source, "text": c.text, "score": c.score} for c in answer.citations]
    return json.dumps(
        {"text": answer.text, "citations": citations, "confidence": answer.confidence},
        ensure_ascii=False,
    )


def _answer_from_json(text: str) -> Answer:
    data = json.loads(text)
    return Answer(
        data["text"],
        tuple(Passage(c["source"], c["text"], c.get("score", 0.0)) for c in data["citations"]),
        data.get("confidence"),
    )


class AnswerCache:
    """Answers by content hash (see ``answer_key``): the same question with the same context, asked
    of the same model, is answered once. ``load`` fills it from ledger rows; ``put`` returns the
    row to persist (None when the ledger has it already).

    With ``stored_lookups=False`` the loaded rows only keep ``put`` from storing them twice: a
    run answers from the answers it made itself, and asks its providers for the others (with
    ``--no-cache``, or when the call cache answers for them, recording the hits as calls)."""

    def __init__(self, *, stored_lookups: bool = True) -> None:
        self._entries: dict[str, CachedAnswer] = {}
        self._stored: set[str] = set()  # keys the ledger holds
        self.stored_lookups = stored_lookups

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CachedAnswer | None:
        return self._entries.get(key)

    def put(self, key: str, spec: str, answer: Answer, usage: Usage) -> AnswerCacheRecord | None:
        self._entries[key] = CachedAnswer(spec, answer, usage)
        if key in self._stored:
            return None
        self._stored.add(key)
        return AnswerCacheRecord(
            key=key,
            spec=spec,
            answer_json=_answer_json(answer),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )

    def load(self, rows: list[tuple[str, str, str, int, int]]) -> None:
        """Add ``(key, spec, answer_json, input_tokens, output_tokens)`` rows."""
        for key, spec, answer_json, input_tokens, output_tokens in rows:
            self._stored.add(key)
            if not self.stored_lookups:
                continue
            self._entries[key] = CachedAnswer(
                spec, _answer_from_json(answer_json), Usage(int(input_tokens), int(output_tokens))
            )
