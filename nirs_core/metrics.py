"""The metric table: one place that says, for every score the project stores, which way is
better. Every "best" decision (top-k in a predictions summary, the leaderboard, the refit
choice) ranks through :func:`badness`, never through a bare ``min``/``max``.

A score's *badness* is its distance to the metric's optimum: ``|score - optimum|``. This ranks
RMSE (optimum 0, never negative: lower is better), R² and accuracy (optimum 1, never above:
higher is better) and bias (optimum 0, either sign: closer to zero is better) by one rule.

The functions computing the scores are plain numpy, one line each, so that the formulas are
visible (bias and SEP follow the chemometric convention, residual = predicted − measured):

- ``rmse``  √(mean(e²))                    - ``mae``   mean(|e|)
- ``r2``    1 − Σe² / Σ(y − ȳ)²            - ``bias``  mean(e)
- ``sep``   √(Σ(e − bias)² / (n − 1))       (standard error of prediction, bias-corrected)
- ``accuracy``            fraction of exact label matches
- ``balanced_accuracy``   mean over the classes present in ``y_true`` of the per-class recall
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nirs_core.errors import ConfigError, DataError

__all__ = [
    "METRICS",
    "Metric",
    "badness",
    "check_pair",
    "compute_metric",
    "get_metric",
    "is_better",
    "regression_scores",
]


@dataclass(frozen=True)
class Metric:
    """Metadata of one metric: ``higher_is_better`` for display arrows, ``optimum`` for ranking."""

    name: str
    higher_is_better: bool
    optimum: float
    task: str  # "regression" or "classification"
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("rmse", False, 0.0, "regression", "root mean square error"),
        Metric("mae", False, 0.0, "regression", "mean absolute error"),
        Metric("r2", True, 1.0, "regression", "coefficient of determination"),
        Metric("bias", False, 0.0, "regression", "mean residual (predicted − measured); best at 0"),
        Metric("sep", False, 0.0, "regression", "standard error of prediction (bias-corrected)"),
        Metric("accuracy", True, 1.0, "classification", "fraction of correct labels"),
        Metric("balanced_accuracy", True, 1.0, "classification", "mean per-class recall"),
    )
}


def get_metric(name: str) -> Metric:
    """The :class:`Metric` called ``name``; :class:`ConfigError` naming the known ones otherwise."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"metric: expected one of {sorted(METRICS)}; got {name!r}.") from None


def badness(name: str, score: float) -> float:
    """Distance of ``score`` to the optimum of metric ``name``: smaller is better. A NaN score
    ranks last (``inf``)."""
    metric = get_metric(name)
    if score is None or math.isnan(score):
        return math.inf
    return abs(float(score) - metric.optimum)


def is_better(name: str, a: float, b: float) -> bool:
    """True when score ``a`` is strictly better than score ``b`` for metric ``name``."""
    return badness(name, a) < badness(name, b)


def regression_scores(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """``rmse``, ``mae``, ``r2``, ``bias`` and ``sep`` of ``p`` against ``t`` (float arrays of
    one shape), from the residuals computed once: a result scores hundreds of small blocks
    (folds × partitions × configs), where numpy's per-call overhead outweighs the arithmetic.
    Sums are numpy's pairwise ``add.reduce``, as in ``np.mean``/``np.sum``."""
    e = p - t
    n = e.size
    sum_sq = float(np.add.reduce(e * e, axis=None))
    bias = float(np.add.reduce(e, axis=None)) / n
    centred = t - np.add.reduce(t, axis=0) / t.shape[0]
    ss_tot = float(np.add.reduce(centred * centred, axis=None))
    spread = e - bias
    return {
        "rmse": math.sqrt(sum_sq / n),
        "mae": float(np.add.reduce(np.abs(e), axis=None)) / n,
        "r2": math.nan if ss_tot == 0.0 else 1.0 - sum_sq / ss_tot,  # constant y_true: undefined
        "bias": bias,
        "sep": math.nan if n < 2 else math.sqrt(float(np.add.reduce(spread * spread, axis=None)) / (n - 1)),
    }


def _regression_metric(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    return lambda t, p: regression_scores(t, p)[name]


def _accuracy(t: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(t == p))


def _balanced_accuracy(t: np.ndarray, p: np.ndarray) -> float:
    classes = np.unique(t)
    return float(np.mean([np.mean(p[t == c] == c) for c in classes]))


_COMPUTE: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    **{name: _regression_metric(name) for name in ("rmse", "mae", "r2", "bias", "sep")},
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
}


def compute_metric(name: str, y_true, y_pred) -> float:
    """Score ``y_pred`` against ``y_true`` with metric ``name`` (arrays of the same shape;
    several targets are pooled)."""
    get_metric(name)
    t, p = check_pair(f"compute_metric({name!r})", y_true, y_pred)
    return _COMPUTE[name](t, p)


def check_pair(owner: str, y_true, y_pred, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``y_pred`` as arrays of one non-empty shape; ``DataError`` otherwise."""
    t = np.asarray(y_true, dtype=dtype)
    p = np.asarray(y_pred, dtype=dtype)
    if t.shape != p.shape or t.size == 0:
        raise DataError(
            f"{owner}: expected y_true and y_pred of the same non-empty shape; got {t.shape} and {p.shape}."
        )
    return t, p
