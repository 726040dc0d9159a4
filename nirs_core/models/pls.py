"""Partial least squares regression, fitted by the improved kernel PLS algorithms (see
:mod:`nirs_core.models._kernels`)."""

from __future__ import annotations

from numbers import Integral

import numpy as np

import nirs_core.models._kernels as _kernels
from nirs_core.errors import ConfigError
from nirs_core.estimator import (
    BaseEstimator,
    MultiOutputMixin,
    RegressorMixin,
    check_is_fitted,
    validate_data,
)
from nirs_core.registry import register

__all__ = ["CoefficientPathMixin", "PLSRegression"]

_REPLAY = "nirs_core.models._kernels:pls_predict"


def check_n_components(
    owner: str, name: str, value: object, limit: int, n_samples: int, n_features: int, center: bool = True
) -> int:
    """Validate a component count against the rank limit of centred data; shared by the PLS family."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ConfigError(f"{owner}: {name} must be an integer ≥ 1; got {value!r}.")
    if value > limit:
        bound = "min(n_samples - 1, n_features)" if center else "min(n_samples, n_features)"
        raise ConfigError(
            f"{owner}: {name}={value} exceeds the rank limit {bound} = {limit} "
            f"(n_samples={n_samples}, n_features={n_features}); reduce {name}."
        )
    return int(value)


def validate_xy(estimator: BaseEstimator, X: object, y: object) -> tuple[np.ndarray, np.ndarray, bool]:
    """``X`` and ``y`` as float64 arrays (``y`` 2-D), and whether ``y`` was 1-D."""
    X, y = validate_data(estimator, X, y, dtype=np.float64, multi_output=True, y_numeric=True, reset=True)
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        return X, y.reshape(-1, 1), True
    return X, y, False


class CoefficientPathMixin:
    """Prediction for linear models that keep their coefficients for every number of
    components (``coef_path_`` (A, q, p), ``intercept_path_`` (A, q)): ``predict`` and the
    replay contract both go through :func:`nirs_core.models._kernels.pls_predict`, so the
    class output and a bundle's replay are the same function on the same arrays."""

    def _replay_kwargs(self, n_components=None) -> dict:
        a = self.coef_path_.shape[0] if n_components is None else n_components
        coef, intercept = self.coef_path_[a - 1], self.intercept_path_[a - 1]
        if self._predict_1d:
            return {"coef": coef[0], "intercept": float(intercept[0])}
        return {"coef": coef, "intercept": intercept}

    def predict(self, X, n_components=None):
        """Predicted targets, with all fitted components or the first ``n_components``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if n_components is not None:
            limit = self.coef_path_.shape[0]
            if (
                isinstance(n_components, bool)
                or not isinstance(n_components, Integral)
                or not 1 <= n_components <= limit
            ):
                raise ConfigError(
                    f"{type(self).__name__}.predict: n_components must be an integer in [1, {limit}] "
                    f"(the fitted n_components); got {n_components!r}."
                )
        return _kernels.pls_predict(X, **self._replay_kwargs(n_components))

    def replay_spec(self):
        """``("module:function", kwargs)`` such that ``function(X, **kwargs) == predict(X)``."""
        check_is_fitted(self)
        return _REPLAY, self._replay_kwargs()


@register("PLS", "PLSR")
class PLSRegression(CoefficientPathMixin, MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Partial least squares regression (PLS1 for one target, PLS2 for several).

    Predictions equal ``sklearn.cross_decomposition.PLSRegression`` (a converged NIPALS) to
    rounding; the fit is the improved kernel algorithm of Dayal & MacGregor, and it yields the
    coefficients for every number of components up to ``n_components`` at once, so
    ``predict(X, n_components=a)`` costs no refit.

    Parameters
    ----------
    n_components : int, default=2
        Number of latent variables; at most ``min(n_samples - 1, n_features)``.
    scale : bool, default=False
        Divide X and y columns by their standard deviation (``ddof=1``) before fitting. Spectra
        are usually left unscaled (the chemometric default), unlike scikit-learn's default.
    algorithm : {1, 2, "auto"}, default="auto"
        Improved kernel algorithm #1 (works on X) or #2 (works on XᵀX); ``"auto"`` picks the
        cheaper for the data's shape. Results agree to rounding.

    Attributes
    ----------
    coef_ : ndarray (n_targets, n_features)
        ``predict(X) = X @ coef_.T + intercept_`` (as scikit-learn ≥ 1.3).
    intercept_ : ndarray (n_targets,)
        The affine intercept ``y_mean_ - x_mean_ @ coef_.T``. Note: scikit-learn's
        ``intercept_`` is ``y_mean_`` and applies to centred X; ours applies to X as given.
    coef_path_ : ndarray (n_components, n_targets, n_features)
        ``coef_path_[a - 1]`` predicts with ``a`` components; ``intercept_path_`` likewise.
    x_weights_, x_loadings_, x_rotations_ : ndarray (n_features, n_components)
    y_weights_, y_loadings_ : ndarray (n_targets, n_components)
        As scikit-learn's (same signs; in regression mode ``y_weights_`` equal ``y_loadings_``).
    x_scores_ss_ : ndarray (n_components,)
        ``tᵀt`` of each training score column (what VIP weighs by).
    x_mean_, y_mean_, x_std_, y_std_ : ndarray
    n_features_in_ : int
    """

    def __init__(self, n_components=2, *, scale=False, algorithm="auto"):
        self.n_components = n_components
        self.scale = scale
        self.algorithm = algorithm

    def fit(self, X, y):
        """Fit on spectra ``X`` (n_samples, n_features) and targets ``y`` (n_samples,) or (n_samples, n_targets)."""
        X, Y, self._predict_1d = validate_xy(self, X, y)
        n, p = X.shape
        A = check_n_components(type(self).__name__, "n_components", self.n_components, min(n - 1, p), n, p)
        if self.algorithm not in (1, 2, "auto"):
            raise ConfigError(
                f"{type(self).__name__}: algorithm must be 1, 2 or 'auto'; got {self.algorithm!r}."
            )
        fit = _kernels.pls_fit(X, Y, A, center=True, scale=bool(self.scale), algorithm=self.algorithm)
        self.coef_path_ = np.ascontiguousarray(fit.coef.transpose(0, 2, 1))
        self.intercept_path_ = fit.intercept
        self.coef_ = self.coef_path_[-1]
        self.intercept_ = self.intercept_path_[-1]
        self.x_weights_ = fit.x_weights
        self.x_loadings_ = fit.x_loadings
        self.x_rotations_ = fit.x_rotations
        self.y_loadings_ = fit.y_loadings
        self.y_weights_ = fit.y_loadings
        self.x_scores_ss_ = fit.x_scores_ss
        self.x_mean_, self.y_mean_ = fit.x_mean, fit.y_mean
        self.x_std_, self.y_std_ = fit.x_std, fit.y_std
        self.n_effective_components_ = fit.n_effective
        return self

    def scores(self, X, n_components=None):
        """Latent variable scores ``(X - x_mean_) / x_std_ @ x_rotations_`` (scikit-learn's
        ``transform``; named otherwise so that a pipeline treats this model as a predictor)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        R = self.x_rotations_ if n_components is None else self.x_rotations_[:, :n_components]
        return ((X - self.x_mean_) / self.x_std_) @ R
