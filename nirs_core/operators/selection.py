"""Wavelength selection by PLS: variable importance in projection (VIP), interval PLS (iPLS)
and competitive adaptive reweighted sampling (CARS).

Each selector is fitted on ``(X, y)`` and its ``transform`` keeps the chosen columns
(``select_columns(X, indices_)``). The PLS models are :class:`nirs_core.models.pls.PLSRegression`
and the cross-validation criterion is the RMSECV of :func:`nirs_core.models.cv.pls_cv_scores`,
minimised over ``1..n_components`` latent variables.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

import nirs_core.operators._selection_kernels as _sk
from nirs_core.errors import ConfigError, DataError, check_at_most
from nirs_core.estimator import (
    BaseEstimator,
    TransformerMixin,
    check_is_fitted,
    check_random_state,
    validate_data,
)
from nirs_core.registry import register

__all__ = ["CARS", "IntervalPLS", "VIPSelector"]

_REPLAY = "nirs_core.operators._selection_kernels:select_columns"


def _check_int(owner: str, name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ConfigError(f"{owner}: {name} must be an integer ≥ {low}; got {value!r}.")
    return int(value)


def _check_bool(owner: str, name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner}: {name} must be True or False; got {value!r}.")
    return bool(value)


class _ColumnSelector(TransformerMixin, BaseEstimator):
    """Shared transform/replay of the selectors: keep the columns ``indices_``."""

    def _validate(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(
            self, X, y, dtype=np.float64, ensure_min_samples=2, multi_output=True, y_numeric=True, reset=True
        )
        Y = np.asarray(y, dtype=np.float64)
        return X, (Y.reshape(-1, 1) if Y.ndim == 1 else Y)

    def _set_support(self, support: np.ndarray) -> None:
        self.support_ = np.asarray(support, dtype=bool)
        self.indices_ = np.flatnonzero(self.support_)
        self.n_features_out_ = int(self.indices_.size)

    def get_support(self, indices=False):
        """Boolean mask of the kept columns, or their indices with ``indices=True``."""
        check_is_fitted(self)
        return self.indices_.copy() if indices else self.support_.copy()

    def transform(self, X):
        """The selected columns of ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _sk.select_columns(X, self.indices_)

    def replay_spec(self):
        """``("module:function", kwargs)`` with ``function(X, **kwargs) == transform(X)``."""
        check_is_fitted(self)
        return _REPLAY, {"indices": self.indices_}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    _contract_params = {"n_components": 1}  # noqa: RUF012 - the suite feeds 1-feature arrays


class _CrossValidatedSelector(_ColumnSelector):
    """Selectors that score column subsets by PLS RMSECV."""

    def _folds(self, X: np.ndarray, Y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        owner = type(self).__name__
        cv = self.cv
        if isinstance(cv, Integral) and not isinstance(cv, bool):
            if not 2 <= cv <= X.shape[0]:
                raise ConfigError(
                    f"{owner}: cv as a fold count must be in [2, n_samples = {X.shape[0]}]; got {cv}."
                )
        elif isinstance(cv, (str, bool)) or not hasattr(cv, "split"):
            raise ConfigError(f"{owner}: cv must be a fold count or a scikit-learn splitter; got {cv!r}.")
        from sklearn.model_selection import check_cv  # lazily: a fold count or splitter, its rules

        splitter = check_cv(cv)
        y_split = Y[:, 0] if Y.shape[1] == 1 else Y
        return [(np.asarray(tr), np.asarray(te)) for tr, te in splitter.split(X, y_split)]

    def _rmsecv(self, X: np.ndarray, Y: np.ndarray, folds: list, cols: np.ndarray) -> tuple[float, int]:
        """Lowest RMSECV over ``1..A`` components for the columns ``cols`` and that ``A``
        (``A`` capped by the columns and the smallest training set)."""
        from nirs_core.models.cv import pls_cv_scores

        smallest = min(len(train) for train, _ in folds)
        limit = min(int(self.n_components), cols.size, smallest - 1)
        if limit < 1:
            raise DataError(
                f"{type(self).__name__}: the smallest training fold has {smallest} rows; PLS needs at least 2."
            )
        scores = pls_cv_scores(X[:, cols], Y, folds, limit, scale=bool(self.scale))
        per_a = np.sqrt(np.mean(scores**2, axis=1)) if scores.ndim == 2 else scores
        best = int(np.argmin(per_a))
        return float(per_a[best]), best + 1


@register("VIP")
class VIPSelector(_ColumnSelector):
    """Keep the wavelengths whose VIP score (from a PLS fit) is at least ``threshold``.

    VIP_j = sqrt(p Σ_a SS_a (w_ja/‖w_a‖)² / Σ_a SS_a), SS_a the y variance explained by latent
    variable a (see :func:`nirs_core.operators._selection_kernels.vip_scores`). The squared
    VIPs average 1, so the default threshold keeps the above-average variables.

    Parameters
    ----------
    n_components : int, default=2
        Latent variables of the PLS, at most ``min(n_samples - 1, n_features)``.
    threshold : float, default=1.0
        Compared to rounding (a relative ``1e-12``), so that a single feature (VIP = 1) is kept.
    scale : bool, default=False
        Passed to the PLS (VIPs then refer to standardised columns).

    Attributes
    ----------
    vip_scores_ : ndarray (n_features_in_,)
    support_ : ndarray of bool; indices_ : ndarray of int
    pls_ : PLSRegression
    """

    def __init__(self, n_components=2, *, threshold=1.0, scale=False):
        self.n_components = n_components
        self.threshold = threshold
        self.scale = scale

    def fit(self, X, y):
        """Fit the PLS, compute the VIP scores and keep the columns at or above the threshold."""
        from nirs_core.models.pls import PLSRegression

        X, Y = self._validate(X, y)
        k = _check_int("VIPSelector", "n_components", self.n_components, 1)
        limit = min(X.shape[0] - 1, X.shape[1])
        if k > limit:
            raise ConfigError(
                f"VIPSelector: n_components={k} exceeds min(n_samples - 1, n_features) = {limit} "
                f"(n_samples={X.shape[0]}, n_features={X.shape[1]})."
            )
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, Real) or not np.isfinite(t) or t < 0:
            raise ConfigError(f"VIPSelector: threshold must be a finite number ≥ 0; got {t!r}.")
        scale = _check_bool("VIPSelector", "scale", self.scale)
        self.pls_ = PLSRegression(n_components=k, scale=scale).fit(X, Y)
        self.vip_scores_ = _sk.vip_scores(self.pls_.x_weights_, self.pls_.x_scores_ss_, self.pls_.y_loadings_)
        support = self.vip_scores_ >= float(t) * (1.0 - 1e-12)
        if not support.any():
            raise DataError(
                f"VIPSelector: no feature reaches VIP ≥ threshold={t!r}; the largest VIP is "
                f"{float(self.vip_scores_.max()):.4g}. Lower the threshold."
            )
        self._set_support(support)
        return self


@register("iPLS")
class IntervalPLS(_CrossValidatedSelector):
    """Interval PLS (Nørgaard et al., Appl. Spectrosc. 54 (2000) 413): split the spectrum into
    ``n_intervals`` contiguous intervals and keep the combination with the lowest RMSECV.

    ``mode="single"``: the best single interval (classic iPLS). ``"forward"``: start from the
    best interval and add, one at a time, the interval that lowers RMSECV most, while it does.
    ``"backward"``: start from all intervals and remove, one at a time, the interval whose
    removal lowers RMSECV most, while it does (at least one stays).

    Parameters
    ----------
    n_intervals : int, default=10
        At most ``n_features`` (intervals of near-equal width, as ``numpy.array_split``).
    mode : {"forward", "backward", "single"}, default="forward"
    n_components : int, default=5
        Largest number of PLS latent variables tried per subset (capped by its width and the
        training folds).
    cv : int or splitter, default=5
        Contiguous K-fold (``KFold(cv)``, no shuffling) or any scikit-learn splitter.
    scale : bool, default=False

    Attributes
    ----------
    intervals_ : ndarray (n_intervals, 2), ``[start, stop)`` of each interval
    selected_intervals_ : ndarray of int, in the order they were chosen (forward) or sorted
    rmsecv_ : float; n_components_ : int  (of the selected subset)
    history_ : list of dict(intervals, rmsecv, n_components), one per step
    support_, indices_
    """

    def __init__(self, n_intervals=10, *, mode="forward", n_components=5, cv=5, scale=False):
        self.n_intervals = n_intervals
        self.mode = mode
        self.n_components = n_components
        self.cv = cv
        self.scale = scale

    def _nirs_shape(self, n_features, wavelengths):
        # the run's preflight: each interval needs one feature at least; the kept width depends
        # on the search (unknown before the fit)
        check_at_most(
            "IntervalPLS",
            "n_intervals",
            self.n_intervals,
            n_features,
            f"at most the number of features ({n_features})",
        )
        return None, None

    def fit(self, X, y):
        """Search the intervals by RMSECV."""
        X, Y = self._validate(X, y)
        m = _check_int("IntervalPLS", "n_intervals", self.n_intervals, 1)
        if m > X.shape[1]:
            raise ConfigError(f"IntervalPLS: n_intervals={m} exceeds n_features={X.shape[1]}.")
        if self.mode not in ("forward", "backward", "single"):
            raise ConfigError(
                f"IntervalPLS: mode must be 'forward', 'backward' or 'single'; got {self.mode!r}."
            )
        _check_int("IntervalPLS", "n_components", self.n_components, 1)
        _check_bool("IntervalPLS", "scale", self.scale)
        folds = self._folds(X, Y)
        self.intervals_ = _sk.contiguous_intervals(X.shape[1], m)

        def columns(chosen) -> np.ndarray:
            return np.concatenate([np.arange(*self.intervals_[i]) for i in sorted(chosen)])

        def score(chosen) -> tuple[float, int]:
            return self._rmsecv(X, Y, folds, columns(chosen))

        singles = [score([i]) for i in range(m)]
        self.interval_rmsecv_ = np.array([s[0] for s in singles])
        best = int(np.argmin(self.interval_rmsecv_))
        history = []
        if self.mode == "backward":
            chosen = list(range(m))
            current = score(chosen)
            history.append({"intervals": list(chosen), "rmsecv": current[0], "n_components": current[1]})
            while len(chosen) > 1:
                trials = [(score([c for c in chosen if c != drop]), drop) for drop in chosen]
                (rmse, a), drop = min(trials, key=lambda t: t[0][0])
                if rmse >= current[0]:
                    break
                chosen.remove(drop)
                current = (rmse, a)
                history.append({"intervals": list(chosen), "rmsecv": rmse, "n_components": a})
        else:
            chosen = [best]
            current = singles[best]
            history.append({"intervals": list(chosen), "rmsecv": current[0], "n_components": current[1]})
            while self.mode == "forward" and len(chosen) < m:
                trials = [(score([*chosen, add]), add) for add in range(m) if add not in chosen]
                (rmse, a), add = min(trials, key=lambda t: t[0][0])
                if rmse >= current[0]:
                    break
                chosen.append(add)
                current = (rmse, a)
                history.append({"intervals": list(chosen), "rmsecv": rmse, "n_components": a})
        self.selected_intervals_ = np.array(
            chosen if self.mode == "forward" else sorted(chosen), dtype=np.intp
        )
        self.rmsecv_, self.n_components_ = current
        self.history_ = history
        support = np.zeros(X.shape[1], dtype=bool)
        support[columns(chosen)] = True
        self._set_support(support)
        return self

    # the suite feeds 1-feature arrays; more intervals than features is a ConfigError
    _contract_params = {"n_components": 1, "n_intervals": 1}  # noqa: RUF012


@register()
class CARS(_CrossValidatedSelector):
    """Competitive adaptive reweighted sampling (Li, Liang, Xu & Cao, Anal. Chim. Acta 648
    (2009) 77–84).

    ``n_runs`` sampling runs; in run ``i`` a PLS is fitted on a random ``sample_fraction`` of the
    rows with the variables still in play, each variable weighted by its absolute regression
    coefficient (summed over targets). The exponentially decreasing function keeps the
    ``r_i p`` heaviest variables (``r_1 = 1`` … ``r_N = 2/p``), and adaptive reweighted
    sampling then draws ``r_i p`` of them with replacement, with probability proportional to
    their weights; the distinct draws form the subset of run ``i``. The subset with the lowest
    RMSECV (first on ties) is kept. Seeded by ``random_state``.

    Parameters
    ----------
    n_components : int, default=5
        Largest number of PLS latent variables (capped by the subset and the rows).
    n_runs : int, default=50
    sample_fraction : float, default=0.8
        Fraction of rows drawn (without replacement) for each run's PLS.
    cv : int or splitter, default=5
    scale : bool, default=False
    random_state : int, RandomState or None, default=0

    Attributes
    ----------
    subsets_ : list of ndarray, the variables of each run
    rmsecv_path_ : ndarray (n_runs,)
    best_run_ : int; rmsecv_ : float; n_components_ : int
    support_, indices_
    """

    def __init__(self, n_components=5, *, n_runs=50, sample_fraction=0.8, cv=5, scale=False, random_state=0):
        self.n_components = n_components
        self.n_runs = n_runs
        self.sample_fraction = sample_fraction
        self.cv = cv
        self.scale = scale
        self.random_state = random_state

    def fit(self, X, y):
        """Run the sampling and keep the subset with the lowest RMSECV."""
        from nirs_core.models.pls import PLSRegression

        X, Y = self._validate(X, y)
        k = _check_int("CARS", "n_components", self.n_components, 1)
        runs = _check_int("CARS", "n_runs", self.n_runs, 1)
        f = self.sample_fraction
        if isinstance(f, bool) or not isinstance(f, Real) or not 0.0 < f <= 1.0:
            raise ConfigError(f"CARS: sample_fraction must be a float in (0, 1]; got {f!r}.")
        scale = _check_bool("CARS", "scale", self.scale)
        folds = self._folds(X, Y)
        rng = check_random_state(self.random_state)
        n, p = X.shape
        n_rows = max(2, round(float(f) * n))
        ratios = _sk.cars_ratios(p, runs)
        cols = np.arange(p)
        subsets, path, comps = [], [], []
        for i in range(runs):
            rows = np.sort(rng.choice(n, size=n_rows, replace=False))
            a = min(k, cols.size, n_rows - 1)
            pls = PLSRegression(n_components=a, scale=scale).fit(X[np.ix_(rows, cols)], Y[rows])
            b = np.abs(pls.coef_).sum(axis=0)
            w = b / b.sum() if b.sum() > 0 else np.full(cols.size, 1.0 / cols.size)
            n_keep = max(1, round(float(ratios[i]) * p))
            order = np.argsort(-w, kind="stable")[: min(n_keep, cols.size)]
            kept, kept_w = cols[order], w[order]
            prob = kept_w / kept_w.sum() if kept_w.sum() > 0 else None
            cols = np.unique(rng.choice(kept, size=n_keep, replace=True, p=prob))
            rmse, a_best = self._rmsecv(X, Y, folds, cols)
            subsets.append(cols)
            path.append(rmse)
            comps.append(a_best)
        self.subsets_ = subsets
        self.rmsecv_path_ = np.array(path)
        self.best_run_ = int(np.argmin(self.rmsecv_path_))
        self.rmsecv_ = float(self.rmsecv_path_[self.best_run_])
        self.n_components_ = comps[self.best_run_]
        support = np.zeros(p, dtype=bool)
        support[subsets[self.best_run_]] = True
        self._set_support(support)
        return self
