"""Complexity scorers: a score in [0, 1] with the contribution of every feature, so a route explains itself.

The heuristic scorer adds weighted, explainable features and squashes the sum into [0, 1]. Its
weights are set by hand from general principles (longer, multi-part, reasoning and comparison
questions are harder; pointing at the screen needs vision; leaning on earlier talk needs context);
they are measured and tuned on public data in the routing benchmark, not here.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from assistant.text import words

_REASONING = re.compile(
    r"\b(why|explain|compare|comparison|versus|vs|difference|trade-?offs?|should we|recommend|"
    r"implications?|impact|analy[sz]e|evaluate|justify|reason|pros|cons|better|worse|risk|"
    r"if we|would it|what happens|combined|overall|in total|altogether)\b"
)
_MATH = re.compile(
    r"\b(calculate|compute|sum|total|average|mean|percent|percentage|ratio|growth|"
    r"difference|how much more|how many more|multiply|divide|per)\b|[-+*/=%]"
)
_CODE = re.compile(
    r"`|\b(function|class|def|sql|query|regex|stack ?trace|exception|bug|code)\b|\w+\(\)"
)
_SCREEN = re.compile(
    r"\b(screen|slide|chart|graph|table|diagram|shown|showing|on the left|"
    r"on the right|this (page|slide|chart|table)|here)\b"
)
_CONTEXT = re.compile(
    r"\b(earlier|before|previous(ly)?|mentioned|said|agreed|decided|discussed|"
    r"as we|last time|you said|he said|she said|they said)\b"
)
_PARTS = re.compile(r"\?.+\?|\b(and also|as well as|both|each of|respectively)\b|;")

WEIGHTS = {
    "length": 0.9,
    "reasoning": 1.2,
    "math": 0.7,
    "code": 0.6,
    "multi_part": 0.8,
    "screen": 0.5,
    "context": 0.5,
    "numbers": 0.3,
}
BIAS = -1.6


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
        q = question.lower()
        n_words = len(words(q))
        return {
            "length": min(n_words / 30.0, 1.0),
            "reasoning": min(len(_REASONING.findall(q)) / 2.0, 1.0),
            "math": min(len(_MATH.findall(q)) / 2.0, 1.0),
            "code": 1.0 if _CODE.search(question) else 0.0,
            "multi_part": 1.0 if _PARTS.search(q) else 0.0,
            "screen": 1.0 if context.needs_screen or _SCREEN.search(q) else 0.0,
            "context": 1.0 if _CONTEXT.search(q) else 0.0,
            "numbers": min(sum(ch.isdigit() for ch in q) / 4.0, 1.0),
        }

    def score(self, question: str, context: ScoreContext) -> Score:
        contributions = {
            k: round(WEIGHTS[k] * v, 4) for k, v in self.features(question, context).items()
        }
        z = BIAS + sum(contributions.values())
        return Score(round(1 / (1 + math.exp(-2.0 * z)), 4), contributions)


SCORERS: dict[str, type[Scorer]] = {"heuristic": HeuristicScorer}
