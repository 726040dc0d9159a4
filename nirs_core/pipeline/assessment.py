"""What the executor adds to a result after its predictions are scored: the validation
statistics of the chosen model (:mod:`nirs_core.validation`: calibration = refit on the
calibration set, cv = pooled out-of-fold, test) and its applicability domain as a ``domain``
node of the runtime graph, with the cross-validation residuals that give the conformal
prediction interval (:func:`nirs_core.validation.conformal_quantile`)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from nirs_core.graph.runtime import Node, RuntimeGraph, state_to_bytes
from nirs_core.models.domain import DOMAIN_KERNEL
from nirs_core.names import POOLED_FOLD, REFIT_FOLD
from nirs_core.validation import classification_statistics, conformal_quantile, regression_statistics

__all__ = ["DEFAULT_COVERAGE", "INTERVAL_METHOD", "attach_domain", "stack_domain", "validation_statistics"]

#: Coverage of the prediction interval a bundle reports unless asked otherwise.
DEFAULT_COVERAGE = 0.9
INTERVAL_METHOD = (
    "CV conformal: refit prediction ± the ⌈(n+1)·coverage⌉-th smallest absolute pooled "
    "out-of-fold residual (Barber et al. 2021; MAPIE method='base')"
)


def _row(rows: list[dict[str, Any]], label: str, fold: int, partition: str) -> dict[str, Any] | None:
    for row in rows:
        if row["model"] == label and row["fold"] == fold and row["partition"] == partition:
            return row
    return None


def _arrays(row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    q = int(row["n_targets"])
    t = np.asarray(row["y_true"], dtype=np.float64).reshape(-1, q)
    p = np.asarray(row["y_pred"], dtype=np.float64).reshape(-1, q)
    return t, p


def validation_statistics(
    task: str, rows: list[dict[str, Any]], label: str, targets: list[str], classes: list[Any] | None = None
) -> dict[str, Any]:
    """``{calibration, cv, test}`` statistics of model ``label`` from its prediction rows (a
    kind is missing when the result has no such rows, or fewer than 3 of them). Regression: one
    target's statistics per kind (the first target; ``per_target`` holds every target's when
    there are several). Classification: :func:`classification_statistics` with class names."""
    blocks = {
        "calibration": _row(rows, label, REFIT_FOLD, "train"),
        "cv": _row(rows, label, POOLED_FOLD, "val"),
        "test": _row(rows, label, REFIT_FOLD, "test"),
    }
    out: dict[str, Any] = {}
    if task != "regression":
        names = list(classes or [])
        for kind, row in blocks.items():
            if row is None:
                continue
            t, p = _arrays(row)
            t_codes, p_codes = t[:, 0].astype(np.int64), p[:, 0].astype(np.int64)
            if names:
                codes = list(range(len(names)))
                stats = classification_statistics(t_codes, p_codes, classes=codes)
                stats["per_class"] = {str(names[int(c)]): v for c, v in stats["per_class"].items()}
                stats["classes"] = [str(c) for c in names]
            else:
                stats = classification_statistics(t_codes, p_codes)
            out[kind] = stats
        return out
    per_target: dict[str, dict[str, Any]] = {}
    arrays = {kind: _arrays(row) for kind, row in blocks.items() if row is not None and row["n_samples"] >= 3}
    for j, name in enumerate(targets or ["y"]):
        stats: dict[str, Any] = {}
        for kind in ("calibration", "cv", "test"):
            if kind not in arrays:
                continue
            t, p = arrays[kind]
            secv = stats["cv"]["sep"] if "cv" in stats else None
            n_cv = stats["cv"]["n"] if "cv" in stats else None
            stats[kind] = regression_statistics(t[:, j], p[:, j], kind=kind, secv=secv, n_cv=n_cv)
        per_target[str(name)] = stats
    first = next(iter(per_target.values()), {})
    out.update(first)
    if len(per_target) > 1:
        out["per_target"] = per_target
    return out


def attach_domain(
    graph: RuntimeGraph,
    artifacts: dict[str, bytes],
    domain: tuple[str, dict, dict] | None,
    rows: list[dict[str, Any]],
    label: str,
    model_node: str,
    task: str,
) -> dict[str, Any] | None:
    """Add the ``domain`` node of the chosen model to ``graph`` (its state, with the sorted
    absolute pooled out-of-fold residuals of a regression, stored like any artefact) and return
    its meta (limits and, for regression, the interval at :data:`DEFAULT_COVERAGE`); None
    without a domain."""
    if domain is None:
        return None
    parent, state, meta = domain
    if parent not in {n.id for n in graph.nodes}:
        return None
    state = dict(state)
    meta = dict(meta)
    pooled = _row(rows, label, POOLED_FOLD, "val")
    if task == "regression" and pooled is not None:
        t, p = _arrays(pooled)
        residuals = np.sort(np.abs(p - t), axis=0)
        state["cv_abs_residuals"] = np.ascontiguousarray(residuals)
        meta["interval"] = {
            "method": INTERVAL_METHOD,
            "coverage": DEFAULT_COVERAGE,
            "n": int(residuals.shape[0]),
            "half_width": [
                conformal_quantile(residuals[:, j], DEFAULT_COVERAGE) for j in range(residuals.shape[1])
            ],
        }
    blob = state_to_bytes(state)
    name = f"{hashlib.sha256(blob).hexdigest()}.npz"
    artifacts[name] = blob
    node_id = f"{model_node}_domain"
    graph.add(
        Node(
            id=node_id,
            kind="domain",
            parents=[parent],
            kernel=DOMAIN_KERNEL,
            artifacts={"refit": name},
            meta={**meta, "model": model_node},
        )
    )
    return {**meta, "node": node_id}


def stack_domain(
    graph: RuntimeGraph, full: list[np.ndarray], cal: np.ndarray, test: np.ndarray
) -> tuple[str, dict, dict] | None:
    """The domain of a stacked ensemble, whose meta-model sees predictions rather than spectra: a
    PCA of the calibration spectra as they enter the graph (one source only; None otherwise or
    without a ``stack`` node)."""
    from nirs_core.models.domain import fit_domain, test_flags

    inputs = [n for n in graph.nodes if n.kind == "input"]
    if len(full) != 1 or len(inputs) != 1 or not any(n.kind == "stack" for n in graph.nodes) or cal.size < 3:
        return None
    state, meta = fit_domain(object(), full[0][cal])
    meta["scores"] += " (a stacked ensemble: the spectra as they enter the graph)"
    if test.size:
        meta.update(test_flags(state, meta, full[0][test]))
    return inputs[0].id, state, meta
