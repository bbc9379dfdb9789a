"""Find the questions in a transcript: what a user would want the assistant to have answered.

Two kinds are proposed, each with its asker and ``t_s`` = the END of the utterance (the moment the
assistant could answer):

- **addressed**: the utterance is addressed to the assistant (the live agent's wake phrases,
  :class:`assistant.sessions.wake.WakePhrases`): "Assistant, what did Bob say about churn?";
- **direct**: a sentence of the utterance is interrogative: it ends with ``?`` (whisper punctuates),
  or starts with a question word (who, what, ... can, should, is, do, will ...).

A proposal is not ground truth: it has no reference answer and no key facts (its quality stays
unknown until someone labels it), and ``proposed = true`` in the questions file says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.core.events import Utterance
from assistant.sessions.wake import WakePhrases, needs_screen

_INTERROGATIVE = re.compile(
    r"^(who|whom|whose|who's|what|what's|when|where|where's|why|how|how's|which|can|could|"
    r"should|shall|is|isn't|are|aren't|was|were|do|don't|does|doesn't|did|didn't|will|won't|"
    r"would|has|have|had|may|might)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.?!]+[.?!]*")
MIN_WORDS = 3  # a sentence opening with a question word but no "?": "How nice." is not one
MIN_WORDS_MARKED = 2  # with a question mark: "Carol, why?" is one, "Why?" alone is not
CONTEXT_WORDS = 5  # a question shorter than this keeps its whole utterance ("... went down. Carol, why?")
SAME_QUESTION_S = 2.0  # a proposal this close to an existing question by the same asker is a duplicate


@dataclass(frozen=True, slots=True)
class Proposal:
    t_s: float  # the end of the utterance
    asker: str
    text: str
    kind: str  # "addressed" or "direct"
    needs_screen: bool

    def as_json(self, qid: str) -> dict[str, Any]:
        return {
            "id": qid,
            "t_s": round(self.t_s, 2),
            "asker": self.asker,
            "text": self.text,
            "needs_screen": self.needs_screen,
            "proposed": True,
        }


def interrogative(sentence: str) -> bool:
    """Is this one sentence a direct question?"""
    words = sentence.strip().split()
    if sentence.rstrip().endswith("?"):
        return len(words) >= MIN_WORDS_MARKED
    return len(words) >= MIN_WORDS and bool(_INTERROGATIVE.match(sentence.strip()))


def question_in(text: str, wake: WakePhrases) -> tuple[str, str] | None:
    """``(kind, question)`` for one utterance's text, or None when it asks nothing."""
    addressed = wake.addressed(text)
    if addressed is not None:
        return "addressed", addressed
    asked = [s.strip() for s in _SENTENCE.findall(text) if interrogative(s)]
    if not asked:
        return None
    question = " ".join(asked)
    return "direct", question if len(question.split()) >= CONTEXT_WORDS else text.strip()


def propose(utterances: Iterable[Utterance], *, wake: WakePhrases | None = None) -> list[Proposal]:
    """The questions in ``utterances``, in time order."""
    wake = wake or WakePhrases()
    out = []
    for u in sorted(utterances, key=lambda u: u.end_s):
        found = question_in(u.text, wake)
        if found is None:
            continue
        kind, text = found
        out.append(Proposal(u.end_s, u.participant, text, kind, needs_screen(text)))
    return out


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def new_only(proposals: Sequence[Proposal], existing: Iterable[Any]) -> list[Proposal]:
    """The proposals not already present: no existing question (anything with ``t_s``, ``asker``
    and ``text``) has the same text, or the same asker within :data:`SAME_QUESTION_S`."""
    have = list(existing)
    texts = {_norm(q.text) for q in have}
    out = []
    for p in proposals:
        near = any(q.asker == p.asker and abs(q.t_s - p.t_s) <= SAME_QUESTION_S for q in have)
        if not near and _norm(p.text) not in texts:
            out.append(p)
    return out


def next_ids(existing_ids: Iterable[str], count: int) -> list[str]:
    """``count`` fresh ids ``p001``, ``p002``, ... that clash with none in ``existing_ids``."""
    taken = set(existing_ids)
    out: list[str] = []
    n = 1
    while len(out) < count:
        qid = f"p{n:03d}"
        if qid not in taken:
            out.append(qid)
        n += 1
    return out
