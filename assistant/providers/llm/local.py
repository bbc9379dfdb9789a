"""The offline answerer: extractive, so every word of an answer is quoted from a cited source.

It splits the context into candidates and scores each by the IDF-weighted overlap of its terms with
the question's, with a bonus when it holds the kind of answer the question asks for (a number for
"how many", a date for "when"). The screen is read as a structured reading
(:mod:`assistant.core.screen`): the candidates are its content lines and its table rows and cells,
each cell with its row and column headers ("EMEA · Q3 2025 · $1.32M"); its title only when the
question asks for one. Transcript and knowledge are read sentence by sentence.

``local:extractive-1`` (the cheap tier) answers with the best candidate, and with a second one when
the question names two things ("... and how many failed?") that the first does not cover;
``local:extractive-3`` answers with up to three. Each is followed by its citation marker. It cannot
reason: a question that needs two facts combined (a sum, a difference) gets the facts, not the
conclusion, and a question worded unlike anything on the screen finds only what its answer type
(number, date) points at. When nothing matches it says so (an abstention, recorded as such).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from assistant.core.errors import ProviderError
from assistant.core.events import Answer, Passage, Usage
from assistant.core.screen import CELL_SEPARATOR, ScreenReading, parse_reading
from assistant.core.text import content_terms, has_number, sentences, words
from assistant.providers.base import HookOutput
from assistant.providers.llm.base import LLM, AnswerRequest

NOT_FOUND = "I could not find this in the meeting, on the screen or in the knowledge base."
_QUANTITY = re.compile(
    r"\b(how (many|much|long|often|high|low|big|fast)|what (percent|percentage|share|number|price"
    r"|rate|date|time|day|year|range|value|weight|size)|when|which (date|day|month|year)|cost"
    r"|budget|deadline|total|target)\b"
)
_DATE_QUESTION = re.compile(
    r"\b(when|what (date|day|month|year|time)|which (date|day|month|year)|date of|dated)\b"
)
_DATE = re.compile(
    r"\b(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}|(19|20)\d\d"
    r"|(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2})\b",
    re.IGNORECASE,
)
_TITLE_QUESTION = re.compile(
    r"\b(title|titled|heading|called|named|name of (the|this) (slide|talk|deck|presentation|page)"
    r"|what is (this|the) (slide|talk|deck|presentation|page) about)\b"
)
_SCREEN = re.compile(r"\b(screen|slide|chart|table|shown|showing|see|display|dashboard|this)\b")
_TWO_THINGS = re.compile(r"\b(and|as well as|along with)\b|,")
_PROSE_END = (".", ":", ";", "?", "!")


@dataclass(frozen=True, slots=True)
class _Candidate:
    passage: Passage
    value: str  # what the answer-type bonus looks at (a cell's value; else the whole text)


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
        asks_title = bool(_TITLE_QUESTION.search(request.question.lower()))
        candidates = [c for p in request.passages for c in candidates_of(p, title=asks_title)]
        input_tokens = len(words(request.question)) + sum(
            len(words(p.text)) for p in request.passages
        )
        ranked = rank(request.question, candidates)
        chosen = choose(request.question, ranked, limit=self.max_sentences)
        if not chosen:
            answer = Answer(NOT_FOUND)
        else:
            parts = [f"{c.text} [{i}]" for i, c in enumerate(chosen, start=1)]
            answer = Answer(" ".join(parts), citations=tuple(chosen))
        usage = Usage(input_tokens=input_tokens, output_tokens=len(words(answer.text)))
        return HookOutput(answer, usage)


def _screen_lines(lines: tuple[str, ...]) -> list[str]:
    """A text block's lines, a line wrapped onto the next (no closing punctuation, the next
    starting in lower case) joined back into one."""
    out: list[str] = []
    for raw in lines:
        line = " ".join(raw.split())
        if out and not out[-1].endswith(_PROSE_END) and line[:1].islower():
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def screen_candidates(reading: ScreenReading, *, title: bool = False) -> list[tuple[str, str]]:
    """``(text, value)`` pairs a screen offers as answers: content lines, each table row with
    its column headers and each cell with its row and column headers; the title only when
    ``title`` (a question about the title)."""
    out: list[tuple[str, str]] = []
    if title and reading.title:
        out.append((reading.title, reading.title))
    for block in reading.blocks:
        out += [(line, line) for line in _screen_lines(block.lines)]
    for table in reading.tables:
        if len(table.rows) == 1:
            out.append((CELL_SEPARATOR.join(c for c in table.rows[0] if c),) * 2)
            continue
        for r in range(1, len(table.rows)):
            row = table.row_text(r)
            out.append((row, row))
        out += [(cell.with_headers(), cell.text) for cell in table.cells()]
    return out


def candidates_of(passage: Passage, *, title: bool = False) -> list[_Candidate]:
    """Screen text is read as a structured reading; everything else sentence by sentence."""
    if passage.source == "screen":
        pairs = screen_candidates(parse_reading(passage.text), title=title)
        return [_Candidate(Passage(passage.source, t, passage.score), v) for t, v in pairs]
    return [
        _Candidate(Passage(passage.source, s, passage.score), s) for s in sentences(passage.text)
    ]


def units_of(passage: Passage) -> list[str]:
    """The candidate texts of one passage (the title left out)."""
    return [c.passage.text for c in candidates_of(passage)]


def rank(question: str, candidates: list[_Candidate]) -> list[Passage]:
    """Candidates scored against the question, best first, duplicates dropped. A candidate with
    no term of the question still counts when it holds the date a "when" question asks for."""
    q_terms = set(content_terms(question))
    if not q_terms or not candidates:
        return []
    docs = [set(content_terms(c.passage.text)) for c in candidates]
    df = Counter(t for d in docs for t in d)
    n = len(docs)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in q_terms}
    lowered = question.lower()
    wants_number = bool(_QUANTITY.search(lowered))
    wants_date = bool(_DATE_QUESTION.search(lowered))
    wants_screen = bool(_SCREEN.search(lowered))
    floor = min(idf.values()) / 2  # what a date alone is worth to a "when" question
    scored: list[Passage] = []
    seen: set[str] = set()
    for cand, terms in zip(candidates, docs, strict=True):
        key = " ".join(sorted(terms))
        if key in seen:
            continue
        seen.add(key)
        overlap = sum(idf[t] for t in q_terms & terms)
        dated = wants_date and bool(_DATE.search(cand.value))
        if overlap == 0 and not dated:
            continue
        score = (overlap or floor) / math.sqrt(max(len(terms), 4) / 4)
        if wants_number and has_number(cand.value):
            score *= 1.5
        if dated:
            score *= 1.5
        if wants_screen and cand.passage.source == "screen":
            score *= 1.3
        scored.append(Passage(cand.passage.source, cand.passage.text, round(score, 4)))
    scored.sort(key=lambda p: -p.score)
    return scored


def choose(question: str, ranked: list[Passage], *, limit: int) -> list[Passage]:
    """The best candidates: up to ``limit``; one more for a question that names two things
    (joined by "and" or a comma) when the best leaves some of its terms uncovered."""
    ranked = [c for c in ranked if c.score > 0]
    if not ranked:
        return []
    chosen = ranked[:limit]
    if len(chosen) >= 2 or not _TWO_THINGS.search(question.lower()):
        return chosen
    q_terms = set(content_terms(question))
    covered = set(content_terms(chosen[0].text)) & q_terms
    for cand in ranked[1:]:
        adds = (set(content_terms(cand.text)) & q_terms) - covered
        if adds and cand.text not in chosen[0].text:
            return [*chosen, cand]
    return chosen
