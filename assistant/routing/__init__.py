"""Complexity scoring and routing.

Scorers (``SCORERS``: ``heuristic``, ``length``, ``learned``, ``text``) turn a question into a score in [0, 1]
with per-feature contributions; routers (``ROUTERS``: ``threshold``, ``random``, ``always-cheap``,
``always-premium``) turn a score into a tier with its propensity; ``Exploring`` routes a share of
requests at random. ``calibration`` picks thresholds from a target premium share and judges
thresholds from logged traffic; ``bench`` measures scorers on RouteLLM's per-prompt data.
"""

from assistant.routing.calibration import (
    IPWEstimate,
    LoggedRoute,
    calibrate_threshold,
    ipw_estimate,
    premium_share,
)
from assistant.routing.learned import LearnedScorer, LogisticModel, train_logistic
from assistant.routing.routers import (
    CHEAP,
    PREMIUM,
    ROUTERS,
    Exploring,
    Route,
    Router,
    make_router,
)
from assistant.routing.scorer import (
    SCORERS,
    HeuristicScorer,
    LengthScorer,
    Score,
    ScoreContext,
    Scorer,
)
from assistant.routing.seed import SeedKeywordScorer
from assistant.routing.text import TextModel, TextScorer, train_text

SCORERS.setdefault("learned", LearnedScorer)  # defined in learned.py, which builds on scorer.py
SCORERS.setdefault("text", TextScorer)  # text.py: TF-IDF n-grams, ridge on the gain (scikit-learn)
SCORERS.setdefault("seed-keywords", SeedKeywordScorer)  # the seed design's estimator (seed.py)

__all__ = [
    "CHEAP",
    "PREMIUM",
    "ROUTERS",
    "SCORERS",
    "Exploring",
    "HeuristicScorer",
    "IPWEstimate",
    "LearnedScorer",
    "LengthScorer",
    "LoggedRoute",
    "LogisticModel",
    "Route",
    "Router",
    "Score",
    "ScoreContext",
    "Scorer",
    "SeedKeywordScorer",
    "TextModel",
    "TextScorer",
    "calibrate_threshold",
    "ipw_estimate",
    "make_router",
    "premium_share",
    "train_logistic",
    "train_text",
]
