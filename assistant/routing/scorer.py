"""Complexity scorers: a score in [0, 1] with the contribution of every feature, so a route explains itself.

``HeuristicScorer`` adds weighted, explainable features and squashes the sum into [0, 1]. Every
feature is a count passed through a smooth saturation ``c / (c + k)``, so it grows with the evidence,
stays in [0, 1) and does not tie long prompts together. The weights are set by hand from general
principles, not fitted:

* ``length`` — longer questions carry more facts and more steps;
* ``reasoning`` — why / compare / trade-off / should-we questions need judgement, not lookup;
* ``math`` and ``numbers`` — arithmetic relations (twice, per, percent, more than …), maths
  vocabulary and the quantities to combine: a cheap model slips on multi-step arithmetic;
* ``code`` — code, stack traces and programming tasks;
* ``multi_part`` — several asks in one question;
* ``screen`` — pointing at the screen (or the question needs it): the answer needs vision;
* ``context`` — leaning on earlier conversation ("what about …", "as we said");
* ``retrieval_miss`` — the knowledge base matched weakly (``ScoreContext.retrieval_top_score``, a
  BM25 score), so the answer is not a lookup; no retrieval score contributes nothing.

``LengthScorer`` ranks by the number of characters alone: the baseline the heuristic must beat. They
are measured on RouteLLM's public per-prompt data with ``python -m assistant eval-routing``. Names
map to scorers in ``routing.registry``.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from assistant.core.text import words

_REASONING = re.compile(
    r"\b(why|how come|explain|compare[sd]?|comparing|comparison|contrast|versus|vs|"
    r"trade-?offs?|should (?:we|i|they)|recommend\w*|implications?|impact|analy[sz]e|evaluate|"
    r"justify|reason(?:s|ing)?|pros|cons|better|worse|best|risks?|what happens|would it|"
    r"prove|derive|deduce|infer|determine|relationship|cause[sd]?|given that|assuming|suppose)\b"
)
# Arithmetic relations between quantities and the vocabulary of school maths (arithmetic, algebra,
# number theory, geometry, probability): each is one more operation to get right.
_MATH = re.compile(
    r"\b(calculate|compute|solve|equations?|express|sum|total|average|mean|median|percent(?:age)?s?|"
    r"ratio|rate|growth|fractions?|twice|half|double|triple|times|per|"
    r"(?:more|less|fewer|longer|shorter|older|younger|higher|lower) than|as (?:many|much) as|"
    r"how (?:many|much) (?:more|less|fewer|longer|higher|lower)|"
    r"integers?|primes?|remainder|divisible|divided|multipl\w+|factors?|"
    r"area|volume|perimeter|radius|triangle|circle|angle|probability|chance|odds|expected)\b"
    r"|\d+\s*/\s*\d+|%|\d\s*[-+*/^=<>]\s*[\d(a-z]|[a-z]\s*[+*/^=<>]\s*[\d(a-z]"
)
_NUMBER = re.compile(
    r"\d+(?:[.,]\d+)*|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|dozen)s?\b"
)
_CODE = re.compile(
    r"`|\b(function|class|method|def|program|script|code|implement\w*|algorithm|python|java|"
    r"javascript|typescript|rust|golang|sql|regex|html|css|json|bug|debug|compile[sr]?|"
    r"stack ?trace|exception|traceback)\b|\bc\+\+|\w+\(\)|\bo\(\s*\w"
)
_SCREEN = re.compile(
    r"\b(screen|slide|chart|graph|table|diagram|shown|showing|on the left|"
    r"on the right|this (?:page|slide|chart|table)|here)\b"
)
_CONTEXT = re.compile(
    r"\b(earlier|said before|previous(?:ly)?|the above|mentioned|said|agreed|decided|discussed|"
    r"as we|last time|you said|he said|she said|they said|what about|how about|what if|"
    r"instead|again|continue|the same|building on|follow(?:ing)?[- ]up)\b"
)
# One more ask: a further question mark, a conjunction that adds an ask ("…, and by how much?"), or a
# list item.
_ASKS = re.compile(
    r"\?|\b(and also|as well as|both|each of|respectively|in addition)\b|;|(?:^|\n)\s*(?:\d+[.)]|[-*•])\s"
    r"|\b(?:and|or) (?:by )?(?:why|how|when|where|who|which|what)\b"
)


def _sat(count: float, half: float) -> float:
    """``count / (count + half)``: 0 at 0, 0.5 at ``half``, approaching 1; strictly increasing."""
    return count / (count + half) if count > 0 else 0.0


WEIGHTS = {
    "length": 1.6,
    "reasoning": 0.8,
    "math": 1.0,
    "numbers": 0.6,
    "code": 0.9,
    "multi_part": 0.6,
    "screen": 0.5,
    "context": 0.5,
    "retrieval_miss": 0.4,
}
BIAS = -1.6
HEURISTIC_TUNED_ON = ("gsm8k", "mtbench")
"""The suites the hand weights were chosen with in view: the heuristic's figures there are in-sample."""
RETRIEVAL_HALF = 5.0
"""BM25 score at which a retrieval match counts as half good (``retrieval_miss`` = 0.5)."""


@dataclass(frozen=True, slots=True)
class ScoreContext:
    needs_screen: bool = False
    retrieval_top_score: float | None = None


@dataclass(frozen=True, slots=True)
class Score:
    value: float
    contributions: dict[str, float] = field(default_factory=dict)


class Scorer(ABC):
    name = "scorer"

    @abstractmethod
    def score(self, question: str, context: ScoreContext) -> Score:
        """A score in [0, 1] (higher: needs the premium tier) with per-feature contributions."""


class HeuristicScorer(Scorer):
    name = "heuristic"

    def features(self, question: str, context: ScoreContext) -> dict[str, float]:
        """Every feature in [0, 1); the keys are ``WEIGHTS``'s."""
        q = question.lower()
        n_words = len(words(q))
        asks = len(_ASKS.findall(question))
        retrieval = context.retrieval_top_score
        return {
            "length": _sat(n_words, 30.0),
            "reasoning": _sat(len(_REASONING.findall(q)), 1.0),
            "math": _sat(len(_MATH.findall(q)), 2.0),
            "numbers": _sat(len(_NUMBER.findall(q)), 3.0),
            "code": _sat(len(_CODE.findall(q)), 1.0),
            "multi_part": _sat(asks - 1, 1.0),
            "screen": 1.0 if context.needs_screen or _SCREEN.search(q) else 0.0,
            "context": _sat(len(_CONTEXT.findall(q)), 1.0),
            "retrieval_miss": 0.0
            if retrieval is None
            else RETRIEVAL_HALF / (RETRIEVAL_HALF + max(retrieval, 0.0)),
        }

    def score(self, question: str, context: ScoreContext) -> Score:
        contributions = {
            k: round(WEIGHTS[k] * v, 4) for k, v in self.features(question, context).items()
        }
        z = BIAS + sum(contributions.values())
        return Score(round(1 / (1 + math.exp(-2.0 * z)), 6), contributions)


class LengthScorer(Scorer):
    """Longer prompts are harder: characters / (characters + 200). The baseline to beat."""

    name = "length"

    def score(self, question: str, context: ScoreContext) -> Score:
        n = len(question)
        return Score(round(n / (n + 200.0), 6), {"length": round(n / (n + 200.0), 6)})
