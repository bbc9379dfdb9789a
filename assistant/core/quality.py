"""Answer quality against a reference, without a judge model.

- ``token_f1``: SQuAD-style token F1 between answer and reference (lower-cased, punctuation and
  articles dropped). Rewards saying what the reference says, punishes padding.
- ``key_fact_recall``: the share of the question's key facts (short strings: "$4.2M", "March 14",
  "Priya") that appear in the answer, compared as normalised token sequences, with numbers matched
  on their value ("4.2 million" ≠ "$4.2M" is a known miss; "42 %" = "42%").
- ``fact_found``: the looser check the screen-reading figures count (docs/screen-reading.md): the
  fact's letters and digits, in order, inside the answer's.
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


# Symbols that must not change what a fact is: marks glued to a word ("Product™", which NFKC would
# turn into "producttm"), non-breaking spaces, dashes and curly quotes
_SYMBOLS = str.maketrans(
    {
        "\u2122": " ",  # ™
        "\u00ae": " ",  # ®
        "\u00a9": " ",  # ©
        "\u2120": " ",  # ℠
        "\u00a0": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\u2009": " ",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
    }
)


def plain_symbols(text: str) -> str:
    """``text`` with trademark, registered and copyright signs dropped, and non-breaking spaces,
    dashes and curly quotes made plain, before any comparison."""
    return text.translate(_SYMBOLS)


@dataclass(frozen=True, slots=True)
class Quality:
    f1: float
    key_facts: float | None
    score: float


def tokens(text: str) -> list[str]:
    out = []
    for tok in _TOKEN.findall(normalize(plain_symbols(text)).replace("%", " percent ")):
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


def _alnum(text: str) -> str:
    return "".join(ch for ch in normalize(plain_symbols(text)) if ch.isalnum())


def fact_found(answer: str, fact: str) -> bool:
    """The fact's letters and digits, in order, inside the answer's (citation markers dropped):
    "$1.32M" is found in "EMEA · Q3 · $1.32M [1]"; short facts ("4", "No") match loosely."""
    needle = _alnum(fact)
    return bool(needle) and needle in _alnum(_CITATION.sub(" ", answer))


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


ABSTAINED = "abstained"  # a request's status when its answer declines (see ``declines``)
_DECLINE = re.compile(
    r"\b(could not|couldn't|cannot|can't|can not|did not|didn't|unable to) (find|see|tell|answer)"
    r"|\b(does not|doesn't|do not|don't) (contain|include|mention|say|show|state)"
    r"|\bnot (in|on) the (context|screen|meeting|transcript|knowledge base)"
    r"|\bno (information|mention|answer)\b|\bi (do not|don't) know\b",
    re.IGNORECASE,
)


def declines(answer: str) -> bool:
    """Does the answer decline to answer (an abstention), rather than state something? It says
    it could not find, or that the context does not contain, the answer, and cites nothing."""
    return not _CITATION.search(answer) and bool(_DECLINE.search(answer))
