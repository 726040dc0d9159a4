"""SPXY sample selection (Kennard–Stone on joint X–y distances) as a scikit-learn splitter."""

from __future__ import annotations

import numpy as np

import nirs_core.splitters._kernels as _kernels
from nirs_core.errors import DataError
from nirs_core.estimator import check_array
from nirs_core.registry import register
from nirs_core.splitters.kennard_stone import _SampleSelectionSplit

__all__ = ["SPXYSplit"]


@register("SPXY")
class SPXYSplit(_SampleSelectionSplit):
    """Sample set partitioning based on joint X–y distances (Galvão et al., Talanta 67 (2005)
    736–740).

    The distance between two samples is ``dX / max(dX) + dy / max(dy)``, each block divided by
    its largest pairwise value so that spectra and targets weigh the same; ``dX`` and ``dy`` are
    euclidean (``dy`` over all target columns). As in the paper, the selection starts from the
    most distant pair, then adds the sample farthest from its nearest selected one.

    Parameters
    ----------
    n_splits : int, default=1
        1: one train/test split (train = the first ``n_train`` selected rows). ≥ 2: folds grown
        as parallel max–min designs seeded by the first ``n_splits`` rows of the SPXY order.
    test_size, train_size : float, int or None
        As ``sklearn.model_selection.train_test_split`` (default test 25 %); single split only.
    metric : {"euclidean", "cityblock", "chebyshev"}, default="euclidean"
        Metric of both the X and the y distances.
    scale : bool, default=False
        Standardise X columns before measuring ``dX`` (the paper does not).

    ``split(X, y)`` requires ``y``.
    """

    def __init__(self, n_splits=1, *, test_size=None, train_size=None, metric="euclidean", scale=False):
        self.n_splits = n_splits
        self.test_size = test_size
        self.train_size = train_size
        self.metric = metric
        self.scale = scale

    def _distances(self, X, y):
        if y is None:
            raise DataError(
                "SPXYSplit: split(X, y) needs the targets y (the joint X–y distance); got y=None."
            )
        Y = check_array(y, dtype=np.float64, ensure_2d=False, input_name="y")
        Y = Y.reshape(-1, 1) if Y.ndim == 1 else Y
        if Y.shape[0] != X.shape[0]:
            raise DataError(f"SPXYSplit: X has {X.shape[0]} rows but y has {Y.shape[0]}; they must match.")
        Xs = _kernels.standardize_columns(X) if self.scale else X
        DX = _kernels.pairwise_distances(Xs, self.metric)
        DY = _kernels.pairwise_distances(Y, self.metric)
        return _kernels.spxy_distances(DX, DY)

    def _single_start(self, D, X):
        return list(_kernels.most_distant_pair(D))

    def _fold_seeds(self, D, X, n_folds):
        return [int(i) for i in _kernels.kennard_stone_order(D, self._single_start(D, X))[:n_folds]]
