"""Pure numpy kernels of feature (wavelength) selection."""

from __future__ import annotations

import numpy as np

__all__ = ["cars_ratios", "contiguous_intervals", "select_columns", "vip_scores"]


def select_columns(X: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The columns ``indices`` of ``X`` (a new float64 array)."""
    return np.asarray(X, dtype=np.float64)[:, np.asarray(indices, dtype=np.intp)]


def vip_scores(x_weights: np.ndarray, x_scores_ss: np.ndarray, y_loadings: np.ndarray) -> np.ndarray:
    """Variable importance in projection (Wold et al. 1993; Chong & Jun 2005):

    ``VIP_j = sqrt(p · Σ_a SS_a (w_ja / ‖w_a‖)² / Σ_a SS_a)`` with ``SS_a = (Σ_k q_ka²) tₐᵀtₐ``
    the y variance explained by component ``a``. ``x_weights`` is ``W`` (p, A),
    ``x_scores_ss`` the ``tₐᵀtₐ`` (A,), ``y_loadings`` ``Q`` (n_targets, A). The mean of the
    squared VIPs is 1, hence the usual threshold 1.
    """
    W = np.asarray(x_weights, dtype=np.float64)
    Q = np.asarray(y_loadings, dtype=np.float64).reshape(-1, W.shape[1])
    ss = np.sum(Q * Q, axis=0) * np.asarray(x_scores_ss, dtype=np.float64)
    norms = np.linalg.norm(W, axis=0)
    Wn = W / np.where(norms > 0.0, norms, 1.0)
    total = float(ss.sum())
    if total <= 0.0:
        return np.ones(W.shape[0])
    return np.sqrt(W.shape[0] * (Wn * Wn) @ ss / total)


def contiguous_intervals(n_features: int, n_intervals: int) -> np.ndarray:
    """``(n_intervals, 2)`` ``[start, stop)`` bounds of contiguous intervals of near-equal width
    (the first ``n_features % n_intervals`` one channel wider), as ``numpy.array_split``."""
    sizes = np.full(n_intervals, n_features // n_intervals)
    sizes[: n_features % n_intervals] += 1
    stops = np.cumsum(sizes)
    return np.column_stack([stops - sizes, stops])


def cars_ratios(n_features: int, n_runs: int) -> np.ndarray:
    """CARS exponentially decreasing function: the fraction of variables kept after run ``i``,
    ``r_i = exp(-k (i - 1))`` with ``r_1 = 1`` and ``r_N = 2 / p`` (Li et al., Anal. Chim. Acta 648
    (2009) 77–84); 1 throughout when ``p ≤ 2``."""
    if n_features <= 2 or n_runs < 2:
        return np.ones(n_runs)
    k = np.log(n_features / 2.0) / (n_runs - 1)
    return np.exp(-k * np.arange(n_runs))
