"""The offline answerer: extractive, so every word of an answer is quoted from a cited source.

It splits the context (recent transcript, screen text, retrieved knowledge) into sentences, scores
each by the IDF-weighted overlap of its terms with the question's (with a bonus for numbers when
the question asks for a quantity or a date), and answers with the best ``N`` sentences, each
followed by a citation marker. ``local:extractive-1`` is the cheap tier; ``local:extractive-3``
reads the same context but answers with up to three sentences, which finds more key facts at the
price of more words. It cannot reason: a question that needs two facts combined gets the facts,
not the conclusion — the quality scores show that honestly.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from assistant.core.errors import ProviderError
from assistant.core.events import Answer, Passage, Usage
from assistant.core.text import content_terms, has_number, sentences, words
from assistant.providers.base import HookOutput
from assistant.providers.llm.base import LLM, AnswerRequest

NOT_FOUND = "I could not find this in the meeting, on the screen or in the knowledge base."
_QUANTITY = re.compile(
    r"\b(how (many|much|long|often)|what (percent|percentage|share|number|price|rate|date|time|day|year)"
    r"|when|which (date|day|month|year)|cost|budget|deadline|total|target)\b"
)
_SCREEN = re.compile(r"\b(screen|slide|chart|table|shown|showing|see|display|dashboard|this)\b")


class LocalExtractiveLLM(LLM):
    provider = "local"
    local = True

    def __init__(self, *, model: str) -> None:
        match = re.fullmatch(r"extractive-(\d)", model)
        if not match:
            raise ProviderError(
                f"unknown local model {model!r}; use extractive-1 .. extractive-9",
                provider="local",
                model=model,
            )
        super().__init__(model=model)
        self.max_sentences = int(match.group(1))

    def _answer_impl(self, request: AnswerRequest) -> HookOutput[Answer]:
        candidates = [
            Passage(p.source, unit, p.score) for p in request.passages for unit in units_of(p)
        ]
        input_tokens = len(words(request.question)) + sum(len(words(c.text)) for c in candidates)
        ranked = rank(request.question, candidates)
        chosen = [c for c in ranked if c.score > 0][: self.max_sentences]
        if not chosen:
            answer = Answer(NOT_FOUND)
        else:
            parts = [f"{c.text} [{i}]" for i, c in enumerate(chosen, start=1)]
            answer = Answer(" ".join(parts), citations=tuple(chosen))
        usage = Usage(input_tokens=input_tokens, output_tokens=len(words(answer.text)))
        return HookOutput(answer, usage)


def units_of(passage: Passage) -> list[str]:
    """Screen text is read row by row (OCR rows); everything else sentence by sentence."""
    if passage.source == "screen":
        return [" ".join(line.split()) for line in passage.text.splitlines() if line.strip()]
    return sentences(passage.text)


def rank(question: str, candidates: list[Passage]) -> list[Passage]:
    """Candidates scored against the question, best first, duplicates dropped."""
    q_terms = set(content_terms(question))
    if not q_terms or not candidates:
        return []
    docs = [set(content_terms(c.text)) for c in candidates]
    df = Counter(t for d in docs for t in d)
    n = len(docs)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in q_terms}
    wants_number = bool(_QUANTITY.search(question.lower()))
    wants_screen = bool(_SCREEN.search(question.lower()))
    scored: list[Passage] = []
    seen: set[str] = set()
    for cand, terms in zip(candidates, docs, strict=True):
        key = " ".join(sorted(terms))
        if key in seen:
            continue
        seen.add(key)
        overlap = sum(idf[t] for t in q_terms & terms)
        if overlap == 0:
            continue
        score = overlap / math.sqrt(max(len(terms), 4) / 4)
        if wants_number and has_number(cand.text):
            score *= 1.5
        if wants_screen and cand.source == "screen":
            score *= 1.3
        scored.append(Passage(cand.source, cand.text, round(score, 4)))
    scored.sort(key=lambda p: -p.score)
    return scored
