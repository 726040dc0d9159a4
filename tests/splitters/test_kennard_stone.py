"""KennardStoneSplit against the kennard_stone package and a slow reference loop."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from nirs_core.errors import ConfigError, DataError
from nirs_core.registry import resolve
from nirs_core.splitters import _kernels
from nirs_core.splitters.kennard_stone import KennardStoneSplit

ks = pytest.importorskip("kennard_stone")
logging.getLogger("kennard_stone").setLevel(logging.WARNING)


@pytest.fixture(scope="module")
def fermentation_X(shared_data) -> np.ndarray:
    return np.loadtxt(shared_data / "fermentation" / "X_train.csv", delimiter=",", skiprows=1, ndmin=2)


def _package_split(X, **kwargs):
    idx = np.arange(X.shape[0])
    _, _, train, test = ks.train_test_split(X, idx, **kwargs)
    return np.sort(train), np.sort(test)


def _slow_reference_order(X):
    """Kennard–Stone with the package's conventions, written plainly: drop constant columns,
    standardise, start at the row farthest from the mean, then max–min with python loops."""
    X = X[:, X.std(axis=0) > 0]
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    n = Z.shape[0]
    d_mean = [float(np.sqrt(np.sum((Z[i] - Z.mean(axis=0)) ** 2))) for i in range(n)]
    order = [int(np.argmax(d_mean))]
    while len(order) < n:
        best, best_d = None, -1.0
        for i in range(n):
            if i in order:
                continue
            d = min(float(np.sqrt(np.sum((Z[i] - Z[j]) ** 2))) for j in order)
            if d > best_d:
                best, best_d = i, d
        order.append(best)
    return np.array(order)


@pytest.mark.parametrize("test_size", [0.25, 0.2, 0.5, 15])
def test_single_split_equals_kennard_stone_package_on_corn(corn_arrays, test_size):
    X = corn_arrays["Xcal"]
    train, test = next(KennardStoneSplit(test_size=test_size).split(X))
    ref_train, ref_test = _package_split(X, test_size=test_size)
    np.testing.assert_array_equal(train, ref_train)
    np.testing.assert_array_equal(test, ref_test)


def test_default_split_equals_package_default_on_corn_validation(corn_arrays):
    X = np.vstack([corn_arrays["Xcal"], corn_arrays["Xval"]])
    train, test = next(KennardStoneSplit().split(X))
    ref_train, ref_test = _package_split(X)
    np.testing.assert_array_equal(train, ref_train)
    np.testing.assert_array_equal(test, ref_test)
    assert len(test) == 20


@pytest.mark.parametrize("train_size", [0.7, 12])
def test_split_by_train_size_equals_package_on_fermentation(fermentation_X, train_size):
    train, test = next(KennardStoneSplit(train_size=train_size).split(fermentation_X))
    ref_train, ref_test = _package_split(fermentation_X, train_size=train_size)
    np.testing.assert_array_equal(train, ref_train)
    np.testing.assert_array_equal(test, ref_test)


def test_order_equals_slow_reference(corn_arrays):
    X = corn_arrays["Xcal"][:40]
    np.testing.assert_array_equal(KennardStoneSplit().order(X), _slow_reference_order(X))


def test_two_folds_equal_package_kfold(corn_arrays, fermentation_X):
    for X in (corn_arrays["Xcal"], fermentation_X):
        ours = [test for _, test in KennardStoneSplit(n_splits=2).split(X)]
        ref = [np.sort(test) for _, test in ks.KFold(n_splits=2).split(X)]
        for a, b in zip(ours, ref):
            np.testing.assert_array_equal(a, b)


def _slow_reference_folds(X, k):
    X = X[:, X.std(axis=0) > 0]
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    n = Z.shape[0]
    d_mean = np.sqrt(((Z - Z.mean(axis=0)) ** 2).sum(axis=1))
    seeds = list(np.argsort(-d_mean, kind="stable")[:k])
    folds = [[int(s)] for s in seeds]
    free = set(range(n)) - set(seeds)
    while free:
        for f in range(k):
            if not free:
                break
            cand = sorted(free)
            dist = [min(np.sqrt(((Z[i] - Z[j]) ** 2).sum()) for j in folds[f]) for i in cand]
            pick = cand[int(np.argmax(dist))]
            folds[f].append(pick)
            free.remove(pick)
    return [np.sort(f) for f in folds]


def test_five_folds_equal_slow_reference_and_partition_the_rows(corn_arrays):
    X = corn_arrays["Xcal"]
    splitter = KennardStoneSplit(n_splits=5)
    assert splitter.get_n_splits() == 5
    splits = list(splitter.split(X))
    ref = _slow_reference_folds(X, 5)
    for (train, test), r in zip(splits, ref):
        np.testing.assert_array_equal(test, r)
        np.testing.assert_array_equal(np.sort(np.r_[train, test]), np.arange(60))
    assert sorted(len(t) for _, t in splits) == [12] * 5


def test_deterministic_and_registered(corn_arrays):
    X = corn_arrays["Xcal"]
    a = [t for _, t in KennardStoneSplit(n_splits=3).split(X)]
    b = [t for _, t in KennardStoneSplit(n_splits=3).split(X.copy())]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert resolve("KS") is KennardStoneSplit and resolve("KennardStone") is KennardStoneSplit
    assert "test_size=0.2" in repr(KennardStoneSplit(test_size=0.2))


def test_other_metrics_and_unscaled(corn_arrays):
    X = corn_arrays["Xcal"][:30]
    for metric in ("cityblock", "chebyshev"):
        D = _kernels.pairwise_distances(X, metric)
        ref = np.array(
            [[np.abs(a - b).sum() if metric == "cityblock" else np.abs(a - b).max() for b in X] for a in X]
        )
        np.testing.assert_allclose(D, ref, rtol=1e-12, atol=1e-12)
        train, test = next(KennardStoneSplit(metric=metric, scale=False).split(X))
        assert len(train) + len(test) == 30 and not set(train) & set(test)
    with pytest.raises(ConfigError, match="pairwise_distances: metric must be one of"):
        _kernels.pairwise_distances(X, "cosine")
    with pytest.raises(ConfigError, match="distance_to_mean: metric must be one of"):
        _kernels.distance_to_mean(X, "cosine")


def test_incomplete_sizes_leave_middle_rows_out(corn_arrays):
    X = corn_arrays["Xcal"]
    order = KennardStoneSplit().order(X)
    train, test = next(KennardStoneSplit(test_size=10, train_size=30).split(X))
    np.testing.assert_array_equal(train, np.sort(order[:30]))
    np.testing.assert_array_equal(test, np.sort(order[-10:]))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_splits": 0}, r"KennardStoneSplit: n_splits must be an integer ≥ 1; got 0"),
        ({"metric": "cosine"}, r"KennardStoneSplit: metric must be one of .*got 'cosine'"),
        ({"n_splits": 3, "test_size": 0.2}, r"test_size/train_size apply to a single split"),
        ({"n_splits": 11}, r"n_splits=11 exceeds n_samples=10"),
        ({"test_size": "a"}, r"test_size must be a float in \(0, 1\), an int ≥ 1 or None; got 'a'"),
        ({"test_size": 10}, r"test_size as a count must be in \[1, n_samples - 1 = 9\]; got 10"),
        ({"test_size": 1.5}, r"test_size as a fraction must be in \(0, 1\); got 1.5"),
        ({"test_size": 6, "train_size": 6}, r"give n_train=6 and n_test=6 for n_samples=10"),
    ],
)
def test_config_errors(params, match):
    X = np.random.default_rng(0).normal(size=(10, 4))
    with pytest.raises(ConfigError, match=match):
        next(KennardStoneSplit(**params).split(X))


def test_one_sample_is_a_data_error():
    with pytest.raises(
        DataError, match="KennardStoneSplit: need at least 2 samples to split; got n_samples=1"
    ):
        next(KennardStoneSplit().split(np.ones((1, 3))))
