"""Complexity scoring and routing."""

from assistant.routing.routers import CHEAP, PREMIUM, ROUTERS, Route, Router
from assistant.routing.scorer import SCORERS, Score, ScoreContext, Scorer

__all__ = [
    "CHEAP",
    "PREMIUM",
    "ROUTERS",
    "SCORERS",
    "Route",
    "Router",
    "Score",
    "ScoreContext",
    "Scorer",
]
