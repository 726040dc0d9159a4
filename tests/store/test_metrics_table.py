"""The metric table: directions, ranking by distance to the optimum, and the formulas checked
against scikit-learn and slow loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from nirs_core.errors import ConfigError, DataError
from nirs_core.metrics import METRICS, badness, compute_metric, get_metric, is_better

RNG = np.random.default_rng(7)
Y = RNG.random(40) * 10
P = Y + RNG.normal(0.3, 0.5, 40)
LABELS = RNG.integers(0, 3, 50)
GUESS = np.where(RNG.random(50) < 0.7, LABELS, (LABELS + 1) % 3)


def test_table_directions():
    assert {n for n, m in METRICS.items() if m.higher_is_better} == {"r2", "accuracy", "balanced_accuracy"}
    assert get_metric("rmse").optimum == 0.0 and get_metric("accuracy").optimum == 1.0


def test_ranking_follows_direction():
    assert is_better("rmse", 0.1, 0.2) and not is_better("rmse", 0.2, 0.1)
    assert is_better("r2", 0.9, 0.8) and is_better("accuracy", 1.0, 0.5)
    assert is_better("bias", 0.1, -0.2) and is_better("bias", -0.1, 0.2)
    assert badness("rmse", math.nan) == math.inf and badness("r2", None) == math.inf


def test_regression_formulas_against_references():
    assert compute_metric("rmse", Y, P) == pytest.approx(math.sqrt(skm.mean_squared_error(Y, P)), rel=1e-12)
    assert compute_metric("mae", Y, P) == pytest.approx(skm.mean_absolute_error(Y, P), rel=1e-12)
    assert compute_metric("r2", Y, P) == pytest.approx(skm.r2_score(Y, P), rel=1e-12)
    residuals = [p - y for y, p in zip(Y, P)]
    bias = sum(residuals) / len(residuals)
    sep = math.sqrt(sum((e - bias) ** 2 for e in residuals) / (len(residuals) - 1))
    assert compute_metric("bias", Y, P) == pytest.approx(bias, rel=1e-12)
    assert compute_metric("sep", Y, P) == pytest.approx(sep, rel=1e-12)
    # RMSE² = bias² + SEP²·(n−1)/n: the chemometric identity ties the three together
    n = len(Y)
    assert compute_metric("rmse", Y, P) ** 2 == pytest.approx(bias**2 + sep**2 * (n - 1) / n, rel=1e-12)


def test_classification_formulas_against_references():
    assert compute_metric("accuracy", LABELS, GUESS) == pytest.approx(skm.accuracy_score(LABELS, GUESS))
    assert compute_metric("balanced_accuracy", LABELS, GUESS) == pytest.approx(
        skm.balanced_accuracy_score(LABELS, GUESS), rel=1e-12
    )


def test_degenerate_cases():
    assert math.isnan(compute_metric("r2", np.ones(4), np.arange(4.0)))
    assert math.isnan(compute_metric("sep", np.ones(1), np.zeros(1)))


def test_errors():
    with pytest.raises(ConfigError, match=r"metric: expected one of \[.*'rmse'.*\]; got 'rmsep'"):
        get_metric("rmsep")
    with pytest.raises(ConfigError, match=r"got 'rmsep'"):
        badness("rmsep", 1.0)
    with pytest.raises(
        DataError,
        match=r"compute_metric\('rmse'\): expected y_true and y_pred of the same non-empty shape; got \(3,\) and \(4,\)",
    ):
        compute_metric("rmse", np.zeros(3), np.zeros(4))
