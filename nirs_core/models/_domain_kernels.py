"""Pure numpy kernel of the applicability domain (no scipy, no scikit-learn): what replay calls
on the preprocessed spectra of a bundle's model to say whether each new spectrum is like the
calibration set. The limits and how they were estimated are in :mod:`nirs_core.models.domain`."""

from __future__ import annotations

import numpy as np

__all__ = ["domain_scores", "domain_statistics"]

_BLOCK_BYTES = 4 << 20  # rows are processed in blocks of about 4 MiB: temporaries stay small


def domain_scores(
    X: np.ndarray, mean: np.ndarray, scale: np.ndarray, rotations: np.ndarray, loadings: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``T = ((X − mean) / scale) R`` (n × A) and Q residuals ``‖Xs − T Pᵀ‖²`` (n,),
    block by block of rows (each row's numbers do not depend on the others)."""
    X = np.asarray(X)
    n, p = X.shape
    step = max(64, _BLOCK_BYTES // (8 * max(p, 1)))
    T = np.empty((n, rotations.shape[1]))
    q = np.empty(n)
    for start in range(0, n, step):
        Xs = (np.asarray(X[start : start + step], dtype=np.float64) - mean) / scale
        t = Xs @ rotations
        Xs -= t @ loadings.T
        T[start : start + t.shape[0]] = t
        q[start : start + t.shape[0]] = np.einsum("ij,ij->i", Xs, Xs)
    return T, q


def domain_statistics(
    X: np.ndarray,
    *,
    mean: np.ndarray,
    scale: np.ndarray,
    rotations: np.ndarray,
    loadings: np.ndarray,
    score_variance: np.ndarray,
    n_calibration: int,
    cv_abs_residuals: np.ndarray | None = None,
) -> np.ndarray:
    """``(n, 3)``: Hotelling T², Q residual (SPE) and leverage of each row of ``X``.

    ``Xs = (X − mean) / scale``, scores ``T = Xs R`` (R = ``rotations``, p × A),
    ``T² = Σₐ tₐ² / sₐ²`` (sₐ² = ``score_variance``, the calibration scores' variance, n − 1),
    ``Q = ‖Xs − T Pᵀ‖²`` (P = ``loadings``), leverage ``h = 1/n + Σₐ tₐ² / (tₐᵀtₐ)`` which, for
    calibration scores of mean zero, is ``1/n + T² / (n − 1)``. ``cv_abs_residuals`` is carried
    in the same state for the prediction interval and not used here."""
    T, q = domain_scores(X, mean, scale, rotations, loadings)
    t2 = (T * T / score_variance).sum(axis=1)
    n = float(n_calibration)
    leverage = 1.0 / n + t2 / (n - 1.0)
    return np.column_stack([t2, q, leverage])
