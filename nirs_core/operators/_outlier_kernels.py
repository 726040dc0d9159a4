"""Pure numpy kernels of the latent-variable outlier detectors.

The detectors' ``transform`` is the identity (:func:`identity`): a detector filters training
rows through ``fit_filter``/``fit_resample`` and leaves the spectra untouched in a pipeline.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hotelling_t2", "identity", "q_residuals", "residual_moments"]


def identity(X: np.ndarray) -> np.ndarray:
    """A float64 copy of ``X``."""
    return np.array(X, dtype=np.float64, copy=True)


def hotelling_t2(T: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Hotelling's T² of each row of the score matrix ``T``: ``Σ_a t_a² / λ_a``."""
    T = np.asarray(T, dtype=np.float64)
    return np.sum(T * T / np.asarray(variances, dtype=np.float64), axis=1)


def q_residuals(E: np.ndarray) -> np.ndarray:
    """Q (squared prediction error) of each row of the residual matrix ``E``: ``Σ_j e_j²``."""
    E = np.asarray(E, dtype=np.float64)
    return np.einsum("ij,ij->i", E, E)


def residual_moments(E: np.ndarray, tol: float = 0.0) -> tuple[float, float, float]:
    """``θ_i = Σ λ_j^i`` (i = 1, 2, 3) over the eigenvalues ``λ_j`` of the residual covariance
    ``EᵀE / (n - 1)``, the inputs of the Q limits. Singular values of ``E`` at or below ``tol``
    are rounding noise and count as zero."""
    E = np.asarray(E, dtype=np.float64)
    s = np.linalg.svd(E, compute_uv=False)
    s = s[s > tol]
    lam = s * s / (E.shape[0] - 1)
    return float(lam.sum()), float(np.sum(lam**2)), float(np.sum(lam**3))
