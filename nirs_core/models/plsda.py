"""PLS discriminant analysis: PLS2 regression on one-hot class indicators."""

from __future__ import annotations

import numpy as np

import nirs_core.models._kernels as _kernels
from nirs_core.errors import DataError
from nirs_core.estimator import (
    BaseEstimator,
    ClassifierMixin,
    check_classification_targets,
    check_is_fitted,
    validate_data,
)
from nirs_core.models.pls import check_n_components
from nirs_core.registry import register

__all__ = ["PLSDiscriminantAnalysis"]


@register("PLSDA", "PLS-DA")
class PLSDiscriminantAnalysis(ClassifierMixin, BaseEstimator):
    """PLS-DA: PLS regression of the one-hot class indicators on X; a sample belongs to the
    class whose indicator is predicted highest.

    ``predict_proba`` is clipped-normalised (not a softmax, whose outputs on 0/1 indicators
    would be nearly uniform): negative predicted indicators become 0 and each row is divided by
    its sum; a sample whose indicators are all ≤ 0 resembles no class and gets probability 1 on
    its highest one. They are class-membership scores, not calibrated probabilities.

    Parameters
    ----------
    n_components : int, default=2
    scale : bool, default=False
        Scale X columns (and the indicators) to unit standard deviation before fitting.

    Attributes
    ----------
    classes_ : ndarray (n_classes,)
    coef_ : ndarray (n_classes, n_features)
    intercept_ : ndarray (n_classes,)
        ``decision_function(X) = X @ coef_.T + intercept_``.
    x_weights_, x_loadings_, x_rotations_, y_loadings_, x_mean_ : as PLSRegression.
    n_features_in_ : int
    """

    def __init__(self, n_components=2, *, scale=False):
        self.n_components = n_components
        self.scale = scale

    def fit(self, X, y):
        """Fit on spectra ``X`` and class labels ``y`` (n_samples,)."""
        X, y = validate_data(self, X, y, dtype=np.float64, reset=True)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(
                f"{type(self).__name__}: y must hold at least 2 classes; got 1 class ({str(self.classes_[0])!r})."
            )
        n, p = X.shape
        A = check_n_components(type(self).__name__, "n_components", self.n_components, min(n - 1, p), n, p)
        Y = np.zeros((n, len(self.classes_)))
        Y[np.arange(n), codes] = 1.0
        fit = _kernels.pls_fit(X, Y, A, center=True, scale=bool(self.scale))
        self.coef_ = np.ascontiguousarray(fit.coef[-1].T)
        self.intercept_ = fit.intercept[-1]
        self.x_weights_, self.x_loadings_ = fit.x_weights, fit.x_loadings
        self.x_rotations_, self.y_loadings_ = fit.x_rotations, fit.y_loadings
        self.x_mean_, self.x_std_ = fit.x_mean, fit.x_std
        return self

    def decision_function(self, X):
        """Predicted class indicators, one column per class of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        decision = _kernels.pls_predict(X, self.coef_, self.intercept_)
        return decision[:, 1] - decision[:, 0] if len(self.classes_) == 2 else decision

    def predict_proba(self, X):
        """Clipped-normalised class-membership scores (see the class docstring); rows sum to 1."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _kernels.plsda_proba(_kernels.pls_predict(X, self.coef_, self.intercept_))

    def predict(self, X):
        """The class with the highest predicted indicator."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _kernels.plsda_predict(X, **self._replay_kwargs())

    def _replay_kwargs(self) -> dict:
        return {"coef": self.coef_, "intercept": self.intercept_, "classes": self.classes_}

    def replay_spec(self):
        """``("module:function", kwargs)`` such that ``function(X, **kwargs) == predict(X)``."""
        check_is_fitted(self)
        return "nirs_core.models._kernels:plsda_predict", self._replay_kwargs()
