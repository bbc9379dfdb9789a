"""Answer quality against a reference, without a judge model.

- ``token_f1``: SQuAD-style token F1 between answer and reference (lower-cased, punctuation and
  articles dropped). Rewards saying what the reference says, punishes padding.
- ``key_fact_recall``: the share of the question's key facts (short strings: "$4.2M", "March 14",
  "Priya") that appear in the answer, compared as normalised token sequences, with numbers matched
  on their value ("4.2 million" ≠ "$4.2M" is a known miss; "42 %" = "42%").
- ``quality``: key-fact recall when the question has key facts (what matters to the asker is the fact),
  else F1.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from assistant.core.text import normalize

_ARTICLES = {"a", "an", "the"}
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z0-9]+")
_NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "fifteen": "15",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
}


@dataclass(frozen=True, slots=True)
class Quality:
    f1: float
    key_facts: float | None
    score: float


def tokens(text: str) -> list[str]:
    out = []
    for tok in _TOKEN.findall(normalize(text).replace("%", " percent ")):
        if tok in _ARTICLES:
            continue
        if tok[0].isdigit():
            tok = tok.replace(",", "")
            if "." in tok:
                tok = tok.rstrip("0").rstrip(".") or "0"
        out.append(_NUMBER_WORDS.get(tok, tok))
    return out


def token_f1(answer: str, reference: str) -> float:
    a, r = tokens(answer), tokens(reference)
    if not a or not r:
        return float(a == r)
    common = sum((Counter(a) & Counter(r)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return n > 0 and any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def key_fact_recall(answer: str, facts: tuple[str, ...] | list[str]) -> float | None:
    if not facts:
        return None
    answer_tokens = tokens(answer)
    found = sum(_contains(answer_tokens, tokens(fact)) for fact in facts)
    return found / len(facts)


_CITATION = re.compile(r"\[\d+\]")


def score_answer(
    answer: str, *, reference: str | None, key_facts: tuple[str, ...] = ()
) -> Quality | None:
    if reference is None and not key_facts:
        return None
    answer = _CITATION.sub(" ", answer)  # "[1]" markers are not part of what was said
    f1 = token_f1(answer, reference or "")
    facts = key_fact_recall(answer, key_facts)
    return Quality(
        f1=round(f1, 4), key_facts=facts, score=round(facts if facts is not None else f1, 4)
    )
