"""``sklearn.model_selection.KFold`` without importing scikit-learn.

A template naming ``sklearn.model_selection.KFold`` resolves to :class:`KFold` here
(:func:`nirs_core.registry.resolve`), so that a run whose other steps are the project's own
never imports scikit-learn (about 1.2 s; issue 12: a run imports what its template needs). The
folds are scikit-learn's by construction, for ``random_state`` None, an int or a RandomState:
the rows ``0..n-1``, shuffled in place by ``check_random_state(random_state).shuffle`` when
``shuffle=True``, cut into ``n_splits`` consecutive folds of which the first ``n % n_splits``
hold one row more; each fold's test rows in increasing order, the training rows the others
(tested against scikit-learn over many ``n``, ``n_splits``, ``shuffle`` and seeds).

The class keeps scikit-learn's path as its identity (``_sklearn_path``): configs, manifests
and results name ``sklearn.model_selection.KFold``, as the template did.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np

from nirs_core.errors import ConfigError, DataError
from nirs_core.estimator import BaseCrossValidator, check_random_state

__all__ = ["KFold"]


class KFold(BaseCrossValidator):
    """K-fold cross-validation, the folds of ``sklearn.model_selection.KFold``.

    Parameters
    ----------
    n_splits : int, default=5
        At least 2.
    shuffle : bool, default=False
        Shuffle the rows before cutting them into folds.
    random_state : int, RandomState or None, default=None
        Seeds the shuffle; only with ``shuffle=True`` (as scikit-learn, which refuses it otherwise).
    """

    _sklearn_path = "sklearn.model_selection.KFold"

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None):
        # checked here, as scikit-learn's KFold does (a splitter is not an estimator: no fit)
        if isinstance(n_splits, bool) or not isinstance(n_splits, Integral):
            raise ConfigError(f"KFold: n_splits must be an integer; got n_splits={n_splits!r}.")
        if n_splits < 2:
            raise ConfigError(
                f"KFold: n_splits must be at least 2 (one train/test split); got n_splits={n_splits}."
            )
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ConfigError(f"KFold: shuffle must be True or False; got shuffle={shuffle!r}.")
        if not shuffle and random_state is not None:
            raise ConfigError(
                f"KFold: random_state has no effect with shuffle=False; got random_state={random_state!r}. "
                "Set shuffle=True or leave random_state=None."
            )
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds: ``n_splits``."""
        return self.n_splits

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` row indices of each fold; ``groups`` is ignored (with a warning,
        as scikit-learn)."""
        if groups is not None:
            warnings.warn(
                f"The groups parameter is ignored by {type(self).__name__}", UserWarning, stacklevel=2
            )
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        if self.n_splits > n:
            raise DataError(
                f"KFold: cannot have n_splits={self.n_splits} greater than the number of samples: n_samples={n}."
            )
        order = np.arange(n)
        if self.shuffle:
            check_random_state(self.random_state).shuffle(order)
        sizes = np.full(self.n_splits, n // self.n_splits, dtype=int)
        sizes[: n % self.n_splits] += 1
        start = 0
        for size in sizes:
            test = np.zeros(n, dtype=bool)
            test[order[start : start + size]] = True
            start += size
            yield np.flatnonzero(~test), np.flatnonzero(test)
