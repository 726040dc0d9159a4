"""Pure numpy replay kernels for scikit-learn's linear estimators fitted by the engine
(:mod:`nirs_core.pipeline.sklearn_fast` exports their fitted state as arrays): the same
arithmetic as their ``transform``/``predict``, in the same order, so a bundle replays them
without scikit-learn and without unpickling."""

from __future__ import annotations

import numpy as np

__all__ = ["affine_scale", "linear_predict", "minmax_scale", "projection"]


def _float(X: np.ndarray) -> np.ndarray:
    return np.array(X, dtype=np.float64, copy=True)


def affine_scale(
    X: np.ndarray, mean: np.ndarray | None = None, scale: np.ndarray | None = None
) -> np.ndarray:
    """``StandardScaler.transform``: ``X - mean`` (when given), then ``/ scale`` (when given)."""
    out = _float(X)
    if mean is not None:
        out -= mean
    if scale is not None:
        out /= scale
    return out


def minmax_scale(
    X: np.ndarray, scale: np.ndarray, offset: np.ndarray, clip: np.ndarray | None = None
) -> np.ndarray:
    """``MinMaxScaler.transform``: ``X * scale + offset``, clipped to ``clip = [lo, hi]`` when given."""
    out = _float(X)
    out *= scale
    out += offset
    if clip is not None:
        np.clip(out, clip[0], clip[1], out=out)
    return out


def projection(
    X: np.ndarray, components: np.ndarray, mean: np.ndarray, scale: np.ndarray | None = None
) -> np.ndarray:
    """``PCA.transform``: ``X @ components.T - mean @ components.T``, divided by ``scale``
    (the clipped square roots of the explained variances) when whitening."""
    out = np.asarray(X, dtype=np.float64) @ components.T
    out -= mean.reshape(1, -1) @ components.T
    if scale is not None:
        out /= scale
    return out


def linear_predict(X: np.ndarray, x_mean: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """``PLSRegression.predict`` of scikit-learn: ``(X - x_mean) @ coef.T + intercept``,
    one column per target."""
    Xc = _float(X)
    Xc -= x_mean
    return Xc @ coef.T + intercept
