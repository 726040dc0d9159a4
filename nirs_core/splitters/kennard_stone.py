"""Kennard–Stone sample selection as a scikit-learn splitter."""

from __future__ import annotations

import math
from abc import abstractmethod
from numbers import Integral, Real

import numpy as np

import nirs_core.splitters._kernels as _kernels
from nirs_core.errors import ConfigError, DataError
from nirs_core.estimator import BaseCrossValidator, check_array
from nirs_core.registry import register

__all__ = ["KennardStoneSplit"]


def split_sizes(owner: str, n_samples: int, test_size: object, train_size: object) -> tuple[int, int]:
    """``(n_train, n_test)`` with scikit-learn's ``train_test_split`` semantics: a float is a
    fraction (test rounded up, train rounded down), an int a count, ``None`` the complement;
    both ``None`` means ``test_size=0.25``."""

    def count(name: str, value: object, up: bool) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ConfigError(
                f"{owner}: {name} must be a float in (0, 1), an int ≥ 1 or None; got {value!r}."
            )
        if isinstance(value, Integral):
            if not 1 <= value <= n_samples - 1:
                raise ConfigError(
                    f"{owner}: {name} as a count must be in [1, n_samples - 1 = {n_samples - 1}]; got {value}."
                )
            return int(value)
        if not 0.0 < float(value) < 1.0:
            raise ConfigError(f"{owner}: {name} as a fraction must be in (0, 1); got {value!r}.")
        raw = float(value) * n_samples
        return math.ceil(raw) if up else math.floor(raw)

    n_test = count("test_size", test_size, up=True)
    n_train = count("train_size", train_size, up=False)
    if n_test is None and n_train is None:
        n_test = math.ceil(0.25 * n_samples)
    if n_test is None:
        n_test = n_samples - n_train
    if n_train is None:
        n_train = n_samples - n_test
    if n_train < 1 or n_test < 1 or n_train + n_test > n_samples:
        raise ConfigError(
            f"{owner}: test_size={test_size!r} and train_size={train_size!r} give n_train={n_train} and "
            f"n_test={n_test} for n_samples={n_samples}; each must be ≥ 1 and together ≤ n_samples."
        )
    return n_train, n_test


class _SampleSelectionSplit(BaseCrossValidator):
    """Shared machinery of the max–min (Kennard–Stone family) splitters: a single train/test
    split (``n_splits=1``: train = the first selected rows) or ``n_splits`` folds grown as
    parallel designs (see :func:`nirs_core.splitters._kernels.kennard_stone_folds`)."""

    _needs_y = False

    def _check_params(self, n_samples: int) -> None:
        owner = type(self).__name__
        n_splits = self.n_splits
        if isinstance(n_splits, bool) or not isinstance(n_splits, Integral) or n_splits < 1:
            raise ConfigError(f"{owner}: n_splits must be an integer ≥ 1; got {n_splits!r}.")
        if self.metric not in _kernels.METRICS:
            raise ConfigError(f"{owner}: metric must be one of {_kernels.METRICS}; got {self.metric!r}.")
        if n_splits > 1 and (self.test_size is not None or self.train_size is not None):
            raise ConfigError(
                f"{owner}: test_size/train_size apply to a single split (n_splits=1); got n_splits={n_splits} "
                f"with test_size={self.test_size!r}, train_size={self.train_size!r}."
            )
        if n_splits > n_samples:
            raise ConfigError(f"{owner}: n_splits={n_splits} exceeds n_samples={n_samples}.")
        if n_samples < 2:
            raise DataError(f"{owner}: need at least 2 samples to split; got n_samples={n_samples}.")

    @abstractmethod
    def _distances(self, X: np.ndarray, y: object) -> np.ndarray:
        """The sample-to-sample distance matrix the selection uses (X only, or X and y)."""

    @abstractmethod
    def _single_start(self, D: np.ndarray, X: np.ndarray) -> list[int]:
        """The first selected samples of a single split."""

    @abstractmethod
    def _fold_seeds(self, D: np.ndarray, X: np.ndarray, n_folds: int) -> list[int]:
        """The first sample of each fold when the selection makes several folds."""

    def _prepare(self, X: object, y: object) -> tuple[np.ndarray, np.ndarray]:
        X = check_array(X, dtype=np.float64, ensure_min_samples=1)
        self._check_params(X.shape[0])
        return X, self._distances(X, y)

    def order(self, X, y=None) -> np.ndarray:
        """Every row index of ``X`` in selection order (the first rows are the training set of a
        single split)."""
        X, D = self._prepare(X, y)
        return _kernels.kennard_stone_order(D, self._single_start(D, X))

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of splits: ``n_splits``."""
        return int(self.n_splits)

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` index arrays (sorted). ``groups`` is ignored."""
        X, D = self._prepare(X, y)
        n = X.shape[0]
        if self.n_splits == 1:
            n_train, n_test = split_sizes(type(self).__name__, n, self.test_size, self.train_size)
            order = _kernels.kennard_stone_order(D, self._single_start(D, X))
            yield np.sort(order[:n_train]), np.sort(order[n - n_test :])
            return
        folds = _kernels.kennard_stone_folds(D, self._fold_seeds(D, X, self.n_splits))
        for members in folds:
            test = np.sort(members)
            yield np.setdiff1d(np.arange(n), test), test

    def _iter_test_indices(self, X=None, y=None, groups=None):
        for _, test in self.split(X, y, groups):
            yield test


@register("KennardStone", "KS")
class KennardStoneSplit(_SampleSelectionSplit):
    """Kennard–Stone (1969) max–min selection on X.

    Selections equal ``kennard_stone.train_test_split`` (package ``kennard_stone`` 3.x) by
    following its conventions: constant columns are dropped and the others standardised
    (``scale=True``), distances are euclidean, and the first row is the one farthest from the
    mean spectrum (the 1969 paper starts from the most distant pair instead). Each next row is
    the one farthest from its nearest selected row.

    Parameters
    ----------
    n_splits : int, default=1
        1: one train/test split, train = the first ``n_train`` selected rows, test = the last
        ``n_test`` (the rows nearest to already selected ones). ≥ 2: ``n_splits`` folds grown as
        parallel Kennard–Stone designs, each seeded by one of the ``n_splits`` rows farthest from
        the mean; fold ``k`` is the test set of split ``k``. Equal to ``kennard_stone.KFold`` for
        two folds; from three on that package starts fold ``k``'s search at its k-th farthest
        candidate, which is not reproduced here.
    test_size, train_size : float, int or None
        As ``sklearn.model_selection.train_test_split`` (default test 25 %); single split only.
        When both are given and do not add up, rows selected between the train and test ones
        belong to neither.
    metric : {"euclidean", "cityblock", "chebyshev"}, default="euclidean"
    scale : bool, default=True
        Standardise the columns (after dropping constant ones) before measuring distances.
    """

    def __init__(self, n_splits=1, *, test_size=None, train_size=None, metric="euclidean", scale=True):
        self.n_splits = n_splits
        self.test_size = test_size
        self.train_size = train_size
        self.metric = metric
        self.scale = scale

    def _space(self, X: np.ndarray) -> np.ndarray:
        return _kernels.standardize_columns(X) if self.scale else X

    def _distances(self, X, y):
        return _kernels.pairwise_distances(self._space(X), self.metric)

    def _fold_seeds(self, D, X, n_folds):
        to_mean = _kernels.distance_to_mean(self._space(X), self.metric)
        return [int(i) for i in np.argsort(-to_mean, kind="stable")[:n_folds]]

    def _single_start(self, D, X):
        return self._fold_seeds(D, X, 1)
