"""Complexity scoring and routing.

Scorers turn a question into a score in [0, 1] with per-feature contributions; routers turn a
score into a tier with its propensity; ``Exploring`` routes a share of requests at random. Both are
named in one place, ``registry`` (``scorer_names``, ``make_scorer``, ``router_names``,
``make_router``): a new scorer is one ``register_scorer`` call there. ``calibration`` picks
thresholds from a target premium share and judges thresholds from logged traffic.
"""

from assistant.routing.calibration import (
    IPWEstimate,
    LoggedRoute,
    calibrate_threshold,
    ipw_estimate,
    premium_share,
)
from assistant.routing.cascade import CASCADE_REASON, Cascade
from assistant.routing.learned import LearnedScorer, LogisticModel, train_logistic
from assistant.routing.registry import (
    make_router,
    make_scorer,
    register_router,
    register_scorer,
    router_names,
    scorer_names,
)
from assistant.routing.routers import (
    CHEAP,
    PREMIUM,
    Exploring,
    Route,
    Router,
)
from assistant.routing.scorer import (
    HeuristicScorer,
    LengthScorer,
    Score,
    ScoreContext,
    Scorer,
)
from assistant.routing.seed import SeedKeywordScorer
from assistant.routing.text import TextModel, TextScorer, train_text

__all__ = [
    "CASCADE_REASON",
    "CHEAP",
    "PREMIUM",
    "Cascade",
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
    "make_scorer",
    "premium_share",
    "register_router",
    "register_scorer",
    "router_names",
    "scorer_names",
    "train_logistic",
    "train_text",
]
