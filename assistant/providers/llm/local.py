"""The offline answerer: extractive, so an answer is quoted from cited sources (a computed sum or
difference, the one exception, is followed by the two quoted values it came from).

It splits the context into candidates and scores each by the IDF-weighted overlap of its terms with
the question's, with a bonus when it holds the kind of answer the question asks for (a number for
"how many", a date for "when") and when it names what the question asks about (its focus: "Which
host ..." → host). The screen is read as a structured reading
(:mod:`assistant.core.screen`): the candidates are its content lines and its table rows and cells,
each cell with its row and column headers ("EMEA · Q3 2025 · $1.32M"); its title only when the
question asks for one. Transcript and knowledge are read sentence by sentence.

``local:extractive-1`` (the cheap tier) answers with the best candidate, and with a second one when
the question names two things ("... and how many failed?") that the first does not cover;
``local:extractive-3`` answers with up to three. Each is followed by its citation marker. The one
computation it does is a sum or a difference of two values read in one column, when the question
asks for it and names both rows (:mod:`.arithmetic`); the result comes first, both values quoted
and cited after it. It cannot reason otherwise, and a question worded unlike anything on the
screen finds only what its answer type (number, date) points at. When nothing matches it says so
(an abstention, recorded as such). Each answer carries a confidence (:func:`support`: the share of
the question's term weight its best candidate holds), which the cascade
(``assistant.routing.cascade``) judges a cheap answer by.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import pairwise

from assistant.core.errors import ProviderError
from assistant.core.events import Answer, Passage, Usage
from assistant.core.screen import CELL_SEPARATOR, ScreenReading, parse_reading
from assistant.core.text import content_terms, has_number, sentences, words
from assistant.providers.base import HookOutput
from assistant.providers.llm import arithmetic
from assistant.providers.llm.base import LLM, AnswerRequest

FUZZY_RATIO = 0.7  # a screen word this alike a question word counts as a misread of it ...
FUZZY_WEIGHT = 0.5  # ... at this share of the word's weight
FUZZY_MIN_LETTERS = 5
ASKED_WEIGHT = 2.0  # the words naming what is asked for ("what error percentage ...") count more
CLOSE_SECOND = 0.8  # a second candidate this close to the best is given too (one tier of one)
NOT_FOUND = "I could not find this in the meeting, on the screen or in the knowledge base."
_QUANTITY = re.compile(
    r"\b(how (many|much|long|often|high|low|big|fast)|what (percent|percentage|share|number|price"
    r"|rate|date|time|day|year|range|value|weight|size)|when|which (date|day|month|year)|cost"
    r"|budget|deadline|total|target|number|amount|count|percentage|percent|rate|size|weight"
    r"|price|range|level)\b"
)
_DATE_QUESTION = re.compile(
    r"\b(when|what (date|day|month|year|time)|which (date|day|month|year)|date of|dated)\b"
)
_DATE = re.compile(
    r"\b(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}|(?<![\d-])(19|20)\d\d(?![\d-])"
    r"|(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2})\b",
    re.IGNORECASE,
)
_TITLE_QUESTION = re.compile(
    r"\b(title|titled|heading|called|named|name of (the|this) (slide|talk|deck|presentation|page)"
    r"|what is (this|the) (slide|talk|deck|presentation|page) about)\b"
)
_ADDRESS_QUESTION = re.compile(r"\b(url|link|address|site|website|host|domain|doi|page|repo\w*)\b")
_SCREEN = re.compile(r"\b(screen|slide|chart|table|shown|showing|see|display|dashboard|this)\b")
_PROSE_END = (".", ":", ";", "?", "!")


_PERCENT_QUESTION = re.compile(r"\b(percent|percentage|per cent)\b|%")
_COLUMNS_QUESTION = re.compile(r"\b(columns?|headers?|headings?|fields?)\b")


@dataclass(frozen=True, slots=True)
class _Candidate:
    passage: Passage
    value: str  # what the answer-type bonus looks at (a cell's value; else the whole text)
    title: bool = False  # the screen's title (a candidate only when the question asks for it)
    header: bool = False  # a table's header row: names columns, answers only a question on them
    row: str = ""  # what names the value: a cell's row header, a form label
    column: str = ""  # a cell's column header


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
        scored = _rank(request.question, candidates)
        ranked = [p for _, p in scored]
        chosen = choose(request.question, ranked, limit=self.max_sentences)
        computed = _computed(request.question, scored)
        if computed is not None:  # both rows named and read: as sure as it gets
            text, operands = computed
            parts = [f"{c.text} [{i}]" for i, c in enumerate(operands, start=1)]
            answer = Answer(f"{text}: " + " ".join(parts), citations=operands, confidence=1.0)
        elif not chosen:
            answer = Answer(NOT_FOUND, confidence=0.0)
        else:
            parts = [f"{c.text} [{i}]" for i, c in enumerate(chosen, start=1)]
            confidence = support(request.question, candidates, chosen[0].text)
            answer = Answer(" ".join(parts), citations=tuple(chosen), confidence=confidence)
        usage = Usage(input_tokens=input_tokens, output_tokens=len(words(answer.text)))
        return HookOutput(answer, usage)


_SENTENCE_BREAK = re.compile(r"(?<=[^\W\d_]{2}[.!?])\s+(?=[A-Z0-9\"'(])")  # not after "4."
_URL = re.compile(r"\b(https?://|www\.)\S+|\b\S+\.(com|org|net|io|de|uk)(/\S*)?", re.IGNORECASE)


def _screen_lines(lines: tuple[str, ...]) -> list[str]:
    """A text block's lines, a line wrapped onto the next (no closing punctuation, the next
    starting in lower case) joined back, and prose split into sentences."""
    out: list[str] = []
    for raw in lines:
        line = " ".join(raw.split())
        if out and not out[-1].endswith(_PROSE_END) and line[:1].islower():
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return [s for line in out for s in _SENTENCE_BREAK.split(line) if s]


def _is_value(line: str) -> bool:
    """A line that is only a value (a number, a date, an address): a form field's content."""
    return len(line.split()) <= 3 and (has_number(line) or bool(_URL.search(line)))


def _block_candidates(lines: list[str]) -> list[tuple[str, str, str]]:
    """``(text, value, label)`` for each line, and for each label line with the value line under
    it ("Host · https://...", label "Host")."""
    out: dict[int, tuple[str, str, str]] = {i: (line, line, "") for i, line in enumerate(lines)}
    for i, (label, value) in enumerate(pairwise(lines)):
        if _is_value(value) and not _is_value(label) and len(label.split()) <= 8:
            out[i] = (f"{label}{CELL_SEPARATOR}{value}", value, label)  # the label alone: nothing
    return list(out.values())


def screen_candidates(reading: ScreenReading, *, title: bool = False) -> list[_Candidate]:
    """What a screen offers as answers: content lines (a form's label with its value), each
    table row with its column headers and each cell with its row and column headers; the title
    only when ``title`` (a question about the title); each table's header row, marked as such."""

    def offer(text: str, value: str | None = None, **kind: object) -> _Candidate:
        return _Candidate(Passage("screen", text), text if value is None else value, **kind)  # type: ignore[arg-type]

    out: list[_Candidate] = []
    if title and reading.title:
        out.append(offer(reading.title, title=True))
    # a form's label and its value may be a block apart: pairs are made across blocks
    lines = [ln for b in reading.blocks for ln in _screen_lines(b.lines)]
    for text, value, label in _block_candidates(lines):
        out.append(offer(text, value, row=label))
    for table in reading.tables:
        out.append(offer(CELL_SEPARATOR.join(c for c in table.rows[0] if c), header=True))
        out += [offer(table.row_text(r)) for r in range(1, len(table.rows))]
        out += [
            offer(cell.with_headers(), cell.text, row=cell.row_header, column=cell.column_header)
            for cell in table.cells()
        ]
    return out


def candidates_of(passage: Passage, *, title: bool = False) -> list[_Candidate]:
    """Screen text is read as a structured reading; everything else sentence by sentence."""
    if passage.source == "screen":
        reading = parse_reading(passage.text)
        return [
            dataclasses.replace(c, passage=Passage(passage.source, c.passage.text, passage.score))
            for c in screen_candidates(reading, title=title)
        ]
    return [
        _Candidate(Passage(passage.source, s, passage.score), s) for s in sentences(passage.text)
    ]


def units_of(passage: Passage) -> list[str]:
    """The candidate texts of one passage (the title left out)."""
    return [c.passage.text for c in candidates_of(passage)]


_FOCUS = re.compile(r"\b(which|what|how many|how much)\s+(.*)")


def focus_term(question: str) -> str | None:
    """What the question asks about: the first content word after its question word ("Which
    host ..." → host, "How many requests ..." → request), None when there is none close by."""
    match = _FOCUS.search(question.lower())
    if not match:
        return None
    following = match.group(2).split()[:3]
    terms = content_terms(" ".join(following))
    return terms[0] if terms else None


_VERB = frozenset(
    "is are was were be been does do did has have had can could will would should may might"
    .split()
)


def asked_terms(question: str) -> set[str]:
    """The terms of what the question asks for: the words between "what" or "which" and the
    verb ("What error percentage and throughput does ..." → error, percentage, throughput;
    "What is ..." → none). Not after "how many": what is counted is mostly a unit ("days",
    "users") that many passages hold."""
    match = _FOCUS.search(question.lower())
    if not match or match.group(1).startswith("how"):
        return set()
    phrase: list[str] = []
    for word in match.group(2).split():
        if word.strip(",.?!") in _VERB:
            break
        phrase.append(word)
    return set(content_terms(" ".join(phrase[:6])))


def _names(terms: set[str], focus: str) -> bool:
    """Does a candidate with these terms name the focus ("cache" in "x-cache" too)?"""
    return focus in terms or any(focus in t.split("-") for t in terms)


def rank(question: str, candidates: list[_Candidate]) -> list[Passage]:
    """Candidates scored against the question, best first, duplicates dropped. A candidate with
    no term of the question still counts when it holds the date a "when" question asks for."""
    return [p for _, p in _rank(question, candidates)]


def _rank(question: str, candidates: list[_Candidate]) -> list[tuple[_Candidate, Passage]]:
    """:func:`rank`, each scored passage with the candidate it came from."""
    q_terms = set(content_terms(question))
    if not q_terms or not candidates:
        return []
    docs = [set(content_terms(c.passage.text)) for c in candidates]
    sizes = [len(set(content_terms(_URL.sub(" url ", c.passage.text)))) for c in candidates]
    df = Counter(t for d in docs for t in d)
    n = len(docs)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in q_terms}
    for t in asked_terms(question) & q_terms:
        idf[t] *= ASKED_WEIGHT  # what is asked for weighs more than what it is asked about
    lowered = question.lower()
    wants_number = bool(_QUANTITY.search(lowered))
    wants_date = bool(_DATE_QUESTION.search(lowered))
    wants_screen = bool(_SCREEN.search(lowered))
    focus = focus_term(question)
    named = [focus is not None and _names(terms, focus) for terms in docs]
    if not any(named):
        focus = None  # nothing names it: no candidate is held to it
    anchors = {t for t in q_terms if any(ch.isdigit() for ch in t) or "/" in t or "." in t}
    wants_address = bool(_ADDRESS_QUESTION.search(lowered))
    floor = min(idf.values()) / 2  # what a date alone is worth to a "when" question
    asks_columns = bool(_COLUMNS_QUESTION.search(lowered))
    wants_percent = bool(_PERCENT_QUESTION.search(lowered))
    near = _near_terms({t for t in q_terms if not df[t]}, docs)
    scored: list[tuple[_Candidate, Passage]] = []
    seen: set[str] = set()
    for cand, terms, size, has_focus in zip(candidates, docs, sizes, named, strict=True):
        key = " ".join(sorted(terms))
        if key in seen:
            continue
        seen.add(key)
        overlap = sum(idf[t] for t in q_terms & terms)
        overlap += sum(FUZZY_WEIGHT * idf[t] for t in near if near[t] & terms)
        dated = wants_date and bool(_DATE.search(cand.value))
        typed = wants_percent and "%" in cand.value
        if cand.title:  # asked for: the title answers whatever its words
            overlap = max(overlap, max(idf.values()))
        if overlap == 0 and not dated and not typed:
            continue
        score = (overlap or floor) / math.sqrt(max(size, 4) / 4)  # an address is one term
        if wants_number and has_number(cand.value):
            score *= 1.5
        if dated:
            score *= 1.5
        if typed:  # a percentage asked for, a percentage held (its header may be unreadable)
            score *= 1.5
        if focus is not None:
            score *= 1.5 if has_focus else 0.5
            name = cand.column or cand.row
            if name and _names(set(content_terms(name)), focus):
                score *= 2.0  # a value under the header or label the question names
        if cand.header and not asks_columns:
            score *= 0.3  # a header row names what a table holds, not an answer
        if anchors and anchors <= terms:  # holds the question's numbers and names ("2020-003")
            score *= 2.0
        if not wants_address and _URL.fullmatch(cand.value.strip()):
            score *= 0.3  # a bare address answers only a question about an address
        if wants_screen and cand.passage.source == "screen":
            score *= 1.3
        scored.append((cand, Passage(cand.passage.source, cand.passage.text, round(score, 4))))
    scored.sort(key=lambda cp: -cp[1].score)
    return scored


def support(question: str, candidates: list[_Candidate], text: str) -> float:
    """The answer's confidence: the share of the question's term weight (IDF over the
    candidates, as :func:`rank` weighs terms) that ``text``, the best candidate, holds. A
    question term the context never spells out counts against it (the reading may have missed
    it), so a passage that matches one word of a four-word question scores low."""
    q_terms = set(content_terms(question))
    if not q_terms:
        return 0.0
    docs = [set(content_terms(c.passage.text)) for c in candidates]
    df = Counter(t for d in docs for t in d)
    n = len(docs)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in q_terms}
    held = q_terms & set(content_terms(text))
    return round(sum(idf[t] for t in held) / sum(idf.values()), 4)


def _near_terms(q_terms: set[str], docs: list[set[str]]) -> dict[str, set[str]]:
    """For each question word the context never spells out, the words that read like it with a
    letter or two misread by OCR ("throughput" ~ "thooughost"): same first letter, both at least
    :data:`FUZZY_MIN_LETTERS` letters, difflib ratio at least :data:`FUZZY_RATIO`."""
    vocabulary = {t for d in docs for t in d if t.isalpha() and len(t) >= FUZZY_MIN_LETTERS}
    out: dict[str, set[str]] = {}
    for term in q_terms:
        out[term] = set()
        if not term.isalpha() or len(term) < FUZZY_MIN_LETTERS:
            continue
        matcher = SequenceMatcher(None, "", term, autojunk=False)  # b is the one cached
        for word in vocabulary:
            if word == term or word[0] != term[0] or abs(len(word) - len(term)) > 3:
                continue
            matcher.set_seq1(word)
            if matcher.ratio() >= FUZZY_RATIO:
                out[term].add(word)
    return out


def _computed(
    question: str, scored: list[tuple[_Candidate, Passage]]
) -> tuple[str, tuple[Passage, Passage]] | None:
    """The sum or difference the question asks for (:mod:`.arithmetic`), from the ranked
    screen values (cells with their headers, form labels with their values), with the two
    quoted passages it was computed from."""
    if arithmetic.operation(question) is None:
        return None
    operands = [
        arithmetic.Operand(cand.value, cand.row, cand.column, i)
        for i, (cand, _) in enumerate(scored)
        if cand.row and cand.passage.source == "screen"
    ]
    result = arithmetic.combine(question, operands)
    if result is None:
        return None
    return result.text, (scored[result.first][1], scored[result.second][1])


def _shape(text: str) -> frozenset[str]:
    """What a candidate says apart from its values: two rows of one table have the same shape."""
    return frozenset(t for t in content_terms(text) if not any(ch.isdigit() for ch in t))


def _asks_two(question: str) -> bool:
    """Does the question ask for two things ("How many ..., and how many ...?", "What X and
    Y ...?")?"""
    lowered = question.lower()
    asks = len(re.findall(r"\b(how|what|which|when|where|who)\b", lowered))
    return asks >= 2 or bool(re.search(r"\w+ and \w+", lowered))


def choose(question: str, ranked: list[Passage], *, limit: int) -> list[Passage]:
    """The best candidates, up to ``limit``, each saying something the ones before do not (not
    a second row of the same table with the same columns). The one-candidate tier adds a second
    for a question that asks two things (the best that covers a term of the question the first
    leaves out, else the next best scoring at least half as well), or when the next best scores
    almost as well as the best (:data:`CLOSE_SECOND`: the best is not clearly the answer)."""
    ranked = [c for c in ranked if c.score > 0]
    if not ranked:
        return []
    first = ranked[0]
    others = [
        c for c in ranked[1:]
        if _shape(c.text) != _shape(first.text) and c.text not in first.text
    ]
    if limit >= 2:
        chosen, shapes = [first], {_shape(first.text)}
        for cand in others:
            if len(chosen) >= limit:
                break
            if _shape(cand.text) not in shapes and not any(cand.text in c.text for c in chosen):
                chosen.append(cand)
                shapes.add(_shape(cand.text))
        return chosen
    if not others:
        return [first]
    if _asks_two(question):
        q_terms = set(content_terms(question))
        covered = set(content_terms(first.text)) & q_terms
        adding = [c for c in others if (set(content_terms(c.text)) & q_terms) - covered]
        if adding:
            return [first, adding[0]]
        if others[0].score >= 0.5 * first.score:
            return [first, others[0]]
    if others[0].score >= CLOSE_SECOND * first.score:
        return [first, others[0]]
    return [first]
