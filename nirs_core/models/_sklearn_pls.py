"""``sklearn.cross_decomposition.PLSRegression`` without importing scikit-learn where the
numbers are provably the same.

A template naming ``sklearn.cross_decomposition.PLSRegression`` resolves to
:class:`PLSRegression` here (:func:`nirs_core.registry.resolve`), so that a run does not
import scikit-learn (about 1.2 s) for the model most users write (issue 12: a run imports
what its template needs). It has scikit-learn's parameters and defaults, and keeps
scikit-learn's class path as its identity (``_sklearn_path``) in configs, manifests, results
and bundles.

Fitting: with one target and ``1 ≤ n_components ≤ min(n_samples - 1, n_features)``
(:func:`same_as_kernel_pls`) the model is the project's improved kernel PLS
(:class:`nirs_core.models.pls.PLSRegression`): scikit-learn's NIPALS converges in its first
iteration for one target (the y score is y itself), so both compute the same PLS1 model and
``max_iter``, ``tol`` and ``copy`` do not change it (agreement to 1e-10 relative on real
spectra, tested). Otherwise (several targets: an iterative NIPALS; more components than the
rows allow, where scikit-learn degenerates quietly) a real scikit-learn ``PLSRegression`` is
fit, imported then. Either way the fitted state is scikit-learn's attributes as arrays
(``coef_``, ``intercept_``, ``x_weights_``, …) and ``predict`` is
:func:`nirs_core.operators._linear_kernels.linear_predict`, scikit-learn's arithmetic in its
order, so a bundle replays it on numpy alone.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

from nirs_core.estimator import (
    BaseEstimator,
    MultiOutputMixin,
    RegressorMixin,
    TransformerMixin,
    check_is_fitted,
    validate_data,
)

__all__ = ["PLSRegression", "same_as_kernel_pls"]

_REPLAY = "nirs_core.operators._linear_kernels:linear_predict"
# scikit-learn's fitted attributes, copied from its model when it fits
_SK_ATTRIBUTES = (
    "x_weights_", "y_weights_", "x_loadings_", "y_loadings_", "x_rotations_", "y_rotations_",
    "coef_", "intercept_", "n_iter_", "_x_mean", "_y_mean", "_x_std", "_y_std",
)  # fmt: skip


def _replay_function():
    """The replay kernel by its name, as a bundle calls it (it lives with the operators' linear
    kernels, a layer this module does not import)."""
    import importlib

    module_name, _, name = _REPLAY.partition(":")
    return getattr(importlib.import_module(module_name), name)


def same_as_kernel_pls(n_components: Any, n_samples: int, n_features: int, y: np.ndarray) -> bool:
    """Whether scikit-learn's PLSRegression with ``n_components`` on these data is the PLS1 model
    the project's kernel PLS computes: one target, an integer count within the rank limit."""
    y = np.asarray(y)
    one_target = y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)
    if not one_target or isinstance(n_components, bool) or not isinstance(n_components, Integral):
        return False
    return 1 <= n_components <= min(n_samples - 1, n_features)


class PLSRegression(TransformerMixin, MultiOutputMixin, RegressorMixin, BaseEstimator):
    """PLS regression with scikit-learn's parameters, attributes and predictions.

    Parameters
    ----------
    n_components : int, default=2
    scale : bool, default=True
        Scale X and y columns to unit standard deviation (scikit-learn's default).
    max_iter : int, default=500
    tol : float, default=1e-06
    copy : bool, default=True
        As scikit-learn's; they matter only when scikit-learn fits (several targets).

    Attributes
    ----------
    coef_ : ndarray (n_targets, n_features)
    intercept_ : ndarray (n_targets,)
        scikit-learn's: the target mean, applied to centred X (``predict`` centres X by
        ``_x_mean``).
    x_weights_, x_loadings_, x_rotations_, y_weights_, y_loadings_, y_rotations_ : ndarray
    n_features_in_ : int
    fitted_by_ : {"nirs_core", "sklearn"}
        Which implementation fit the model.
    """

    _sklearn_path = "sklearn.cross_decomposition.PLSRegression"

    def __init__(self, n_components=2, *, scale=True, max_iter=500, tol=1e-06, copy=True):
        self.n_components = n_components
        self.scale = scale
        self.max_iter = max_iter
        self.tol = tol
        self.copy = copy

    def fit(self, X, y):
        """Fit on spectra ``X`` (n_samples, n_features) and targets ``y``."""
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True, reset=True)
        y = np.asarray(y, dtype=np.float64)
        self._predict_1d = y.ndim == 1
        if same_as_kernel_pls(self.n_components, X.shape[0], X.shape[1], y):
            self._fit_kernel(X, y)
        else:
            self._fit_sklearn(X, y)
        return self

    def _fit_kernel(self, X: np.ndarray, y: np.ndarray) -> None:
        from nirs_core.models.pls import PLSRegression as KernelPLS

        m = KernelPLS(n_components=int(self.n_components), scale=bool(self.scale)).fit(X, y)
        self.coef_ = m.coef_
        self.intercept_ = m.y_mean_
        self._x_mean, self._y_mean, self._x_std, self._y_std = m.x_mean_, m.y_mean_, m.x_std_, m.y_std_
        self.x_weights_, self.x_loadings_, self.x_rotations_ = m.x_weights_, m.x_loadings_, m.x_rotations_
        self.y_loadings_ = m.y_loadings_
        # one target, regression mode: NIPALS's y weights are the y loadings (same deflated y)
        self.y_weights_ = m.y_loadings_
        self.y_rotations_ = self.y_weights_ @ np.linalg.pinv(self.y_loadings_.T @ self.y_weights_)
        self.n_iter_ = [1] * int(self.n_components)  # NIPALS converges at once for one target
        self.fitted_by_ = "nirs_core"

    def _fit_sklearn(self, X: np.ndarray, y: np.ndarray) -> None:
        from sklearn.cross_decomposition import PLSRegression as SkPLS  # only when it must fit

        params = self.get_params(deep=False)
        m = SkPLS(**params).fit(X, y)
        for name in _SK_ATTRIBUTES:
            setattr(self, name, getattr(m, name))
        self.fitted_by_ = "sklearn"

    def predict(self, X, copy=True):
        """Predicted targets, ``(X - _x_mean) @ coef_.T + intercept_`` (1-D for a 1-D ``y``)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        y = _replay_function()(X, **self._replay_arrays())
        return y.ravel() if self._predict_1d else y

    def transform(self, X, y=None, copy=True):
        """The x scores ``(X - _x_mean) / _x_std @ x_rotations_`` (and the y scores with ``y``)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        x_scores = ((X - self._x_mean) / self._x_std) @ self.x_rotations_
        if y is None:
            return x_scores
        Y = np.asarray(y, dtype=np.float64)
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        return x_scores, ((Y - self._y_mean) / self._y_std) @ self.y_rotations_

    def fit_transform(self, X, y=None):
        """``fit(X, y).transform(X, y)``."""
        return self.fit(X, y).transform(X, y)

    def _replay_arrays(self) -> dict[str, Any]:
        return {"x_mean": self._x_mean, "coef": self.coef_, "intercept": self.intercept_}

    def replay_spec(self) -> tuple[str, dict[str, Any]]:
        """``("module:function", kwargs)``: ``function(X, **kwargs)`` equals ``predict(X)`` (2-D)."""
        check_is_fitted(self)
        return _REPLAY, self._replay_arrays()
