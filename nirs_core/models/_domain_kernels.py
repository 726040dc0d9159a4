"""Pure numpy kernel of the applicability domain (no scipy, no scikit-learn): what replay calls
on the preprocessed spectra of a bundle's model to say whether each new spectrum is like the
calibration set. The limits and how they were estimated are in :mod:`nirs_core.models.domain`."""

from __future__ import annotations

import numpy as np

__all__ = ["domain_statistics"]


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
    Xs = (np.asarray(X, dtype=np.float64) - mean) / scale
    T = Xs @ rotations
    E = Xs - T @ loadings.T
    q = np.einsum("ij,ij->i", E, E)
    t2 = (T * T / score_variance).sum(axis=1)
    n = float(n_calibration)
    leverage = 1.0 / n + t2 / (n - 1.0)
    return np.column_stack([t2, q, leverage])
