"""The seed design's complexity estimator, as it was specified: keywords, context, visual need.

The design this workbench grew from routes on a hand-set additive score, premium at 0.5 or more:

* ``keywords`` (+0.3): the question asks for analysis rather than lookup (analyze, compare,
  explain, why, summarize, evaluate, recommend, calculate, predict, trend, strategy, impact);
* ``context`` (+0.2): it leans on the conversation ("earlier", "we discussed", "what about"),
  and another +0.2 (``long_question``) for more than 20 words;
* ``visual`` (+0.3): it needs the screen (the question says so, or names a chart, slide, graph,
  table, diagram or "the screen").

The sum is capped at 1. It is kept as specified (not tuned on any data here) so the seed
configuration can be measured as designed (``python -m assistant compare-seed``).
"""

from __future__ import annotations

import re

from assistant.core.text import words
from assistant.routing.scorer import Score, ScoreContext, Scorer

SEED_THRESHOLD = 0.5
KEYWORDS = re.compile(
    r"\b(analy[sz]e|analysis|compare|comparison|explain|why|summari[sz]e|summary|evaluate|"
    r"recommend\w*|calculate|predict\w*|trends?|strateg\w+|impact|implications?)\b"
)
CONTEXT = re.compile(
    r"\b(earlier|before|previous(?:ly)?|mentioned|discussed|we said|you said|agreed|"
    r"what about|how about|again)\b"
)
VISUAL = re.compile(r"\b(screen|slides?|charts?|graphs?|tables?|diagrams?|spreadsheet|shown)\b")
WEIGHTS = {"keywords": 0.3, "context": 0.2, "long_question": 0.2, "visual": 0.3}
LONG_WORDS = 20


class SeedKeywordScorer(Scorer):
    name = "seed-keywords"

    def score(self, question: str, context: ScoreContext) -> Score:
        q = question.lower()
        hits = {
            "keywords": bool(KEYWORDS.search(q)),
            "context": bool(CONTEXT.search(q)),
            "long_question": len(words(q)) > LONG_WORDS,
            "visual": context.needs_screen or bool(VISUAL.search(q)),
        }
        contributions = {k: WEIGHTS[k] if hit else 0.0 for k, hit in hits.items()}
        return Score(round(min(1.0, sum(contributions.values())), 6), contributions)
