"""The one prompt every cloud answerer sends, and the parser that maps its citations back.

The context is numbered in ``AnswerRequest.passages`` order (screen, knowledge, transcript) so the
model can cite ``[n]``. ``parse_answer`` turns the reply into an ``Answer`` the way the offline
answerer writes them: the passages cited, in order of first citation, and the markers in the text
renumbered to match (``[3] ... [1]`` becomes ``[1] ... [2]``; ``[1, 3]`` becomes ``[1][2]``), so
marker ``[k]`` always means ``citations[k - 1]`` in the ledger. Brackets that are not valid
citations (``[2024]``, ``[sic]``) are left as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.core.events import Answer, Passage
from assistant.providers.llm.base import AnswerRequest

SYSTEM_PROMPT = (
    "You are a meeting assistant. Answer the question asked during the meeting concisely, in one "
    "to three sentences, using only the numbered context: what is on the shared screen, what was "
    "said (transcript lines with their speaker) and the team's knowledge base. Cite the passages "
    "each fact comes from as [n], right after the fact. If the context does not contain the "
    "answer, say that it does not, in one sentence, instead of guessing."
)
NO_CONTEXT = "(no context: nothing on screen, said or in the knowledge base matches)"


def label(passage: Passage) -> str:
    """Where a passage comes from, as the model reads it."""
    kind, _, where = passage.source.partition(":")
    if kind == "screen":
        return "screen"
    if kind == "kb":
        return f"knowledge base, {where}"
    if kind == "transcript":
        speaker, _, at = where.partition("@")
        return f"transcript, {speaker} at {at}" if at else f"transcript, {speaker}"
    return passage.source


def user_message(request: AnswerRequest) -> str:
    """The numbered context and the question (``[n]`` is ``request.passages[n - 1]``)."""
    lines = ["Context:"]
    for i, passage in enumerate(request.passages, start=1):
        text = " ".join(passage.text.split()) if passage.source != "screen" else passage.text
        lines.append(f"[{i}] ({label(passage)}) {text.strip()}")
    if not request.passages:
        lines.append(NO_CONTEXT)
    lines += ["", f"Question: {request.question.strip()}"]
    return "\n".join(lines)


_MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:,|;|-|–)\s*\d+)*)\s*\]")


def _numbers(group: str) -> list[int]:
    """``"1, 3-5"`` as ``[1, 3, 4, 5]``."""
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", group):
        low, _, high = re.sub(r"\s*[-–]\s*", "-", part).partition("-")
        first, last = int(low), int(high or low)
        out.extend(range(first, last + 1) if 0 <= last - first < 50 else [first, last])
    return out


def parse_answer(text: str, passages: Sequence[Passage]) -> Answer:
    """The reply as an ``Answer`` citing the passages its ``[n]`` markers point at."""
    order: dict[int, int] = {}  # passage index (1-based) → citation number

    def renumber(match: re.Match[str]) -> str:
        numbers = _numbers(match.group(1))
        if not numbers or any(not 1 <= n <= len(passages) for n in numbers):
            return match.group(0)  # not a citation of this context: leave it
        for n in numbers:
            order.setdefault(n, len(order) + 1)
        return "".join(f"[{order[n]}]" for n in dict.fromkeys(numbers))

    body = _MARKER.sub(renumber, text.strip())
    citations = tuple(passages[n - 1] for n in order)
    return Answer(body, citations=citations)
