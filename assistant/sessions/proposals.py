"""Find the questions in a transcript: what a user would want the assistant to have answered.

Two kinds are proposed, each with its asker and ``t_s`` = the END of the utterance (the moment the
assistant could answer):

- **addressed**: the utterance is addressed to the assistant (the live agent's wake phrases,
  :class:`assistant.sessions.wake.WakePhrases`): "Assistant, what did Bob say about churn?";
- **direct**: a sentence of the utterance reads as a question (:func:`judge`): interrogative syntax
  (an auxiliary before its subject, "Have you tried ...", or a question word followed by a verb,
  "What is ...", "Who said ..."), or a question mark on a sentence that is not plainly declarative
  ("It's the feature that tells us who said what?" is a statement whisper punctuated).
  A question word alone is not enough: "What a week!" and "When you are done, send it." are not.

Before judging, an utterance the transcriber cut mid-sentence (no closing punctuation, or the next
one of the same speaker starting in lower case, less than :data:`JOIN_GAP_S` later) is joined with
its neighbour. Every sentence that looked like a question but was judged not to be one is returned
as a :class:`Skipped` with its reason, and so is a proposal already present (:func:`dedupe`: by
text similarity, not by time alone).

A proposal is not ground truth: it has no reference answer and no key facts (its quality stays
unknown until someone labels it), and ``proposed = true`` in the questions file says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from assistant.core.events import Utterance
from assistant.sessions.wake import WakePhrases, needs_screen

_WH = frozenset("who whom whose what which when where why how".split())
_WH_CONTRACTED = re.compile(r"^(who|what|when|where|why|how)'(s|re|d|ll|ve)$")
_AUX = frozenset(
    """is isn't are aren't was wasn't were weren't do don't does doesn't did didn't can can't
    cannot could couldn't should shouldn't shall will won't would wouldn't has hasn't have haven't
    had hadn't may might must am""".split()
)
_SUBJECT = frozenset(
    """i you we they he she it there this that these those anyone anybody everyone everybody
    someone somebody anything something our your my his her their its the a an any all
    some""".split()
)
_PRONOUN = frozenset("i you we they he she it".split())
_QUANTITY = frozenset("many much long often far old big large soon".split())
# a sentence opening like this states something; with a "?" it is still a statement when long
_DECLARATIVE = re.compile(
    r"^(it's|it is|that's|that is|this is|there's|there is|here's|i'm|i am|i've|i'll|we're|"
    r"we've|we'll|they're|you're|he's|she's|it was|that was|i|we|they|he|she)\b",
    re.IGNORECASE,
)
_TAG = re.compile(
    r"(,\s*(right|correct|ok|okay|yes|no|true)|\b(isn't|aren't|wasn't|don't|doesn't|didn't|"
    r"won't|can't|haven't|hasn't|or not)\s+\w+)\s*\?$",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.?!]+[.?!]*")
MIN_WORDS = 3  # without a "?": "How nice." is not a question
MIN_WORDS_MARKED = 2  # with a question mark: "Carol, why?" is one, "Why?" alone is not
CONTEXT_WORDS = 5  # a question shorter than this keeps its whole utterance ("... went down. Carol, why?")
DECLARATIVE_WORDS = 8  # a declarative sentence this long is a statement even with a "?"
JOIN_GAP_S = 1.5  # a fragment is joined with the same speaker's next utterance this close after it
SAME_TEXT = 0.8  # similarity (difflib ratio of the normalised texts) above which two are one question
NEAR_S = 2.0  # ... and above NEAR_TEXT when the same asker asked within this many seconds
NEAR_TEXT = 0.5


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


@dataclass(frozen=True, slots=True)
class Skipped:
    """A sentence that looked like a question, or a proposal already present, and why it was not
    proposed."""

    t_s: float
    asker: str
    text: str
    reason: str


def _words(sentence: str) -> list[str]:
    return [w.strip(",;:\"()").lower().replace("\u2019", "'") for w in sentence.split()]


def judge(sentence: str) -> tuple[bool, str]:
    """``(is a question, why)`` for one sentence."""
    text = sentence.strip()
    words = [w for w in _words(text) if w]
    if not words:
        return False, "empty"
    first, rest = words[0], words[1:4]
    if text.endswith("?"):
        if len(words) < MIN_WORDS_MARKED:
            return False, "too short"
        declarative = _DECLARATIVE.match(text) and first not in _AUX
        if declarative and len(words) >= DECLARATIVE_WORDS and not _TAG.search(text):
            return False, "a statement with a question mark (declarative word order)"
        return True, "question mark"
    if len(words) < MIN_WORDS:
        return False, "too short"
    if text.endswith("!"):
        return False, "an exclamation"
    if first in _WH or _WH_CONTRACTED.match(first):
        if _WH_CONTRACTED.match(first) and words[1] not in _PRONOUN:
            return True, "question word and verb"
        second = words[1]
        if second in _PRONOUN or second in {"a", "an", "to", "if"}:
            return False, "a question word opening a clause, not a question"
        if first == "who" or second in _AUX or second in _QUANTITY or any(w in _AUX for w in rest):
            return True, "question word and verb"
        return False, "a question word without a verb after it"
    if first in _AUX:
        second = words[1]
        if second in _PRONOUN or (first not in {"do", "don't"} and second in _SUBJECT):
            return True, "auxiliary before its subject"
        return False, "an instruction, not a question"
    return False, "no question mark, no interrogative word order"


def _looks_asked(sentence: str) -> bool:
    """Worth judging (and reporting when skipped): a "?" or a question word first."""
    words = _words(sentence)
    return sentence.strip().endswith("?") or bool(
        words and (words[0] in _WH or words[0] in _AUX or _WH_CONTRACTED.match(words[0]))
    )


def interrogative(sentence: str) -> bool:
    """Is this one sentence a direct question?"""
    return judge(sentence)[0]


def question_in(text: str, wake: WakePhrases) -> tuple[str, str] | None:
    """``(kind, question)`` for one utterance's text, or None when it asks nothing."""
    found = _question_in(text, wake)
    return None if found is None or not found[0] else (found[0], found[1])


def _question_in(text: str, wake: WakePhrases) -> tuple[str, str, list[str]] | None:
    """As :func:`question_in`, with the sentences that looked asked but were not, with why."""
    addressed = wake.addressed(text)
    if addressed is not None:
        return "addressed", addressed, []
    asked, skipped = [], []
    for raw in _SENTENCE.findall(text):
        s = raw.strip()
        ok, why = judge(s)
        if ok:
            asked.append(s)
        elif _looks_asked(s):
            skipped.append(f"{s} ({why})")
    if not asked:
        return ("", "", skipped) if skipped else None
    question = " ".join(asked)
    return "direct", question if len(question.split()) >= CONTEXT_WORDS else text.strip(), skipped


def join_fragments(utterances: Iterable[Utterance]) -> list[Utterance]:
    """Each speaker's utterances with the pieces the transcriber cut mid-sentence joined: one
    that does not end a sentence, or is followed by one starting in lower case, is joined with
    the speaker's next utterance when that starts within :data:`JOIN_GAP_S`."""
    out: list[Utterance] = []
    last: dict[str, int] = {}
    for u in sorted(utterances, key=lambda u: u.start_s):
        i = last.get(u.participant)
        if i is not None:
            prev = out[i]
            text = u.text.strip()
            cut = not prev.text.rstrip().endswith((".", "?", "!")) or text[:1].islower()
            if cut and u.start_s - prev.end_s <= JOIN_GAP_S and text:
                out[i] = Utterance(
                    prev.participant,
                    prev.start_s,
                    max(prev.end_s, u.end_s),
                    f"{prev.text.strip()} {text}",
                    prev.confidence,
                    prev.words + u.words,
                )
                continue
        last[u.participant] = len(out)
        out.append(u)
    return out


def propose_all(
    utterances: Iterable[Utterance], *, wake: WakePhrases | None = None
) -> tuple[list[Proposal], list[Skipped]]:
    """The questions in ``utterances`` in time order, and the sentences skipped (and why)."""
    wake = wake or WakePhrases()
    out, skipped = [], []
    for u in sorted(join_fragments(utterances), key=lambda u: u.end_s):
        found = _question_in(u.text, wake)
        if found is None:
            continue
        kind, text, rejected = found
        skipped += [Skipped(u.end_s, u.participant, r, "not a question") for r in rejected]
        if kind:
            out.append(Proposal(u.end_s, u.participant, text, kind, needs_screen(text)))
    return out, skipped


def propose(utterances: Iterable[Utterance], *, wake: WakePhrases | None = None) -> list[Proposal]:
    """The questions in ``utterances``, in time order."""
    return propose_all(utterances, wake=wake)[0]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def similarity(a: str, b: str) -> float:
    """How alike two questions read, in [0, 1] (difflib's ratio of the normalised texts)."""
    return SequenceMatcher(None, _norm(a), _norm(b)).ratio()


def dedupe(
    proposals: Sequence[Proposal], existing: Iterable[Any]
) -> tuple[list[Proposal], list[Skipped]]:
    """The proposals not already present, and the ones skipped with the question they repeat.
    A proposal repeats an existing question (anything with ``t_s``, ``asker``, ``text`` and
    maybe ``id``) when their texts are alike (:data:`SAME_TEXT`), or fairly alike
    (:data:`NEAR_TEXT`) and asked by the same asker within :data:`NEAR_S`. Time alone decides
    nothing: in a mixed-audio import every question has the same asker."""
    have = list(existing)
    fresh, skipped = [], []
    for p in proposals:
        repeat = None
        for q in have:
            alike = similarity(p.text, q.text)
            near = q.asker == p.asker and abs(q.t_s - p.t_s) <= NEAR_S
            if alike >= SAME_TEXT or (near and alike >= NEAR_TEXT):
                repeat = q
                break
        if repeat is None:
            fresh.append(p)
            have.append(p)
        else:
            name = getattr(repeat, "id", None) or f"the question at {repeat.t_s:.1f} s"
            skipped.append(Skipped(p.t_s, p.asker, p.text, f"already present as {name}"))
    return fresh, skipped


def new_only(proposals: Sequence[Proposal], existing: Iterable[Any]) -> list[Proposal]:
    """The proposals not already present (see :func:`dedupe`)."""
    return dedupe(proposals, existing)[0]


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
