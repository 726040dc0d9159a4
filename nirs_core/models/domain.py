"""The applicability domain of a fitted model, computed once on its calibration rows at refit
time: the state that :func:`nirs_core.models._domain_kernels.domain_statistics` replays, and the
95 % limits of Hotelling T², the Q residual and the leverage.

Scores. A latent-variable model (PLS family: ``x_rotations_``/``x_loadings_``; PCR:
``components_``) gives its own X-scores. A model without scores (random forest, SVR, …) gets a
PCA of its preprocessed calibration spectra: the fewest components explaining 99 % of their
variance, at most 10 (and at most n − 2).

Limits (``level`` = 0.95):

- T² of a *new* observation: ``A(n − 1)(n + 1) / (n(n − A)) · F(level; A, n − A)`` (Tracy,
  Young & Mason 1992; the prediction form, wider than the limit for a calibration sample).
- Q: Box's approximation ``g · χ²(level; h)`` with ``g = var(Q) / (2 mean(Q))`` and
  ``h = 2 mean(Q)² / var(Q)``, matched to the first two moments of the calibration Q values
  (Box 1954; Nomikos & MacGregor 1995), each first corrected for its leverage,
  ``Qᵢ / (1 − hᵢ)²``: a calibration spectrum pulled the model towards itself, so its residual
  is smaller than a new spectrum's by about that factor (the leave-one-out residual of a
  linear fit). Without the correction a model with many latent variables on few samples (12
  on the 30 corn calibration spectra) flags half of its own test set; with it, 0–10 % (tested
  on the corpus, with the cross-validated false-alarm rate). Why not Jackson–Mudholkar: its limit is built from the
  eigenvalues θ₁, θ₂, θ₃ of the residual covariance through ``h₀ = 1 − 2θ₁θ₃ / (3θ₂²)``; when
  one residual direction dominates (a baseline offset, a single unmodelled band: common in
  spectra) h₀ tends to ``1 − 2/3 · θ₃θ₁/θ₂²`` with θ₂² ≈ θ₁θ₃, so h₀ → 1/3 and the
  normal approximation it rests on (of ``(Q/θ₁)^h₀``) breaks down, and h₀ ≤ 0 is possible for
  other spectra of residual eigenvalues. Box's g·χ²(h) needs only the mean and variance of Q,
  is exact when Q is a scaled χ² (one dominant direction: h ≈ 1), and never degenerates. Its
  false-alarm rate on the calibration sets of the corpus is tested (tests/test_domain.py).
- Leverage: ``3(A + 1) / n`` (ASTM E1655).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nirs_core.errors import ConfigError
from nirs_core.models._domain_kernels import domain_scores, domain_statistics

__all__ = ["DOMAIN_KERNEL", "fit_domain", "hotelling_limit", "q_limit", "test_flags"]

DOMAIN_KERNEL = "nirs_core.models._domain_kernels:domain_statistics"
_PCA_VARIANCE = 0.99
_PCA_MAX = 10


def hotelling_limit(n: int, a: int, level: float = 0.95) -> float:
    """The T² limit of a new observation for ``a`` components fitted on ``n`` samples."""
    from nirs_core.validation import f_ppf  # scipy.stats' bits, without importing it (~0.8 s)

    if not 0 < a < n:
        raise ConfigError(f"domain: the T² limit needs 0 < components < samples; got {a} and {n}.")
    return float(a * (n - 1) * (n + 1) / (n * (n - a)) * f_ppf(level, a, n - a))


def q_limit(q: np.ndarray, level: float = 0.95) -> float:
    """Box's ``g·χ²(h)`` limit of the Q residual from calibration values ``q`` (module docstring)."""
    from nirs_core.validation import chi2_ppf  # scipy.stats' bits, without importing it (~0.8 s)

    q = np.asarray(q, dtype=np.float64)
    m, v = float(q.mean()), float(q.var(ddof=1))
    if m <= 0.0 or v <= 0.0:
        return float(q.max())  # no residual spread (an exact fit): nothing beyond it is in the domain
    g, h = v / (2.0 * m), 2.0 * m * m / v
    return float(g * chi2_ppf(level, h))


def _principal_axes(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, variances, axes as columns) of the rows of ``X``, largest first: from the p × p
    scatter matrix accumulated block by block when n ≥ p (no centred copy of X), else from the
    SVD of the centred rows."""
    n, p = X.shape
    mean = np.asarray(X, dtype=np.float64).mean(axis=0) if n < p else np.zeros(p)
    if n < p:
        _, s, vt = np.linalg.svd(np.asarray(X, dtype=np.float64) - mean, full_matrices=False)
        return mean, s * s, vt.T
    step = max(64, (4 << 20) // (8 * p))
    for start in range(0, n, step):
        mean += np.asarray(X[start : start + step], dtype=np.float64).sum(axis=0)
    mean /= n
    scatter = np.zeros((p, p))
    for start in range(0, n, step):
        block = np.asarray(X[start : start + step], dtype=np.float64) - mean
        scatter += block.T @ block
    values, vectors = np.linalg.eigh(scatter)
    order = np.argsort(values)[::-1]
    return mean, np.clip(values[order], 0.0, None), vectors[:, order]


def _score_model(
    estimator: Any, X: np.ndarray, n_components: int | None
) -> tuple[dict[str, np.ndarray], str]:
    p = X.shape[1]
    # ours name the centre and scale x_mean_ / x_std_, scikit-learn's PLSRegression _x_mean / _x_std
    mean = getattr(estimator, "x_mean_", getattr(estimator, "_x_mean", None))
    if hasattr(estimator, "x_rotations_") and hasattr(estimator, "x_loadings_") and mean is not None:
        a = n_components or estimator.x_rotations_.shape[1]
        scale = getattr(estimator, "x_std_", getattr(estimator, "_x_std", None))
        return {
            "mean": np.asarray(mean, dtype=np.float64),
            "scale": np.ones(p) if scale is None else np.asarray(scale, dtype=np.float64),
            "rotations": np.ascontiguousarray(estimator.x_rotations_[:, :a]),
            "loadings": np.ascontiguousarray(estimator.x_loadings_[:, :a]),
        }, f"{type(estimator).__name__} scores ({a} latent variables)"
    if hasattr(estimator, "components_") and hasattr(estimator, "x_mean_"):
        a = n_components or estimator.components_.shape[0]
        axes = np.ascontiguousarray(estimator.components_[:a].T)
        return {
            "mean": np.asarray(estimator.x_mean_, dtype=np.float64),
            "scale": np.ones(p),
            "rotations": axes,
            "loadings": axes,
        }, f"{type(estimator).__name__} scores ({a} principal components)"
    mean, variances, axes_all = _principal_axes(X)
    explained = np.cumsum(variances) / max(float(variances.sum()), np.finfo(float).tiny)
    a = int(np.searchsorted(explained, _PCA_VARIANCE) + 1)
    a = max(1, min(a, _PCA_MAX, X.shape[0] - 2, axes_all.shape[1]))
    axes = np.ascontiguousarray(axes_all[:, :a])
    return {"mean": mean, "scale": np.ones(p), "rotations": axes, "loadings": axes}, (
        f"PCA of the preprocessed calibration spectra ({a} components, {explained[a - 1]:.1%} of the variance)"
    )


def fit_domain(
    estimator: Any, X: np.ndarray, *, n_components: int | None = None, level: float = 0.95
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state, meta)`` of the domain of ``estimator`` fitted on calibration spectra ``X``
    (the model's input). ``state`` is the kernel's kwargs (arrays); ``meta`` the limits, how the
    scores were obtained and the calibration false-alarm rates."""
    n = X.shape[0]
    if n < 3:
        raise ConfigError(f"domain: the applicability domain needs at least 3 calibration rows; got {n}.")
    state, method = _score_model(estimator, X, n_components)
    a = state["rotations"].shape[1]
    if a >= n:
        raise ConfigError(f"domain: {a} components on {n} calibration rows; the T² limit needs fewer.")
    T, q = domain_scores(X, state["mean"], state["scale"], state["rotations"], state["loadings"])
    variance = T.var(axis=0, ddof=1)
    state["score_variance"] = np.where(variance > 0, variance, np.finfo(float).tiny)
    state["n_calibration"] = int(n)
    t2 = (T * T / state["score_variance"]).sum(axis=1)
    leverage = 1.0 / n + t2 / (n - 1.0)  # as domain_statistics computes them
    q_new = q / np.maximum(1.0 - leverage, 1e-6) ** 2  # what a new spectrum's Q would be (docstring)
    t2_lim, q_lim = hotelling_limit(n, a, level), q_limit(q_new, level)
    meta = {
        "scores": method,
        "n_calibration": int(n),
        "n_components": int(a),
        "level": float(level),
        "t2_limit": t2_lim,
        "q_limit": q_lim,
        "leverage_limit": 3.0 * (a + 1) / n,
        "q_limit_method": "Box g·chi2(h), moments of the leverage-corrected calibration Q/(1-h)^2",
        "t2_limit_method": "A(n-1)(n+1)/(n(n-A))·F(A, n-A), a new observation",
        "calibration_false_alarms": {
            "t2": float(np.mean(t2 > t2_lim)),
            "q": float(np.mean(q > q_lim)),
            "either": float(np.mean((t2 > t2_lim) | (q > q_lim))),
        },
    }
    return state, meta


def test_flags(state: dict[str, Any], meta: dict[str, Any], X: np.ndarray) -> dict[str, Any]:
    """``test_n`` and ``test_out_of_domain`` (T² or Q beyond its limit) of test spectra ``X``."""
    stats = domain_statistics(np.asarray(X, dtype=np.float64), **state)
    out = (stats[:, 0] > meta["t2_limit"]) | (stats[:, 1] > meta["q_limit"])
    return {"test_n": int(out.size), "test_out_of_domain": int(out.sum())}
