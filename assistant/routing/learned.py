"""A learned router: logistic regression over the heuristic's features (numpy, L2, Newton steps).

Training rows are questions whose answer quality is known for both tiers. The label is "the strong
model helps": ``strong_score > weak_score + margin``. The model's probability is the score, so it
routes with the same ``threshold`` router as the heuristic, and every request keeps the per-feature
contributions (``weight × standardised feature``) like the heuristic's.

* ``train_logistic(features, outcomes, l2=...)`` → ``LogisticModel``; ``model.save(path)`` /
  ``LogisticModel.load(path)`` keep its weights as JSON.
* ``cross_val_scores(...)`` gives held-out scores by k-fold cross-validation (grouped, so the turns
  of one conversation never straddle train and test): the only figures worth reporting.
* ``LearnedScorer(model)`` is the scorer; without a model it loads the JSON file named by
  ``$WORKBENCH_LEARNED_WEIGHTS``.

numpy is imported only to train; scoring one question is plain Python.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.core.errors import ConfigError
from assistant.routing.scorer import WEIGHTS, HeuristicScorer, Score, ScoreContext, Scorer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

WEIGHTS_ENV = "WORKBENCH_LEARNED_WEIGHTS"
FEATURE_NAMES: tuple[str, ...] = tuple(WEIGHTS)
FORMAT = 1
_BIAS_L2 = 1e-4  # keeps the intercept finite when a fold holds one class only


def question_features(question: str, context: ScoreContext | None = None) -> dict[str, float]:
    """The heuristic's features of one question: what the learned model sees."""
    return HeuristicScorer().features(question, context or ScoreContext())


def suite_features(prompts: Sequence[str]) -> list[dict[str, float]]:
    scorer = HeuristicScorer()
    return [scorer.features(p, ScoreContext()) for p in prompts]


@dataclass(frozen=True, slots=True)
class LogisticModel:
    """P(strong helps) = sigmoid(bias + Σ weight_i · (x_i − mean_i) / scale_i)."""

    feature_names: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    l2: float
    margin: float = 0.0
    trained_rows: int = 0

    def __post_init__(self) -> None:
        n = len(self.feature_names)
        if not (len(self.weights) == len(self.mean) == len(self.scale) == n):
            raise ValueError("feature_names, weights, mean and scale must have one length")
        if any(s <= 0 for s in self.scale):
            raise ValueError("scales must be positive")

    def contributions(self, features: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the logit; a feature missing from ``features`` counts as 0."""
        return {
            name: w * (float(features.get(name, 0.0)) - m) / s
            for name, w, m, s in zip(
                self.feature_names, self.weights, self.mean, self.scale, strict=True
            )
        }

    def logit(self, features: Mapping[str, float]) -> float:
        return self.bias + sum(self.contributions(features).values())

    def predict(self, features: Mapping[str, float]) -> float:
        """The probability that the strong model helps."""
        return _sigmoid(self.logit(features))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": "logistic",
            "label": f"strong_score > weak_score + {self.margin}",
            "feature_names": list(self.feature_names),
            "weights": list(self.weights),
            "bias": self.bias,
            "mean": list(self.mean),
            "scale": list(self.scale),
            "l2": self.l2,
            "margin": self.margin,
            "trained_rows": self.trained_rows,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogisticModel:
        if data.get("format") != FORMAT or data.get("kind") != "logistic":
            raise ValueError(f"not a logistic model of format {FORMAT}")
        return cls(
            feature_names=tuple(str(n) for n in data["feature_names"]),
            weights=tuple(float(w) for w in data["weights"]),
            bias=float(data["bias"]),
            mean=tuple(float(m) for m in data["mean"]),
            scale=tuple(float(s) for s in data["scale"]),
            l2=float(data["l2"]),
            margin=float(data.get("margin", 0.0)),
            trained_rows=int(data.get("trained_rows", 0)),
        )

    @classmethod
    def load(cls, path: str | Path) -> LogisticModel:
        p = Path(path)
        fix = "train weights with `python -m assistant eval-routing CSV --save-learned-weights FILE`"
        try:
            return cls.from_json(json.loads(p.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such weights file; {fix}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{p}: not a learned-router weights file ({exc}); {fix}") from exc


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def labels(outcomes: Sequence[tuple[float, float]], *, margin: float = 0.0) -> list[float]:
    """1.0 where the strong model helps (``strong > weak + margin``), else 0.0."""
    return [1.0 if strong > weak + margin else 0.0 for weak, strong in outcomes]


def _matrix(
    features: Sequence[Mapping[str, float]], names: Sequence[str]
) -> npt.NDArray[np.float64]:
    import numpy as np

    return np.array([[float(f.get(n, 0.0)) for n in names] for f in features], dtype=np.float64)


def train_logistic(
    features: Sequence[Mapping[str, float]],
    outcomes: Sequence[tuple[float, float]],
    *,
    l2: float = 1.0,
    margin: float = 0.0,
    feature_names: Sequence[str] | None = None,
    max_iter: int = 100,
) -> LogisticModel:
    """Fit P(strong helps | features) by L2-penalised logistic regression (Newton / IRLS).

    ``outcomes`` are ``(weak_score, strong_score)`` pairs, one per feature dict. Features are
    standardised first (a constant feature gets weight 0), so ``l2`` weighs all of them alike.
    """
    import numpy as np

    if len(features) != len(outcomes):
        raise ValueError(f"{len(features)} feature rows but {len(outcomes)} outcomes")
    if not features:
        raise ValueError("no training rows")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    names = tuple(feature_names or sorted({k for f in features for k in f}))
    x = _matrix(features, names)
    y = np.array(labels(outcomes, margin=margin), dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    penalty = np.diag([*([l2] * len(names)), _BIAS_L2])
    beta = np.zeros(len(names) + 1)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -35, 35)))
        grad = z.T @ (p - y) + penalty @ beta
        hess = (z * (p * (1 - p))[:, None]).T @ z + penalty + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(hess, grad)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return LogisticModel(
        feature_names=names,
        weights=tuple(float(b) for b in beta[:-1]),
        bias=float(beta[-1]),
        mean=tuple(float(m) for m in mean),
        scale=tuple(float(s) for s in scale),
        l2=l2,
        margin=margin,
        trained_rows=len(features),
    )


def fold_ids(
    n: int, *, folds: int, seed: int = 0, groups: Sequence[str] | None = None
) -> list[int]:
    """Fold of each row: rows of one group share a fold; groups are shuffled with ``seed``."""
    import numpy as np

    keys = list(groups) if groups is not None else [str(i) for i in range(n)]
    if len(keys) != n:
        raise ValueError(f"{len(keys)} groups for {n} rows")
    unique = sorted(set(keys))
    if not 2 <= folds <= len(unique):
        raise ValueError(f"folds must be in 2..{len(unique)} (the number of groups), got {folds}")
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[g]: i % folds for i, g in enumerate(order)}
    return [fold_of[k] for k in keys]


def cross_val_scores(
    features: Sequence[Mapping[str, float]],
    outcomes: Sequence[tuple[float, float]],
    *,
    folds: int = 5,
    seed: int = 0,
    groups: Sequence[str] | None = None,
    l2: float = 1.0,
    margin: float = 0.0,
) -> npt.NDArray[np.float64]:
    """Held-out P(strong helps) for every row: each fold scored by a model trained on the others."""
    import numpy as np

    ids = fold_ids(len(features), folds=folds, seed=seed, groups=groups)
    names = tuple(sorted({k for f in features for k in f}))
    out = np.zeros(len(features), dtype=np.float64)
    for k in range(folds):
        train = [i for i, f in enumerate(ids) if f != k]
        model = train_logistic(
            [features[i] for i in train],
            [outcomes[i] for i in train],
            l2=l2,
            margin=margin,
            feature_names=names,
        )
        for i, f in enumerate(ids):
            if f == k:
                out[i] = model.predict(features[i])
    return out


class LearnedScorer(Scorer):
    """The learned model's probability as the score, with per-feature logit contributions."""

    name = "learned"

    def __init__(self, model: LogisticModel | None = None) -> None:
        if model is None:
            path = os.environ.get(WEIGHTS_ENV)
            if not path:
                raise ConfigError(
                    f"the learned scorer needs weights: set {WEIGHTS_ENV} to a JSON file made by "
                    "`python -m assistant eval-routing CSV --save-learned-weights FILE`"
                )
            model = LogisticModel.load(path)
        self.model = model
        self._heuristic = HeuristicScorer()

    def score(self, question: str, context: ScoreContext) -> Score:
        features = self._heuristic.features(question, context)
        contributions = {k: round(v, 4) for k, v in self.model.contributions(features).items()}
        return Score(round(self.model.predict(features), 6), contributions)
