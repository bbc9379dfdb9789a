"""The one place a scorer or a router name is added: name → factory taking its options.

Everything that lists, validates or builds scorers and routers reads this module: the pipeline's
stages (``[routing] scorer`` / ``router``), the routing benchmark and its cross-suite protocol
(``analysis.routing_eval``, ``analysis.cross_suite``), the ``eval-routing`` and ``labels`` command
choices and the Routing lab (``views.lab``). Adding a scorer is one :func:`register_scorer` call
(below, or in any module imported before it is used); nothing else names it.

A scorer's entry says how to build it (``factory``, given the options it takes, e.g. ``weights``,
a trained scorer's weights file) and how the benchmark measures it: a fixed scorer scores every
prompt as it is; a *fitted* one (``fit`` and ``cross_val``) is trained on other rows only: on the
other folds of the suite (in-suite, k-fold CV) or on other suites (cross-suite).

A router is a score plus a fixed rule (RouteLLM's shape); ``random`` is the baseline every
benchmark shows, ``make_router`` wraps any router in ``Exploring`` for a share of random routes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from assistant.core.errors import ConfigError
from assistant.routing.routers import (
    AlwaysCheap,
    AlwaysPremium,
    Exploring,
    RandomRouter,
    Router,
    ThresholdRouter,
)
from assistant.routing.scorer import HEURISTIC_TUNED_ON, HeuristicScorer, LengthScorer, Scorer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    Scores = Sequence[float] | FloatArray  # each row's quality on one tier


class CrossVal(Protocol):
    """Held-out scores of every row: each k-fold test fold scored by a fit on the other folds."""

    def __call__(
        self,
        prompts: Sequence[str],
        weak: Scores,
        strong: Scores,
        *,
        groups: Sequence[str],
        folds: int,
        seed: int,
        **design: Any,
    ) -> FloatArray: ...


class Fit(Protocol):
    """A fit on these rows only, returned as a function from prompts to scores."""

    def __call__(
        self,
        prompts: Sequence[str],
        weak: Scores,
        strong: Scores,
        *,
        groups: Sequence[str],
        seed: int,
        trained_on: Sequence[str],
        **design: Any,
    ) -> Callable[[Sequence[str]], FloatArray]: ...


@dataclass(frozen=True, slots=True)
class ScorerSpec:
    """One scorer: how it is built and how the benchmark measures it."""

    name: str
    factory: Callable[..., Scorer]
    options: tuple[str, ...] = ()  # the keyword options ``factory`` takes (e.g. "weights")
    benchmark: bool = True  # measured by ``eval-routing`` and the Routing lab by default
    cross_val: CrossVal | None = None  # fitted: held-out scores inside one suite
    fit: Fit | None = None  # fitted: trained on other suites' rows (cross-suite)
    design: tuple[str, ...] = ()  # the benchmark's hyperparameter grid options it reads
    tuned_on: tuple[str, ...] = ()  # suites its fixed weights were chosen on: figures in-sample
    summary: str = ""

    @property
    def fitted(self) -> bool:
        return self.fit is not None


@dataclass(frozen=True, slots=True)
class RouterSpec:
    name: str
    factory: Callable[..., Router]  # (threshold=..., seed=...) → Router
    summary: str = ""


@dataclass(slots=True)
class _Registry:
    scorers: dict[str, ScorerSpec] = field(default_factory=dict)
    routers: dict[str, RouterSpec] = field(default_factory=dict)


_REGISTRY = _Registry()
RANDOM = "random"  # the baseline router every benchmark shows beside the scorers
ORACLE = "oracle"  # the benchmark's ceiling: routes by the true gain
TARGET_SCORER = "text"  # the benchmark's targets judge this scorer ...
BASELINE_SCORER = "length"  # ... against this baseline (and random)


def register_scorer(spec: ScorerSpec) -> ScorerSpec:
    """Add a scorer (its name must be new)."""
    if spec.name in _REGISTRY.scorers or spec.name in (RANDOM, ORACLE):
        raise ValueError(f"scorer {spec.name!r} is already registered")
    _REGISTRY.scorers[spec.name] = spec
    return spec


def register_router(spec: RouterSpec) -> RouterSpec:
    if spec.name in _REGISTRY.routers:
        raise ValueError(f"router {spec.name!r} is already registered")
    _REGISTRY.routers[spec.name] = spec
    return spec


def unregister_scorer(name: str) -> None:
    """Remove a scorer (tests that add one take it away again)."""
    _REGISTRY.scorers.pop(name, None)


def unregister_router(name: str) -> None:
    _REGISTRY.routers.pop(name, None)


def scorer_names() -> tuple[str, ...]:
    """Every registered scorer, in registration order."""
    return tuple(_REGISTRY.scorers)


def router_names() -> tuple[str, ...]:
    return tuple(_REGISTRY.routers)


def benchmark_scorers() -> tuple[str, ...]:
    """The scorers the routing benchmark measures by default, in the order it reports them."""
    return tuple(n for n, s in _REGISTRY.scorers.items() if s.benchmark)


def benchmark_routers() -> tuple[str, ...]:
    """The benchmark's router choices: its scorers and the random baseline."""
    return (*benchmark_scorers(), RANDOM)


def fitted_scorers() -> tuple[str, ...]:
    """Scorers trained on rows (held out by CV in-suite, fitted on other suites cross-suite)."""
    return tuple(n for n, s in _REGISTRY.scorers.items() if s.fitted)


def scorer_spec(name: str) -> ScorerSpec:
    spec = _REGISTRY.scorers.get(name)
    if spec is None:
        raise ConfigError(f"unknown scorer {name!r}; available: {', '.join(scorer_names())}")
    return spec


def make_scorer(name: str, **options: Any) -> Scorer:
    """The scorer ``name`` built with ``options`` (None values are left out: the default)."""
    spec = scorer_spec(name)
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(spec.options))
    if unknown:
        takes = ", ".join(spec.options) or "no options"
        raise ConfigError(f"scorer {name!r} takes {takes}; got {', '.join(unknown)}")
    return spec.factory(**given)


def check_router(name: str) -> None:
    if name not in _REGISTRY.routers:
        raise ConfigError(f"unknown router {name!r}; available: {', '.join(router_names())}")


def make_router(
    name: str, *, threshold: float = 0.5, seed: int = 0, explore_share: float = 0.0
) -> Router:
    """The router ``name``, wrapped in ``Exploring`` when ``explore_share`` > 0."""
    check_router(name)
    router = _REGISTRY.routers[name].factory(threshold=threshold, seed=seed)
    if explore_share > 0:
        # a seed of its own, so exploration does not replay the inner router's draws
        return Exploring(router, share=explore_share, seed=seed + 1)
    return router


def design_for(name: str, design: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a benchmark's hyperparameter grid that scorer ``name`` reads."""
    keys = scorer_spec(name).design
    return {k: v for k, v in design.items() if k in keys}


# -- the trained scorers' weights: an option, else the environment variable --------------------
def _weights(option: str | Path | None, env: str, missing: str) -> str | Path:
    path = option or os.environ.get(env)
    if not path:
        raise ConfigError(missing)
    return path


def _learned(weights: str | Path | None = None) -> Scorer:
    from assistant.routing.learned import WEIGHTS_ENV, LearnedScorer, LogisticModel

    path = _weights(
        weights,
        WEIGHTS_ENV,
        f"the learned scorer needs weights: pass weights=FILE or set {WEIGHTS_ENV} to a JSON "
        "file made by `python -m assistant eval-routing CSV --save-learned-weights FILE`",
    )
    return LearnedScorer(LogisticModel.load(path))


def _text(weights: str | Path | None = None) -> Scorer:
    from assistant.routing.text import FIX, WEIGHTS_ENV, TextModel, TextScorer

    path = _weights(
        weights,
        WEIGHTS_ENV,
        f"the text scorer needs weights: pass weights=FILE or set {WEIGHTS_ENV} to a JSON "
        f"file; {FIX}, or `python -m assistant labels --run RUN --train-router FILE --kind text`",
    )
    return TextScorer(TextModel.load(path))


def _seed() -> Scorer:
    from assistant.routing.seed import SeedKeywordScorer

    return SeedKeywordScorer()


# -- how the benchmark fits the trained scorers -------------------------------------------------
def _pairs(weak: Scores, strong: Scores) -> list[tuple[float, float]]:
    return [(float(w), float(s)) for w, s in zip(weak, strong, strict=True)]


def _learned_cv(
    prompts: Sequence[str],
    weak: Scores,
    strong: Scores,
    *,
    groups: Sequence[str],
    folds: int,
    seed: int,
    **design: Any,
) -> FloatArray:
    from assistant.routing.learned import cross_val_scores, suite_features

    return cross_val_scores(
        suite_features(prompts), _pairs(weak, strong), folds=folds, seed=seed, groups=groups
    )


def _learned_fit(
    prompts: Sequence[str],
    weak: Scores,
    strong: Scores,
    *,
    groups: Sequence[str],
    seed: int,
    trained_on: Sequence[str],
    **design: Any,
) -> Callable[[Sequence[str]], FloatArray]:
    import numpy as np

    from assistant.routing.learned import suite_features, train_logistic

    model = train_logistic(suite_features(prompts), _pairs(weak, strong))
    return lambda test: np.array([model.predict(f) for f in suite_features(test)])


def _text_cv(
    prompts: Sequence[str],
    weak: Scores,
    strong: Scores,
    *,
    groups: Sequence[str],
    folds: int,
    seed: int,
    **design: Any,
) -> FloatArray:
    from assistant.routing.text import cross_val_text_scores

    return cross_val_text_scores(
        prompts, weak, strong, folds=folds, seed=seed, groups=groups, **design
    )


def _text_fit(
    prompts: Sequence[str],
    weak: Scores,
    strong: Scores,
    *,
    groups: Sequence[str],
    seed: int,
    trained_on: Sequence[str],
    **design: Any,
) -> Callable[[Sequence[str]], FloatArray]:
    from assistant.routing.text import train_text

    model = train_text(
        prompts, weak, strong, groups=groups, seed=seed, trained_on=trained_on, **design
    )
    return model.predict


# -- the registrations: add a scorer or a router here ------------------------------------------
register_scorer(
    ScorerSpec(
        "length",
        LengthScorer,
        summary="characters / (characters + 200): the baseline to beat",
    )
)
register_scorer(
    ScorerSpec(
        "heuristic",
        HeuristicScorer,
        tuned_on=HEURISTIC_TUNED_ON,
        summary="hand-weighted, explainable features (the default)",
    )
)
register_scorer(
    ScorerSpec(
        "learned",
        _learned,
        options=("weights",),
        cross_val=_learned_cv,
        fit=_learned_fit,
        summary="logistic regression over the heuristic's features (learned.py)",
    )
)
register_scorer(
    ScorerSpec(
        "text",
        _text,
        options=("weights",),
        cross_val=_text_cv,
        fit=_text_fit,
        design=("alphas", "length_weights"),
        summary="TF-IDF n-grams, ridge on the gain (text.py, scikit-learn)",
    )
)
register_scorer(
    ScorerSpec(
        "seed-keywords",
        _seed,
        benchmark=False,
        summary="the seed design's keyword estimator, as specified (seed.py)",
    )
)
for _router in (ThresholdRouter, RandomRouter, AlwaysCheap, AlwaysPremium):
    register_router(RouterSpec(_router.name, _router, summary=(_router.__doc__ or "").strip()))
