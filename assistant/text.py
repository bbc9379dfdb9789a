"""Small text helpers shared by retrieval, the local answerer, the scorer and quality scoring."""

from __future__ import annotations

import re
import unicodedata

STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from into over under about as is are was
    were be been being am do does did doing have has had having it its this that these those there
    here what which who whom whose when where why how i me my we our you your he him his she her
    they them their can could should would will shall may might must not no so than then too very
    just also any some all each both more most other such only own same s t don now up down out
    off again further once please tell say said us let lets get got""".split()
)
_WORD = re.compile(r"[$€£]?\d+(?:[.,:]\d+)*%?|[a-z][a-z0-9'_-]*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9$\"'(])")


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def words(text: str) -> list[str]:
    """Lower-case word and number tokens (numbers keep their $, %, separators)."""
    return _WORD.findall(normalize(text))


def stem(token: str) -> str:
    if token[0].isdigit() or token[0] in "$€£":
        return token
    for suffix in ("ing", "ed", "es", "s"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)]
    return token


def content_terms(text: str) -> list[str]:
    """Stemmed tokens without stop words: what retrieval and matching compare."""
    return [stem(t.strip("'")) for t in words(text) if t not in STOPWORDS and len(t.strip("'")) > 0]


def sentences(text: str) -> list[str]:
    out: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*[-*#|]|\s*\d+\.)", text):
        block = " ".join(block.split())
        if block:
            out.extend(s.strip() for s in _SENTENCE.split(block) if s.strip())
    return out


def has_number(text: str) -> bool:
    return any(ch.isdigit() for ch in text)
