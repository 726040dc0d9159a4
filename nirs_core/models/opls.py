"""Orthogonal PLS (Trygg & Wold 2002): one predictive component plus components orthogonal to
y; both a regressor and a spectral filter."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np

import nirs_core.models._kernels as _kernels
from nirs_core.errors import ConfigError, DataError
from nirs_core.estimator import (
    BaseEstimator,
    RegressorMixin,
    TransformerMixin,
    check_is_fitted,
    validate_data,
)
from nirs_core.registry import register

__all__ = ["OrthogonalPLS"]


@register("OPLS")
class OrthogonalPLS(RegressorMixin, TransformerMixin, BaseEstimator):
    """Orthogonal projections to latent structures for one target (Trygg & Wold, J.
    Chemometrics 16 (2002) 119-128).

    ``n_orthogonal`` components of X variation orthogonal to y are extracted and removed; one
    predictive PLS component models y from what remains. For one target the predictions equal
    those of PLS with ``n_orthogonal + 1`` components; what OPLS adds is the split of X into
    predictive and orthogonal (structured noise) parts.

    As a filter, ``transform`` returns the spectra with the orthogonal variation removed (the
    mean spectrum kept), ready for any downstream model. As a regressor, ``predict`` gives the
    predictions. ``replay_spec()`` replays ``transform`` (the contract for an estimator that has
    one); ``replay_spec("predict")`` replays ``predict``.

    Parameters
    ----------
    n_orthogonal : int, default=1
        Orthogonal components to remove (≥ 0). If fewer exist (all X variation is predictive),
        the extra ones are zero and remove nothing; ``n_orthogonal_effective_`` says how many.

    Attributes
    ----------
    coef_ : ndarray (n_features,)
    intercept_ : float
        ``predict(X) = X @ coef_ + intercept_``.
    x_mean_ : ndarray (n_features,)
    y_mean_ : float
    orthogonal_weights_, orthogonal_loadings_ : ndarray (n_features, n_orthogonal)
    predictive_weights_, predictive_loadings_ : ndarray (n_features,)
    y_loading_ : float
    n_orthogonal_effective_ : int
    n_features_in_ : int
    """

    def __init__(self, n_orthogonal=1):
        self.n_orthogonal = n_orthogonal

    def fit(self, X, y):
        """Fit on spectra ``X`` (n_samples, n_features) and one target ``y``."""
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True, reset=True)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2:
            if y.shape[1] != 1:
                raise DataError(
                    f"{type(self).__name__}: expects one target; got y with {y.shape[1]} columns "
                    "(fit one model per target)."
                )
            from sklearn.exceptions import DataConversionWarning  # lazily: only on this path

            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; "
                f"{type(self).__name__} uses it as 1-D.",
                DataConversionWarning,
                stacklevel=2,
            )
            y = y[:, 0]
        k = self.n_orthogonal
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 0:
            raise ConfigError(f"{type(self).__name__}: n_orthogonal must be an integer ≥ 0; got {k!r}.")
        x_mean, y_mean, w_orth, p_orth, w, p, q, _, n_eff = _kernels.opls_fit(X, y, int(k))
        self.x_mean_, self.y_mean_ = x_mean, y_mean
        self.orthogonal_weights_, self.orthogonal_loadings_ = w_orth, p_orth
        self.predictive_weights_, self.predictive_loadings_, self.y_loading_ = w, p, q
        self.n_orthogonal_effective_ = n_eff
        self.coef_ = _kernels.opls_coef(w, q, w_orth, p_orth)
        self.intercept_ = float(y_mean - x_mean @ self.coef_)
        return self

    def transform(self, X):
        """Spectra with the y-orthogonal variation removed (``X - T_o P_oᵀ``)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _kernels.opls_filter(X, **self._replay_kwargs("transform"))

    def predict(self, X):
        """Predicted target (1-D)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _kernels.pls_predict(X, **self._replay_kwargs("predict"))

    def orthogonal_scores(self, X):
        """Scores ``(n_samples, n_orthogonal)`` of the orthogonal components."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _kernels.opls_orthogonal_scores(X, **self._replay_kwargs("transform"))

    def _replay_kwargs(self, method: str) -> dict:
        if method == "transform":
            return {
                "x_mean": self.x_mean_,
                "w_orth": self.orthogonal_weights_,
                "p_orth": self.orthogonal_loadings_,
            }
        return {"coef": self.coef_, "intercept": self.intercept_}

    def replay_spec(self, method="transform"):
        """``("module:function", kwargs)`` replaying ``transform`` (default) or ``predict``."""
        check_is_fitted(self)
        if method == "transform":
            return "nirs_core.models._kernels:opls_filter", self._replay_kwargs("transform")
        if method == "predict":
            return "nirs_core.models._kernels:pls_predict", self._replay_kwargs("predict")
        raise ConfigError(
            f"{type(self).__name__}.replay_spec: method must be 'transform' or 'predict'; got {method!r}."
        )
