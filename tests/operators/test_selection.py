"""VIP, iPLS and CARS against independent references: the published VIP formula in a slow loop
over a scikit-learn PLS, and RMSECV recomputed with scikit-learn's cross_val_predict."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression as SkPLS
from sklearn.model_selection import KFold, cross_val_predict

from nirs_core.errors import ConfigError, DataError
from nirs_core.operators import _selection_kernels as sk
from nirs_core.operators.selection import CARS, IntervalPLS, VIPSelector
from nirs_core.registry import resolve


def _slow_vip(pls: SkPLS) -> np.ndarray:
    """VIP_j = sqrt(p Σ_a SS_a (w_ja/‖w_a‖)² / Σ_a SS_a), SS_a = Σ_k q_ka² tₐᵀtₐ (Chong & Jun 2005)."""
    W, T, Q = pls.x_weights_, pls.x_scores_, pls.y_loadings_
    p, A = W.shape
    ss = [sum(Q[k, a] ** 2 for k in range(Q.shape[0])) * float(T[:, a] @ T[:, a]) for a in range(A)]
    vip = np.empty(p)
    for j in range(p):
        num = sum(ss[a] * (W[j, a] / np.linalg.norm(W[:, a])) ** 2 for a in range(A))
        vip[j] = np.sqrt(p * num / sum(ss))
    return vip


def _sk_rmsecv(X, y, cols, max_components, cv=5):
    """Lowest RMSECV over 1..A components with scikit-learn (contiguous K-fold)."""
    best = np.inf
    for a in range(1, min(max_components, len(cols)) + 1):
        pred = cross_val_predict(SkPLS(a, scale=False), X[:, cols], y, cv=KFold(cv))
        best = min(best, float(np.sqrt(np.mean((np.ravel(pred) - y) ** 2))))
    return best


@pytest.mark.parametrize("k", [3, 8])
def test_vip_equals_published_formula_on_sklearn_pls(corn_arrays, k):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    sel = VIPSelector(n_components=k).fit(X, y)
    ref = _slow_vip(SkPLS(k, scale=False).fit(X, y))
    np.testing.assert_allclose(sel.vip_scores_, ref, rtol=1e-6)
    assert np.mean(sel.vip_scores_**2) == pytest.approx(1.0, rel=1e-10)
    np.testing.assert_array_equal(sel.get_support(), sel.vip_scores_ >= 1.0)
    np.testing.assert_array_equal(
        sel.transform(corn_arrays["Xval"]), corn_arrays["Xval"][:, sel.vip_scores_ >= 1.0]
    )
    np.testing.assert_array_equal(sel.get_support(indices=True), np.flatnonzero(sel.vip_scores_ >= 1.0))


def test_vip_for_two_targets_and_threshold(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    Y = np.column_stack([y, (y - y.mean()) ** 2])
    sel = VIPSelector(n_components=4, threshold=1.5).fit(X, Y)
    np.testing.assert_allclose(sel.vip_scores_, _slow_vip(SkPLS(4, scale=False).fit(X, Y)), rtol=1e-6)
    assert sel.n_features_out_ == int(np.sum(sel.vip_scores_ >= 1.5)) > 0
    assert resolve("VIP") is VIPSelector


def test_vip_of_a_single_feature_is_one_and_kept():
    X = np.arange(10.0).reshape(-1, 1)
    sel = VIPSelector(n_components=1).fit(X, X[:, 0] ** 2)
    assert sel.vip_scores_[0] == pytest.approx(1.0) and sel.n_features_out_ == 1


def test_ipls_single_interval_rmsecv_equals_scikit_learn(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    sel = IntervalPLS(n_intervals=7, mode="single", n_components=4).fit(X, y)
    bounds = sk.contiguous_intervals(700, 7)
    np.testing.assert_array_equal(bounds, [[s[0], s[-1] + 1] for s in np.array_split(np.arange(700), 7)])
    ref = [_sk_rmsecv(X, y, np.arange(*b), 4) for b in bounds]
    np.testing.assert_allclose(sel.interval_rmsecv_, ref, rtol=1e-7)
    assert sel.selected_intervals_.tolist() == [int(np.argmin(ref))]
    np.testing.assert_array_equal(sel.get_support(indices=True), np.arange(*bounds[np.argmin(ref)]))


def test_ipls_forward_steps_lower_rmsecv_and_stop_when_nothing_helps(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    sel = IntervalPLS(n_intervals=6, mode="forward", n_components=6).fit(X, y)
    path = [h["rmsecv"] for h in sel.history_]
    assert all(b < a for a, b in itertools.pairwise(path))
    cols = sel.get_support(indices=True)
    assert sel.rmsecv_ == pytest.approx(_sk_rmsecv(X, y, cols, 6), rel=1e-7)
    bounds = sel.intervals_
    for extra in set(range(6)) - set(sel.selected_intervals_.tolist()):
        trial = np.union1d(cols, np.arange(*bounds[extra]))
        assert _sk_rmsecv(X, y, trial, 6) >= sel.rmsecv_ - 1e-12
    assert sel.rmsecv_ < _sk_rmsecv(X, y, np.arange(700), 6)


def test_ipls_backward_removes_while_rmsecv_drops(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    sel = IntervalPLS(n_intervals=5, mode="backward", n_components=5).fit(X, y)
    path = [h["rmsecv"] for h in sel.history_]
    assert len(sel.history_[0]["intervals"]) == 5
    assert all(b < a for a, b in itertools.pairwise(path))
    assert sel.rmsecv_ == pytest.approx(_sk_rmsecv(X, y, sel.get_support(indices=True), 5), rel=1e-7)
    assert resolve("iPLS") is IntervalPLS


def test_ipls_finds_the_informative_interval():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 50))
    y = X[:, 32:36].sum(axis=1) + 0.05 * rng.normal(size=40)
    sel = IntervalPLS(n_intervals=5, mode="single", n_components=3).fit(X, y)
    assert sel.selected_intervals_.tolist() == [3]


def test_cars_is_seeded_and_its_rmsecv_is_exact(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    a = CARS(n_components=6, n_runs=20, random_state=1).fit(X, y)
    b = CARS(n_components=6, n_runs=20, random_state=1).fit(X, y)
    c = CARS(n_components=6, n_runs=20, random_state=2).fit(X, y)
    np.testing.assert_array_equal(a.indices_, b.indices_)
    np.testing.assert_array_equal(a.rmsecv_path_, b.rmsecv_path_)
    assert not all(np.array_equal(u, v) for u, v in zip(a.subsets_, c.subsets_))
    assert a.rmsecv_ == pytest.approx(_sk_rmsecv(X, y, a.indices_, 6), rel=1e-7)
    assert a.rmsecv_ == a.rmsecv_path_.min() and a.best_run_ == int(np.argmin(a.rmsecv_path_))
    ratios = sk.cars_ratios(700, 20)
    assert ratios[0] == 1.0 and ratios[-1] == pytest.approx(2 / 700)
    sizes = [s.size for s in a.subsets_]
    assert all(size <= max(1, round(r * 700)) for size, r in zip(sizes, ratios))
    assert sizes[-1] <= 2
    assert resolve("CARS") is CARS


def test_cars_keeps_informative_variables():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 40))
    y = 2 * X[:, 5] - X[:, 17] + 0.01 * rng.normal(size=60)
    sel = CARS(n_components=3, n_runs=30, random_state=0).fit(X, y)
    assert {5, 17} <= set(sel.indices_.tolist())
    assert sel.n_features_out_ <= 10


def test_select_columns_kernel():
    X = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(sk.select_columns(X, np.array([3, 1])), X[:, [3, 1]])
    assert sk.cars_ratios(2, 5).tolist() == [1.0] * 5


@pytest.mark.parametrize(
    ("est", "match"),
    [
        (VIPSelector(n_components=0), r"VIPSelector: n_components must be an integer ≥ 1; got 0"),
        (
            VIPSelector(n_components=9),
            r"VIPSelector: n_components=9 exceeds min\(n_samples - 1, n_features\) = 6",
        ),
        (VIPSelector(threshold=-1), r"VIPSelector: threshold must be a finite number ≥ 0; got -1"),
        (VIPSelector(scale="no"), r"VIPSelector: scale must be True or False; got 'no'"),
        (IntervalPLS(n_intervals=7), r"IntervalPLS: n_intervals=7 exceeds n_features=6"),
        (
            IntervalPLS(n_intervals=2, mode="both"),
            r"IntervalPLS: mode must be 'forward', 'backward' or 'single'; got 'both'",
        ),
        (
            IntervalPLS(n_intervals=2, n_components=0),
            r"IntervalPLS: n_components must be an integer ≥ 1; got 0",
        ),
        (
            IntervalPLS(n_intervals=2, cv=1),
            r"IntervalPLS: cv as a fold count must be in \[2, n_samples = 12\]; got 1",
        ),
        (
            IntervalPLS(n_intervals=2, cv="loo"),
            r"IntervalPLS: cv must be a fold count or a scikit-learn splitter; got 'loo'",
        ),
        (CARS(n_runs=0), r"CARS: n_runs must be an integer ≥ 1; got 0"),
        (CARS(sample_fraction=0.0), r"CARS: sample_fraction must be a float in \(0, 1\]; got 0.0"),
    ],
)
def test_config_errors(est, match):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 6))
    with pytest.raises(ConfigError, match=match):
        est.fit(X, X[:, 0])


def test_data_errors():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 6))
    with pytest.raises(
        DataError, match=r"VIPSelector: no feature reaches VIP ≥ threshold=100; the largest VIP is"
    ):
        VIPSelector(threshold=100).fit(X, X[:, 0])
    with pytest.raises(
        DataError, match=r"IntervalPLS: the smallest training fold has 1 rows; PLS needs at least 2"
    ):
        IntervalPLS(n_intervals=2, cv=2).fit(X[:2], X[:2, 0])
