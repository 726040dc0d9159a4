"""Scores and prediction rows of one result (through the metric table of
:mod:`nirs_core.metrics`).

Regression: ``rmse`` (the selection metric: RMSECV on the pooled out-of-fold predictions,
RMSEP on the test partition), ``mae``, ``r2``, ``bias``, ``sep``. Classification:
``accuracy`` (the selection metric) and ``balanced_accuracy``, on class codes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nirs_core.metrics import METRICS, check_pair, compute_metric, regression_scores

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "prediction_row",
    "score_all",
    "selection_metric",
    "task_metrics",
]

REGRESSION_METRICS = ("rmse", "mae", "r2", "bias", "sep")
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy")


def selection_metric(task: str) -> str:
    """``rmse`` for regression, ``accuracy`` for classification."""
    return "rmse" if task == "regression" else "accuracy"


def task_metrics(task: str) -> tuple[str, ...]:
    """The metrics scored for a task (the keys of :func:`score_all`)."""
    return REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS


def score_all(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Every metric of the task for one block of predictions (2-D arrays, same shape)."""
    if task == "regression":
        return regression_scores(*check_pair("score_all", y_true, y_pred, np.float64))
    return {name: compute_metric(name, y_true, y_pred) for name in CLASSIFICATION_METRICS}


def prediction_row(
    *,
    task: str,
    ident: dict[str, Any],
    model: str,
    fold: int,
    partition: str,
    sample: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_proba: np.ndarray | None = None,
) -> dict[str, Any]:
    """One row of :data:`nirs_core.store.predictions.SCHEMA` (arrays flattened row-major)."""
    metric = selection_metric(task)
    scores = score_all(task, y_true, y_pred)
    row: dict[str, Any] = {
        **ident,
        "model": model,
        "fold": int(fold),
        "partition": partition,
        "n_samples": int(sample.shape[0]),
        "n_targets": int(y_true.shape[1]),
        "sample": [int(s) for s in sample],
        "y_true": np.asarray(y_true, dtype=np.float64).reshape(-1).tolist(),
        "y_pred": np.asarray(y_pred, dtype=np.float64).reshape(-1).tolist(),
        "metric": metric,
        "score": scores[metric],
    }
    if y_proba is not None:
        row["n_classes"] = int(y_proba.shape[1])
        row["y_proba"] = np.asarray(y_proba, dtype=np.float64).reshape(-1).tolist()
    for name in METRICS:
        row[name] = scores.get(name)
    return row
