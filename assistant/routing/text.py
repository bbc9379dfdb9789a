"""A router learned on the prompt's text: TF-IDF word and character n-grams, ridge regression on the gain.

Training rows are prompts with both tiers' quality (RouteLLM's CSVs, or a ``--both-tiers`` run's
labels). The target is the gain ``strong − weak``; the features are scikit-learn's TF-IDF of word
1–2-grams and character 2–5-grams (within words), plus the prompt's log length as one more column
scaled by ``length_weight`` (0 leaves length out). The default design is ``alpha = 3`` and
``length_weight = 1`` (:data:`ALPHAS`, :data:`LENGTH_WEIGHTS`): chosen on in-suite cross-validation
of RouteLLM's gsm8k and mtbench (see the README), which makes that choice in-sample for them. Given
several values, ``alpha`` and ``length_weight`` are chosen by an *inner* grouped cross-validation
on the training rows only (the rows of one group, e.g. both turns of an MT-Bench conversation,
share a fold), scored by the gain recovered when the top-scored prompts go to the strong model.
Nothing outside the rows handed to :func:`train_text` is ever seen, which is what lets
``eval-routing`` report it on a held-out suite.

* ``train_text(prompts, weak, strong, groups=...)`` → ``TextModel``; ``model.save(path)`` /
  ``TextModel.load(path)`` keep it as JSON (vocabularies, idf, coefficients: no pickle), and the
  loader rejects a foreign or damaged file with the fix.
* ``cross_val_text_scores(...)`` gives held-out scores by grouped k-fold CV.
* ``TextScorer(model)`` is the scorer; without a model it loads the file named by
  ``$WORKBENCH_TEXT_WEIGHTS``. The score is a logistic of the predicted gain, in (0, 1); its
  contributions are the n-grams (and length) that moved it most.

scikit-learn and numpy are imported inside functions, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.core.errors import ConfigError
from assistant.routing.learned import fold_ids
from assistant.routing.scorer import Score, ScoreContext, Scorer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

WEIGHTS_ENV = "WORKBENCH_TEXT_WEIGHTS"
FORMAT = 1
KIND = "text-ridge"
WORD_NGRAMS = {"analyzer": "word", "ngram_range": (1, 2), "min_df": 2, "max_features": 20000}
CHAR_NGRAMS = {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2, "max_features": 20000}
ALPHAS: tuple[float, ...] = (3.0,)
LENGTH_WEIGHTS: tuple[float, ...] = (1.0,)
"""The default design (one value each: no inner CV). Pass several to choose by inner CV, e.g.
``eval-routing --text-alpha 1,3,10 --text-length-weight 0,1``."""
INNER_FOLDS = 3
GAIN_SCALE = 0.25  # the scorer's value is sigmoid(predicted gain / GAIN_SCALE)
FIX = "train one with `python -m assistant eval-routing CSV... --save-weights FILE`"


def _vectorizer(
    spec: dict[str, Any], vocabulary: Sequence[str] | None = None, cache: _Cache | None = None
) -> Any:
    """scikit-learn's TF-IDF vectorizer for ``spec``; with ``cache``, its analyzer remembers each
    prompt's n-grams (the same n-grams: training refits on many folds of the same prompts)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vocab = {term: i for i, term in enumerate(vocabulary)} if vocabulary is not None else None
    opts = {
        k: v for k, v in spec.items() if vocabulary is None or k not in ("min_df", "max_features")
    }
    vectorizer = TfidfVectorizer(sublinear_tf=True, lowercase=True, vocabulary=vocab, **opts)
    if cache is None:
        return vectorizer
    # a separate instance: the analyzer reads its vectorizer's ngram_range when called
    analyze = TfidfVectorizer(sublinear_tf=True, lowercase=True, **opts).build_analyzer()
    memo = cache.setdefault(str(spec["analyzer"]), {})

    def analyzer(doc: str) -> list[str]:
        if doc not in memo:
            memo[doc] = analyze(doc)
        return memo[doc]

    return vectorizer.set_params(analyzer=analyzer, ngram_range=(1, 1))


_Cache = dict[str, dict[str, list[str]]]


def _log_length(prompts: Sequence[str]) -> FloatArray:
    import numpy as np

    return np.log1p(np.array([len(p) for p in prompts], dtype=np.float64))


@dataclass(frozen=True, slots=True)
class _Features:
    """TF-IDF vectorizers fitted on training prompts, and the length column's standardisation."""

    word: Any
    char: Any
    length_mean: float
    length_scale: float

    @classmethod
    def fit(cls, prompts: Sequence[str], cache: _Cache | None = None) -> tuple[_Features, Any]:
        """The fitted features and the training prompts' TF-IDF matrix."""
        from scipy import sparse

        parts = []
        fitted = []
        for spec in (WORD_NGRAMS, CHAR_NGRAMS):
            try:
                vectorizer = _vectorizer(spec, cache=cache)
                parts.append(vectorizer.fit_transform(prompts))
            except ValueError:  # too few prompts for min_df: keep every n-gram
                vectorizer = _vectorizer({**spec, "min_df": 1}, cache=cache)
                parts.append(vectorizer.fit_transform(prompts))
            fitted.append(vectorizer)
        length = _log_length(prompts)
        features = cls(fitted[0], fitted[1], float(length.mean()), max(float(length.std()), 1e-9))
        return features, sparse.hstack(parts, format="csr")

    def text(self, prompts: Sequence[str]) -> Any:
        from scipy import sparse

        return sparse.hstack(
            [self.word.transform(prompts), self.char.transform(prompts)], format="csr"
        )

    def with_length(self, text: Any, prompts: Sequence[str], length_weight: float) -> Any:
        """``text`` (the TF-IDF rows of ``prompts``) with the weighted length column appended."""
        from scipy import sparse

        length = (_log_length(prompts) - self.length_mean) / self.length_scale
        return sparse.hstack(
            [text, sparse.csr_matrix(length[:, None] * length_weight)], format="csr"
        )

    def matrix(self, prompts: Sequence[str], length_weight: float) -> Any:
        return self.with_length(self.text(prompts), prompts, length_weight)


def _ridge(x: Any, gain: FloatArray, alpha: float) -> tuple[FloatArray, float]:
    import numpy as np
    from sklearn.linear_model import Ridge

    fit = Ridge(alpha=alpha).fit(x, gain)
    return np.asarray(fit.coef_, dtype=np.float64), float(fit.intercept_)


def recovered_gain(scores: FloatArray, gain: FloatArray) -> float:
    """Mean gain recovered over all strong shares when the top-scored prompts go strong, less
    random routing's (the inner-CV criterion: APGR up to the suite's scale)."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    curve = np.concatenate(([0.0], np.cumsum(gain[order])))
    return float(((curve[:-1] + curve[1:]) / 2).mean() - gain.sum() / 2)


def _choose(
    features: _Features,
    text: Any,
    prompts: Sequence[str],
    gain: FloatArray,
    groups: Sequence[str],
    *,
    alphas: Sequence[float],
    length_weights: Sequence[float],
    seed: int,
) -> tuple[float, float, dict[str, float]]:
    """(alpha, length_weight) with the most gain recovered over inner grouped folds of the
    training rows. The TF-IDF vocabulary and idf are the training split's (no label enters them),
    so only the ridge fits are repeated."""
    import numpy as np

    grid = [(a, w) for a in alphas for w in length_weights]
    if len(grid) == 1 or len(set(groups)) < 2 * INNER_FOLDS:
        return grid[0][0], grid[0][1], {}
    ids = np.array(fold_ids(len(prompts), folds=INNER_FOLDS, seed=seed, groups=groups))
    total = dict.fromkeys(grid, 0.0)
    for w in length_weights:
        x = features.with_length(text, prompts, w)
        for k in range(INNER_FOLDS):
            train, test = ids != k, ids == k
            for a in alphas:
                coef, intercept = _ridge(x[train], gain[train], a)
                total[(a, w)] += recovered_gain(x[test] @ coef + intercept, gain[test])
    best = max(grid, key=lambda key: (total[key], -grid.index(key)))
    return best[0], best[1], {f"alpha={a:g} length_weight={w:g}": v for (a, w), v in total.items()}


@dataclass(frozen=True)
class TextModel:
    """Predicted gain = intercept + coef · [tfidf(words), tfidf(chars), length_weight · z(log length)]."""

    word_vocab: tuple[str, ...]
    word_idf: tuple[float, ...]
    char_vocab: tuple[str, ...]
    char_idf: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    length_mean: float
    length_scale: float
    length_weight: float
    alpha: float
    trained_rows: int = 0
    trained_on: tuple[str, ...] = ()
    inner_cv: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.word_vocab) != len(self.word_idf) or len(self.char_vocab) != len(self.char_idf):
            raise ValueError("each vocabulary needs one idf per term")
        if len(self.coef) != len(self.word_vocab) + len(self.char_vocab) + 1:
            raise ValueError(
                f"{len(self.coef)} coefficients for {len(self.word_vocab)} words, "
                f"{len(self.char_vocab)} character n-grams and length"
            )
        if self.length_scale <= 0 or not all(math.isfinite(c) for c in self.coef):
            raise ValueError("length_scale must be positive and coefficients finite")

    @cached_property
    def _features(self) -> _Features:
        import numpy as np

        word = _vectorizer(WORD_NGRAMS, self.word_vocab)
        char = _vectorizer(CHAR_NGRAMS, self.char_vocab)
        word.idf_ = np.array(self.word_idf, dtype=np.float64)
        char.idf_ = np.array(self.char_idf, dtype=np.float64)
        return _Features(word, char, self.length_mean, self.length_scale)

    @cached_property
    def _coef(self) -> FloatArray:
        import numpy as np

        return np.array(self.coef, dtype=np.float64)

    @cached_property
    def _names(self) -> tuple[str, ...]:
        return (
            *(f"word:{t}" for t in self.word_vocab),
            *(f"chars:{t!r}" for t in self.char_vocab),
            "length",
        )

    def predict(self, prompts: Sequence[str]) -> FloatArray:
        """The predicted gain (strong − weak) of each prompt."""
        import numpy as np

        if not prompts:
            return np.zeros(0, dtype=np.float64)
        x = self._features.matrix(list(prompts), self.length_weight)
        return np.asarray(x @ self._coef + self.intercept, dtype=np.float64)

    def contributions(self, prompt: str, top: int = 6) -> dict[str, float]:
        """The ``top`` features that moved this prompt's prediction most (coefficient × value)."""
        row = self._features.matrix([prompt], self.length_weight).tocsr()
        parts = {
            self._names[j]: float(self._coef[j] * v)
            for j, v in zip(row.indices, row.data, strict=True)
        }
        ranked = sorted(parts.items(), key=lambda kv: -abs(kv[1]))[:top]
        return {name: round(value, 4) for name, value in ranked}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": KIND,
            "target": "strong_score - weak_score (ridge regression)",
            "word_ngrams": {
                k: list(v) if isinstance(v, tuple) else v for k, v in WORD_NGRAMS.items()
            },
            "char_ngrams": {
                k: list(v) if isinstance(v, tuple) else v for k, v in CHAR_NGRAMS.items()
            },
            "alpha": self.alpha,
            "length_weight": self.length_weight,
            "length_mean": self.length_mean,
            "length_scale": self.length_scale,
            "intercept": self.intercept,
            "trained_rows": self.trained_rows,
            "trained_on": list(self.trained_on),
            "inner_cv": self.inner_cv,
            "word_vocab": list(self.word_vocab),
            "word_idf": [round(v, 6) for v in self.word_idf],
            "char_vocab": list(self.char_vocab),
            "char_idf": [round(v, 6) for v in self.char_idf],
            "coef": [float(f"{v:.6g}") for v in self.coef],
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json()) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, data: Any) -> TextModel:
        if not isinstance(data, dict):
            raise ValueError("the file holds no JSON object")
        if data.get("kind") != KIND:
            raise ValueError(f"kind is {data.get('kind')!r}, not {KIND!r}")
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}; this version reads format {FORMAT}")
        return cls(
            word_vocab=tuple(str(t) for t in data["word_vocab"]),
            word_idf=tuple(float(v) for v in data["word_idf"]),
            char_vocab=tuple(str(t) for t in data["char_vocab"]),
            char_idf=tuple(float(v) for v in data["char_idf"]),
            coef=tuple(float(v) for v in data["coef"]),
            intercept=float(data["intercept"]),
            length_mean=float(data["length_mean"]),
            length_scale=float(data["length_scale"]),
            length_weight=float(data["length_weight"]),
            alpha=float(data["alpha"]),
            trained_rows=int(data.get("trained_rows", 0)),
            trained_on=tuple(str(s) for s in data.get("trained_on", ())),
            inner_cv={str(k): float(v) for k, v in dict(data.get("inner_cv", {})).items()},
        )

    @classmethod
    def load(cls, path: str | Path) -> TextModel:
        p = Path(path)
        try:
            return cls.from_json(json.loads(p.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such text-router weights file; {FIX}") from None
        except IsADirectoryError:
            raise ConfigError(f"{p}: is a folder, not a text-router weights file; {FIX}") from None
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: not a text-router weights file ({exc}); {FIX}") from exc


def train_text(
    prompts: Sequence[str],
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
    *,
    groups: Sequence[str] | None = None,
    alphas: Sequence[float] = ALPHAS,
    length_weights: Sequence[float] = LENGTH_WEIGHTS,
    seed: int = 0,
    trained_on: Sequence[str] = (),
    cache: _Cache | None = None,
) -> TextModel:
    """Fit the text router on these rows only; ``alpha`` and ``length_weight`` by inner CV when
    more than one value of either is given."""
    import numpy as np

    w = np.asarray(weak, dtype=np.float64)
    s = np.asarray(strong, dtype=np.float64)
    if not (len(prompts) == len(w) == len(s)):
        raise ValueError(f"{len(prompts)} prompts but {len(w)} weak and {len(s)} strong scores")
    if len(prompts) < 2:
        raise ValueError("the text router needs at least two training prompts")
    keys = list(groups) if groups is not None else [str(i) for i in range(len(prompts))]
    gain = s - w
    memo: _Cache = {} if cache is None else cache
    features, text = _Features.fit(prompts, memo)
    alpha, length_weight, inner = _choose(
        features, text, prompts, gain, keys, alphas=alphas, length_weights=length_weights, seed=seed
    )
    coef, intercept = _ridge(features.with_length(text, prompts, length_weight), gain, alpha)
    word_vocab = features.word.get_feature_names_out()
    char_vocab = features.char.get_feature_names_out()
    return TextModel(
        word_vocab=tuple(str(t) for t in word_vocab),
        word_idf=tuple(float(v) for v in features.word.idf_),
        char_vocab=tuple(str(t) for t in char_vocab),
        char_idf=tuple(float(v) for v in features.char.idf_),
        coef=tuple(float(c) for c in coef),
        intercept=intercept,
        length_mean=features.length_mean,
        length_scale=features.length_scale,
        length_weight=length_weight,
        alpha=alpha,
        trained_rows=len(prompts),
        trained_on=tuple(trained_on),
        inner_cv=inner,
    )


def cross_val_text_scores(
    prompts: Sequence[str],
    weak: Sequence[float] | FloatArray,
    strong: Sequence[float] | FloatArray,
    *,
    folds: int = 5,
    seed: int = 0,
    groups: Sequence[str] | None = None,
    alphas: Sequence[float] = ALPHAS,
    length_weights: Sequence[float] = LENGTH_WEIGHTS,
) -> FloatArray:
    """Held-out predicted gain for every row: each fold scored by a model fitted on the others
    (whose own hyperparameters come from CV inside those others)."""
    import numpy as np

    w = np.asarray(weak, dtype=np.float64)
    s = np.asarray(strong, dtype=np.float64)
    keys = list(groups) if groups is not None else [str(i) for i in range(len(prompts))]
    ids = np.array(fold_ids(len(prompts), folds=folds, seed=seed, groups=keys))
    items = np.array(prompts, dtype=object)
    group_arr = np.array(keys, dtype=object)
    out = np.zeros(len(prompts), dtype=np.float64)
    memo: _Cache = {}
    for k in range(folds):
        train, test = ids != k, ids == k
        model = train_text(
            list(items[train]),
            w[train],
            s[train],
            groups=list(group_arr[train]),
            alphas=alphas,
            length_weights=length_weights,
            seed=seed,
            cache=memo,
        )
        out[test] = model.predict(list(items[test]))
    return out


class TextScorer(Scorer):
    """The text model's predicted gain through a logistic (0.5 at no gain, 0.73 at +0.25), with
    its top n-grams; monotone, so thresholds keep the model's ranking."""

    name = "text"

    def __init__(self, model: TextModel | None = None) -> None:
        if model is None:
            path = os.environ.get(WEIGHTS_ENV)
            if not path:
                raise ConfigError(
                    f"the text scorer needs weights: set {WEIGHTS_ENV} to a JSON file; {FIX}, "
                    "or `python -m assistant labels --run RUN --train-router FILE --kind text`"
                )
            model = TextModel.load(path)
        self.model = model

    def score(self, question: str, context: ScoreContext) -> Score:
        gain = float(self.model.predict([question])[0])
        value = 1.0 / (1.0 + math.exp(-min(max(gain / GAIN_SCALE, -50.0), 50.0)))
        return Score(round(value, 6), self.model.contributions(question))
