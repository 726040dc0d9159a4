"""scikit-learn estimators on the project's kernels, where the numbers are provably the same.

Two things, both keyed on the exact scikit-learn class (a subclass may change anything) or
on the project's stand-in for it (a template naming ``sklearn.cross_decomposition.PLSRegression``
gets :class:`nirs_core.models._sklearn_pls.PLSRegression`, which imports no scikit-learn):

- **Fitting**: ``sklearn.cross_decomposition.PLSRegression`` with one target is fit by the
  project's improved kernel PLS (:class:`nirs_core.models.pls.PLSRegression` with the same
  ``n_components`` and ``scale``). For one target scikit-learn's NIPALS converges in its first
  iteration (the y score is y itself), so both compute the same PLS1 model; ``max_iter``,
  ``tol`` and ``copy`` do not change it. Predictions agree with scikit-learn's to rounding
  (1e-10 relative on real spectra, tested), and a component sweep over it shares one fit per
  fold like the project's PLS. With several targets (an iterative NIPALS), or more components
  than the training rows allow (scikit-learn then degenerates quietly), scikit-learn fits.
- **Replay**: the fitted state of ``StandardScaler``, ``MinMaxScaler``, ``PCA`` and
  ``PLSRegression`` (fitted by scikit-learn) is exported as arrays with a kernel of
  :mod:`nirs_core.operators._linear_kernels` that does the same arithmetic in the same order,
  so a bundle replays them on numpy alone, without unpickling (:func:`replay_spec`;
  :func:`inverse_replay_spec` for the inverse of the scalers in a ``y_processing``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fast_model", "inverse_replay_spec", "replay_spec"]

_KERNELS = "nirs_core.operators._linear_kernels"


def _is(est: Any, module: str, name: str) -> bool:
    cls = type(est)
    if cls.__dict__.get("_sklearn_path") == f"{module}.{name}":
        return True  # the project's stand-in for that class (nirs_core.registry.STAND_INS)
    return cls.__name__ == name and cls.__module__.startswith(module)


def fast_model(est: Any, n_samples: int, n_features: int, y: np.ndarray) -> Any:
    """The estimator to fit in place of ``est`` on ``n_samples × n_features`` spectra and
    targets ``y``: the project's kernel PLS for a one-target scikit-learn PLSRegression that
    the training rows allow, else ``est`` itself."""
    if not _is(est, "sklearn.cross_decomposition", "PLSRegression"):
        return est
    from nirs_core.models._sklearn_pls import same_as_kernel_pls

    if not same_as_kernel_pls(est.n_components, n_samples, n_features, y):
        return est
    from nirs_core.models.pls import PLSRegression

    return PLSRegression(n_components=int(est.n_components), scale=bool(est.scale))


def replay_spec(est: Any) -> tuple[str, dict[str, Any]] | None:
    """``("module:function", kwargs)`` replaying the fitted scikit-learn ``est`` on numpy
    alone (``transform`` of a scaler or PCA, ``predict`` of a PLSRegression), or None."""
    if _is(est, "sklearn.preprocessing", "StandardScaler"):
        return f"{_KERNELS}:affine_scale", {
            "mean": np.asarray(est.mean_, dtype=np.float64) if est.with_mean else None,
            "scale": np.asarray(est.scale_, dtype=np.float64) if est.with_std else None,
        }
    if _is(est, "sklearn.preprocessing", "MinMaxScaler"):
        clip = np.asarray(est.feature_range, dtype=np.float64) if est.clip else None
        return f"{_KERNELS}:minmax_scale", {"scale": est.scale_, "offset": est.min_, "clip": clip}
    if _is(est, "sklearn.decomposition", "PCA"):
        scale = None
        if est.whiten:
            scale = np.sqrt(est.explained_variance_)
            scale[scale < np.finfo(scale.dtype).eps] = np.finfo(scale.dtype).eps
        return f"{_KERNELS}:projection", {"components": est.components_, "mean": est.mean_, "scale": scale}
    if _is(est, "sklearn.cross_decomposition", "PLSRegression"):
        kwargs = {"x_mean": est._x_mean, "coef": est.coef_, "intercept": est.intercept_}
        return f"{_KERNELS}:linear_predict", kwargs
    return None


def inverse_replay_spec(est: Any) -> tuple[str, dict[str, Any]] | None:
    """The replay of ``est.inverse_transform`` for a fitted scikit-learn scaler, or None:
    ``StandardScaler`` multiplies by ``scale_`` then adds ``mean_``; ``MinMaxScaler``
    subtracts ``min_`` then divides by ``scale_`` (scikit-learn's order of operations)."""
    if _is(est, "sklearn.preprocessing", "StandardScaler"):
        p = int(est.n_features_in_)
        scale = np.asarray(est.scale_, dtype=np.float64) if est.with_std else np.ones(p)
        offset = np.asarray(est.mean_, dtype=np.float64) if est.with_mean else np.zeros(p)
        return f"{_KERNELS}:minmax_scale", {"scale": scale, "offset": offset, "clip": None}
    if _is(est, "sklearn.preprocessing", "MinMaxScaler"):
        return f"{_KERNELS}:affine_scale", {"mean": est.min_, "scale": est.scale_}
    return None
