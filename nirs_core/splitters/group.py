"""Group-aware K-fold: every sample of a group (an extraction batch, a patient, or the
augmented copies of one origin sample) lands in the same fold."""

from __future__ import annotations

from numbers import Integral

import numpy as np

import nirs_core.splitters._kernels as _kernels
from nirs_core.errors import ConfigError, DataError
from nirs_core.estimator import BaseCrossValidator, check_random_state
from nirs_core.registry import register

__all__ = ["GroupKFoldSplit"]


@register("OriginKFold", "GroupFold")
class GroupKFoldSplit(BaseCrossValidator):
    """K-fold that keeps each group whole, with folds of near-equal sample counts.

    Groups are assigned by decreasing size, each to the fold with the fewest samples so far;
    ``shuffle=True`` permutes the groups (seeded by ``random_state``) before that stable sort,
    so equally sized groups land in random but reproducible folds. With ``groups=None`` every
    sample is its own group: samples are dealt to the folds in turn (row ``i`` to fold
    ``i mod n_splits``; in random order with ``shuffle=True``). Pass
    ``groups=origin`` to keep augmented samples with the sample they were made from (alias
    ``OriginKFold``).

    Parameters
    ----------
    n_splits : int, default=5
        At least 2 and at most the number of groups.
    shuffle : bool, default=False
    random_state : int, RandomState or None, default=None
        Only with ``shuffle=True``; an int makes the folds reproducible.
    """

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def _check_params(self) -> None:
        n = self.n_splits
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 2:
            raise ConfigError(f"GroupKFoldSplit: n_splits must be an integer ≥ 2; got {n!r}.")
        if not isinstance(self.shuffle, (bool, np.bool_)):
            raise ConfigError(f"GroupKFoldSplit: shuffle must be True or False; got {self.shuffle!r}.")
        if not self.shuffle and self.random_state is not None:
            raise ConfigError(
                "GroupKFoldSplit: random_state has no effect with shuffle=False; "
                f"got random_state={self.random_state!r}. Set shuffle=True or leave random_state=None."
            )

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds: ``n_splits``."""
        return int(self.n_splits)

    def fold_of(self, X, y=None, groups=None) -> np.ndarray:
        """Fold number (0..n_splits-1) of each sample."""
        self._check_params()
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        if groups is None:
            codes = np.arange(n)
        else:
            groups = np.asarray(groups)
            if groups.ndim != 1 or groups.shape[0] != n:
                raise DataError(
                    f"GroupKFoldSplit: groups must be 1-D with one label per sample ({n}); got shape {groups.shape}."
                )
            _, codes = np.unique(groups, return_inverse=True)
        n_groups = int(codes.max()) + 1 if n else 0
        if self.n_splits > n_groups:
            raise DataError(
                f"GroupKFoldSplit: n_splits={self.n_splits} exceeds the number of groups ({n_groups}); "
                "each fold needs at least one group."
            )
        order = None
        if self.shuffle:
            order = check_random_state(self.random_state).permutation(n_groups)
        return _kernels.balanced_group_folds(codes, self.n_splits, order)

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` index arrays; ``groups`` as scikit-learn's ``GroupKFold``."""
        fold = self.fold_of(X, y, groups)
        for k in range(self.n_splits):
            yield np.flatnonzero(fold != k), np.flatnonzero(fold == k)

    def _iter_test_indices(self, X=None, y=None, groups=None):
        for _, test in self.split(X, y, groups):
            yield test
