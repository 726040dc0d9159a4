"""Latent-variable outlier detection: Hotelling's T² (distance inside the model plane) and Q
residuals (distance to it), with confidence limits, from a PCA or a PLS model.

A detector is a filter step: the engine calls ``fit_filter(X_train, y_train)`` (or
``fit_resample``) on the training rows of a fold and drops the flagged ones before the next
steps are fitted; ``transform`` is the identity, so in a fitted pipeline (and a bundle) the
detector passes spectra through. ``report(X)`` tabulates the statistics of any rows.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import polars as pl

import nirs_core.operators._outlier_kernels as _ok
from nirs_core.errors import ConfigError, DataError
from nirs_core.estimator import BaseEstimator, TransformerMixin, check_is_fitted, validate_data
from nirs_core.registry import register

__all__ = ["PCAOutlierDetector", "PLSOutlierDetector", "hotelling_t2_limit", "q_limit"]

_REPLAY = "nirs_core.operators._outlier_kernels:identity"
_Q_METHODS = ("box", "jackson_mudholkar")
_CRITERIA = ("either", "both", "t2", "q")


def hotelling_t2_limit(n_samples: int, n_components: int, confidence: float) -> float:
    """Upper limit of T² at ``confidence`` for a model of ``n_components`` on ``n_samples``
    rows: ``k (n - 1) / (n - k) · F_conf(k, n - k)`` (Jackson 1991; PLS_Toolbox's ``tsqlim``)."""
    from nirs_core.validation import f_ppf  # scipy.stats' bits, without its import

    n, k = n_samples, n_components
    return float(k * (n - 1) / (n - k) * f_ppf(confidence, k, n - k))


def q_limit(
    theta: tuple[float, float, float], confidence: float, method: str = "box", owner: str = "q_limit"
) -> float:
    """Upper limit of Q at ``confidence`` from the residual eigenvalue moments ``θ1, θ2, θ3``.

    ``"box"``: ``g χ²_conf(h)`` with ``g = θ2/θ1``, ``h = θ1²/θ2`` (Box 1954; Nomikos & MacGregor
    1995). ``"jackson_mudholkar"``: Jackson & Mudholkar (1979), valid only while
    ``h0 = 1 - 2θ1θ3 / (3θ2²) > 0``. Without residual variance (the model spans X) no Q test
    applies: the limit is ``inf``.
    """
    from nirs_core.validation import chi2_ppf, norm_ppf  # scipy.stats' bits, without its import

    t1, t2, t3 = theta
    if t1 <= 0.0 or t2 <= 0.0:
        return float("inf")
    if method == "box":
        return float(t2 / t1 * chi2_ppf(confidence, t1 * t1 / t2))
    h0 = 1.0 - 2.0 * t1 * t3 / (3.0 * t2 * t2)
    if h0 <= 0.0:
        raise DataError(
            f"{owner}: the Jackson–Mudholkar Q limit needs h0 = 1 - 2θ1θ3/(3θ2²) > 0; got h0={h0:.4g} for these "
            "residual eigenvalues. Use q_method='box'."
        )
    c = norm_ppf(confidence)
    inner = c * np.sqrt(2.0 * t2 * h0 * h0) / t1 + 1.0 + t2 * h0 * (h0 - 1.0) / (t1 * t1)
    return float(t1 * inner ** (1.0 / h0))


class _LatentOutlierDetector(TransformerMixin, BaseEstimator):
    """T² and Q of a latent-variable model; subclasses provide the model."""

    _nirs_role = "filter"

    def _check_params(self) -> None:
        owner = type(self).__name__
        c = self.confidence
        if isinstance(c, bool) or not isinstance(c, Real) or not 0.0 < c < 1.0:
            raise ConfigError(f"{owner}: confidence must be a float in (0, 1); got {c!r}.")
        if self.q_method not in _Q_METHODS:
            raise ConfigError(f"{owner}: q_method must be one of {_Q_METHODS}; got {self.q_method!r}.")
        if self.criterion not in _CRITERIA:
            raise ConfigError(f"{owner}: criterion must be one of {_CRITERIA}; got {self.criterion!r}.")
        if not isinstance(self.scale, (bool, np.bool_)):
            raise ConfigError(f"{owner}: scale must be True or False; got {self.scale!r}.")

    def _check_components(self, n: int, p: int) -> int:
        k, limit = self.n_components, min(n - 1, p)
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
            raise ConfigError(f"{type(self).__name__}: n_components must be an integer ≥ 1; got {k!r}.")
        if k > limit:
            raise ConfigError(
                f"{type(self).__name__}: n_components={k} exceeds min(n_samples - 1, n_features) = {limit} "
                f"(n_samples={n}, n_features={p})."
            )
        return int(k)

    def _finish_fit(self, Xs: np.ndarray, T: np.ndarray, P: np.ndarray) -> None:
        n, k = T.shape
        norms = np.sqrt(np.sum(T * T, axis=0))
        tol = max(Xs.shape) * np.finfo(np.float64).eps * float(np.max(norms, initial=0.0))
        variances = norms**2 / (n - 1)
        if np.any(norms <= tol):
            raise DataError(
                f"{type(self).__name__}: latent variable {int(np.argmin(norms)) + 1} has zero variance; X has "
                f"rank below n_components={k}."
            )
        self.score_variances_ = variances
        self.residual_moments_ = _ok.residual_moments(Xs - T @ P.T, tol)
        self.t2_limit_ = hotelling_t2_limit(n, k, float(self.confidence))
        self.q_limit_ = q_limit(
            self.residual_moments_, float(self.confidence), self.q_method, type(self).__name__
        )

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        return (X - self.x_mean_) / self.x_scale_

    def statistics(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(t2, q)`` of each row of ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Xs = self._scaled(X)
        T = Xs @ self.rotations_
        return _ok.hotelling_t2(T, self.score_variances_), _ok.q_residuals(Xs - T @ self.loadings_.T)

    def _flags(self, t2: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t2_out, q_out = t2 > self.t2_limit_, q > self.q_limit_
        combined = {
            "either": t2_out | q_out,
            "both": t2_out & q_out,
            "t2": t2_out,
            "q": q_out,
        }[self.criterion]
        return t2_out, q_out, combined

    def report(self, X) -> pl.DataFrame:
        """One row per sample: ``t2``, ``q``, their limits, the flags and ``outlier`` (by
        ``criterion``)."""
        t2, q = self.statistics(X)
        t2_out, q_out, outlier = self._flags(t2, q)
        return pl.DataFrame(
            {
                "row": np.arange(t2.shape[0]),
                "t2": t2,
                "t2_limit": np.full(t2.shape[0], self.t2_limit_),
                "t2_outlier": t2_out,
                "q": q,
                "q_limit": np.full(t2.shape[0], self.q_limit_),
                "q_outlier": q_out,
                "outlier": outlier,
            }
        )

    def fit_filter(self, X, y=None) -> np.ndarray:
        """Fit on ``X`` (training rows) and return the boolean mask of the rows to keep."""
        self.fit(X, y)
        t2, q = self.statistics(X)
        return ~self._flags(t2, q)[2]

    def fit_resample(self, X, y=None):
        """Fit on ``(X, y)`` and return them without the flagged rows (``imblearn`` style;
        ``y`` stays None when not given)."""
        keep = self.fit_filter(X, y)
        return np.asarray(X)[keep], (None if y is None else np.asarray(y)[keep])

    def transform(self, X):
        """The identity: a detector filters training rows, it does not change spectra."""
        check_is_fitted(self)
        return _ok.identity(validate_data(self, X, dtype=np.float64, reset=False))

    def replay_spec(self):
        """``("module:function", kwargs)`` with ``function(X, **kwargs) == transform(X)``."""
        check_is_fitted(self)
        return _REPLAY, {}


@register("PCAOutliers", "HotellingT2", "QResiduals")
class PCAOutlierDetector(_LatentOutlierDetector):
    """Hotelling's T² and Q residuals of a PCA model of the spectra.

    T² = Σ t_a² / λ_a over the ``n_components`` scores (λ_a: score variances, ``ddof=1``);
    Q = ‖x - x̂‖², the squared residual after projection. Limits at ``confidence``: T² from the
    F distribution, Q from Box's χ² approximation or Jackson–Mudholkar (see
    :func:`hotelling_t2_limit` and :func:`q_limit`).

    Parameters
    ----------
    n_components : int, default=2
        At most ``min(n_samples - 1, n_features)``.
    confidence : float, default=0.95
    q_method : {"box", "jackson_mudholkar"}, default="box"
        Box's approximation is valid for any residual eigenvalues; Jackson–Mudholkar fails when
        they are very spread (``h0 ≤ 0``, common on mid-IR), and then raises.
    criterion : {"either", "both", "t2", "q"}, default="either"
        Which limit(s) a row must exceed to be an outlier.
    scale : bool, default=False
        Divide columns by their standard deviation (``ddof=1``) after centring.

    Attributes
    ----------
    x_mean_, x_scale_ : ndarray (n_features,)
    loadings_, rotations_ : ndarray (n_features, n_components)
        PCA loadings (orthonormal; the rotations equal them).
    score_variances_ : ndarray (n_components,)
    explained_variance_ratio_ : ndarray (n_components,)
    residual_moments_ : tuple (θ1, θ2, θ3)
    t2_limit_, q_limit_ : float
    """

    def __init__(self, n_components=2, *, confidence=0.95, q_method="box", criterion="either", scale=False):
        self.n_components = n_components
        self.confidence = confidence
        self.q_method = q_method
        self.criterion = criterion
        self.scale = scale

    def fit(self, X, y=None):
        """Fit the PCA model and the limits on ``X``; ``y`` is ignored."""
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2, reset=True)
        self._check_params()
        n, p = X.shape
        k = self._check_components(n, p)
        self.x_mean_ = X.mean(axis=0)
        std = X.std(axis=0, ddof=1) if self.scale else np.ones(p)
        self.x_scale_ = np.where(std > 0.0, std, 1.0)
        Xs = self._scaled(X)
        _, s, Vt = np.linalg.svd(Xs, full_matrices=False)
        self.loadings_ = Vt[:k].T.copy()
        self.rotations_ = self.loadings_
        self.explained_variance_ratio_ = (s[:k] ** 2) / max(float(np.sum(s**2)), np.finfo(float).tiny)
        self._finish_fit(Xs, Xs @ self.rotations_, self.loadings_)
        return self

    _contract_params = {"n_components": 1}  # noqa: RUF012 - the suite feeds 1-feature arrays


@register("PLSOutliers")
class PLSOutlierDetector(_LatentOutlierDetector):
    """Hotelling's T² and Q residuals of a PLS model of ``X`` on ``y``
    (:class:`nirs_core.models.pls.PLSRegression`): T² over the PLS scores, Q the part of X the
    latent variables leave unexplained. Parameters as :class:`PCAOutlierDetector`; ``scale``
    is passed to the PLS. ``fit`` requires ``y``.

    Attributes
    ----------
    pls_ : PLSRegression
    loadings_ : ndarray (n_features, n_components)  X loadings P
    rotations_ : ndarray (n_features, n_components)  R, scores T = X R
    score_variances_, residual_moments_, t2_limit_, q_limit_ : as PCAOutlierDetector
    """

    def __init__(self, n_components=2, *, confidence=0.95, q_method="box", criterion="either", scale=False):
        self.n_components = n_components
        self.confidence = confidence
        self.q_method = q_method
        self.criterion = criterion
        self.scale = scale

    def fit(self, X, y):
        """Fit the PLS model of ``y`` on ``X`` and the limits."""
        from nirs_core.models.pls import PLSRegression

        X, y = validate_data(
            self, X, y, dtype=np.float64, ensure_min_samples=2, multi_output=True, y_numeric=True, reset=True
        )
        self._check_params()
        n, p = X.shape
        k = self._check_components(n, p)
        self.pls_ = PLSRegression(n_components=k, scale=bool(self.scale)).fit(X, y)
        self.x_mean_ = self.pls_.x_mean_
        self.x_scale_ = self.pls_.x_std_
        self.loadings_ = self.pls_.x_loadings_
        self.rotations_ = self.pls_.x_rotations_
        Xs = self._scaled(X)
        self._finish_fit(Xs, Xs @ self.rotations_, self.loadings_)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    _contract_params = {"n_components": 1}  # noqa: RUF012 - the suite feeds 1-feature arrays
