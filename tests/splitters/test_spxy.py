"""SPXYSplit against a slow reference of Galvão et al. (2005)."""

from __future__ import annotations

import numpy as np
import pytest

from nirs_core.errors import DataError
from nirs_core.registry import resolve
from nirs_core.splitters import _kernels
from nirs_core.splitters.spxy import SPXYSplit


def _slow_spxy_order(X, y):
    """Galvão et al.: dx, dy euclidean, each divided by its maximum, summed; start with the most
    distant pair, then repeatedly add the sample whose nearest selected sample is farthest."""
    n = X.shape[0]
    dx = np.array([[np.sqrt(np.sum((X[i] - X[j]) ** 2)) for j in range(n)] for i in range(n)])
    dy = np.array([[abs(y[i] - y[j]) for j in range(n)] for i in range(n)])
    d = dx / dx.max() + dy / dy.max()
    best = (0, 1)
    for i in range(n):
        for j in range(i + 1, n):
            if d[i, j] > d[best]:
                best = (i, j)
    order = list(best)
    while len(order) < n:
        rest = [i for i in range(n) if i not in order]
        scores = [min(d[i, j] for j in order) for i in rest]
        order.append(rest[int(np.argmax(scores))])
    return np.array(order)


def test_order_equals_slow_reference_on_corn(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    np.testing.assert_array_equal(SPXYSplit().order(X, y), _slow_spxy_order(X, y))


def test_single_split_takes_first_selected_as_train(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    ref = _slow_spxy_order(X, y)
    train, test = next(SPXYSplit(test_size=0.25).split(X, y))
    np.testing.assert_array_equal(train, np.sort(ref[:45]))
    np.testing.assert_array_equal(test, np.sort(ref[45:]))
    # the y range of the training set covers the extremes (the point of SPXY)
    assert y[train].min() == y.min() and y[train].max() == y.max()


def test_y_changes_the_selection_and_2d_y_is_accepted(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    ks_like = _kernels.kennard_stone_order(
        _kernels.pairwise_distances(X), _kernels.most_distant_pair(_kernels.pairwise_distances(X))
    )
    assert not np.array_equal(SPXYSplit().order(X, y), ks_like)
    np.testing.assert_array_equal(SPXYSplit().order(X, y), SPXYSplit().order(X, y[:, None]))


def test_folds_partition_rows_and_are_deterministic(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    splitter = SPXYSplit(n_splits=4)
    first = list(splitter.split(X, y))
    second = list(splitter.split(X, y))
    tests = [t for _, t in first]
    np.testing.assert_array_equal(np.sort(np.concatenate(tests)), np.arange(60))
    assert [len(t) for t in tests] == [15] * 4
    for (a, b), (c, d) in zip(first, second):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    seeds = SPXYSplit().order(X, y)[:4]
    assert [
        int(t[0])
        for t in _kernels.kennard_stone_folds(
            _kernels.spxy_distances(_kernels.pairwise_distances(X), _kernels.pairwise_distances(y[:, None])),
            seeds,
        )
    ] == [int(s) for s in seeds]
    assert resolve("SPXY") is SPXYSplit


def test_constant_y_block_contributes_nothing():
    D = np.array([[0.0, 2.0], [2.0, 0.0]])
    np.testing.assert_array_equal(_kernels.spxy_distances(D, np.zeros((2, 2))), D / 2.0)


def test_y_is_required_and_must_match(corn_arrays):
    X = corn_arrays["Xcal"]
    with pytest.raises(DataError, match=r"SPXYSplit: split\(X, y\) needs the targets y"):
        next(SPXYSplit().split(X))
    with pytest.raises(DataError, match="SPXYSplit: X has 60 rows but y has 59"):
        next(SPXYSplit().split(X, corn_arrays["ycal"][:59]))
