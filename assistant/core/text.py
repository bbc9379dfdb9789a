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


_STRUCTURED = re.compile(r"^\s*([-*+]\s|\||#|\d+[.)]\s)")
_EMPHASIS = re.compile(r"\*\*|__|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)|`")


def _clean(line: str) -> str:
    line = line.strip()
    if line.startswith("|"):
        cells = [c.strip() for c in line.strip("|").split("|")]
        if all(set(c) <= set("-: ") for c in cells):
            return ""  # a table's separator row
        line = " · ".join(c for c in cells if c)
    line = re.sub(r"^([-*+]|\d+[.)])\s+", "", line).lstrip("#").strip()
    return " ".join(_EMPHASIS.sub("", line).split())


def sentences(text: str) -> list[str]:
    """Sentences of prose, one unit per list item, table row or heading; Markdown marks removed."""
    units: list[str] = []
    paragraph: list[str] = []

    def close() -> None:
        if paragraph:
            block = " ".join(paragraph)
            units.extend(s.strip() for s in _SENTENCE.split(block) if s.strip())
            paragraph.clear()

    for raw in text.splitlines():
        if not raw.strip():
            close()
            continue
        if _STRUCTURED.match(raw):
            close()
            paragraph.append(_clean(raw))
            continue
        paragraph.append(_clean(raw))
    close()
    return [u for u in units if u]


def has_number(text: str) -> bool:
    return any(ch.isdigit() for ch in text)
