"""Fast PLS cross-validation against a slow loop of scikit-learn fits, one per fold and per A."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression as SklearnPLS
from sklearn.model_selection import KFold, ShuffleSplit

from nirs_core.errors import ConfigError, DataError
from nirs_core.models.cv import pls_cv_predict, pls_cv_scores


def _slow(X, Y, folds, A, scale=False):
    out = np.full((len(X), A, 1 if Y.ndim == 1 else Y.shape[1]), np.nan)
    for train, val in folds:
        for a in range(1, A + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = SklearnPLS(a, scale=scale, tol=1e-30, max_iter=100_000).fit(X[train], Y[train])
            out[val, a - 1] = model.predict(X[val]).reshape(len(val), -1)
    return out


def _close(got, want, y):
    """1e-8 relative to the target's magnitude (a prediction near zero has no relative scale)."""
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), ~ok)
    scale = np.abs(y).max(axis=0)
    np.testing.assert_array_less(np.abs(got[ok] - want[ok]).max() / scale.min(), 1e-8)


@pytest.fixture(scope="module")
def tall():
    """A tall synthetic set (n ≫ p), where algorithm 2 and the XᵀX downdates are the natural path."""
    rng = np.random.default_rng(1)
    X = np.cumsum(rng.normal(size=(240, 40)), axis=1) + 5.0
    y1 = X[:, [3, 10]] @ np.array([1.0, 2.0]) + rng.normal(size=240)
    Y = np.column_stack([y1, X[:, 20] + rng.normal(size=240)])
    return X, Y


@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("algorithm", [1, 2, "auto"])
def test_corn_equals_one_sklearn_fit_per_fold_and_component(corn_arrays, algorithm, scale):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    folds = list(KFold(5, shuffle=True, random_state=0).split(X))
    got = pls_cv_predict(X, y, folds, 15, algorithm=algorithm, scale=scale)
    assert got.shape == (60, 15, 1)
    _close(got, _slow(X, y, folds, 15, scale), y)


@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("algorithm", [1, 2])
def test_tall_multi_target_equals_slow_loop(tall, algorithm, scale):
    X, Y = tall
    folds = list(KFold(4, shuffle=True, random_state=0).split(X))
    got = pls_cv_predict(X, Y, folds, 10, algorithm=algorithm, scale=scale)
    _close(got, _slow(X, Y, folds, 10, scale), Y)


@pytest.mark.parametrize("algorithm", [1, 2])
def test_training_sets_that_are_not_complements(tall, algorithm):
    """ShuffleSplit leaves rows out of both sets and its validation sets overlap across folds,
    so take one split at a time: rows never validated are NaN."""
    X, Y = tall
    for train, val in ShuffleSplit(3, test_size=0.2, train_size=0.5, random_state=0).split(X):
        got = pls_cv_predict(X, Y, [(train, val)], 6, algorithm=algorithm)
        _close(got, _slow(X, Y, [(train, val)], 6), Y)
    # small training sets (fitted directly rather than downdated) mixed with large ones
    folds = [(np.arange(0, 30), np.arange(200, 240)), (np.arange(30, 200), np.arange(0, 30))]
    _close(pls_cv_predict(X, Y, folds, 5, algorithm=algorithm), _slow(X, Y, folds, 5), Y)


def test_boolean_masks_and_uncentred_fits(tall):
    X, Y = tall
    folds = list(KFold(3).split(X))
    masks = [(np.isin(np.arange(240), tr), np.isin(np.arange(240), va)) for tr, va in folds]
    np.testing.assert_array_equal(pls_cv_predict(X, Y, masks, 4), pls_cv_predict(X, Y, folds, 4))
    # center=False: the two algorithms agree (no scikit-learn reference exists)
    one = pls_cv_predict(X, Y, folds, 6, center=False, algorithm=1)
    two = pls_cv_predict(X, Y, folds, 6, center=False, algorithm=2)
    _close(two, one, Y)


def test_scores_are_pooled_rmse(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    folds = list(KFold(5, shuffle=True, random_state=0).split(X))
    pred = pls_cv_predict(X, y, folds, 12)
    rmse = pls_cv_scores(X, y, folds, 12)
    assert rmse.shape == (12,)
    np.testing.assert_allclose(rmse, np.sqrt(np.mean((pred[:, :, 0] - y[:, None]) ** 2, axis=0)), rtol=1e-12)
    two = pls_cv_scores(X, np.column_stack([y, y]), folds, 12)
    assert two.shape == (12, 2)
    np.testing.assert_allclose(two[:, 1], rmse, rtol=1e-10)


def _folds(n=60):
    return list(KFold(3).split(np.zeros(n)))


def test_input_errors(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    with pytest.raises(DataError, match=r"X must be 2-D \(n_samples, n_features\); got shape \(60,\)"):
        pls_cv_predict(y, y, _folds(), 2)
    with pytest.raises(DataError, match=r"y must have one row per row of X \(60\); got shape \(59,\)"):
        pls_cv_predict(X, y[:-1], _folds(), 2)
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(DataError, match="must be finite; found NaN"):
        pls_cv_predict(bad, y, _folds(), 2)


def test_fold_errors(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    tr, va = np.arange(40), np.arange(40, 60)
    cases = [
        ([(tr,)], r"fold 0 must be a \(train_idx, val_idx\) pair"),
        ([(np.ones(5, bool), va)], r"fold 0 train mask must have 60 entries; got shape \(5,\)"),
        ([(tr, np.array([], dtype=int))], "fold 0 validation indices must be a non-empty 1-D integer array"),
        ([(tr, np.array([0.5]))], "fold 0 validation indices must be a non-empty 1-D integer array"),
        ([(tr, np.array([40, 60]))], r"fold 0 validation indices must lie in \[0, 60\); got 60"),
        ([(np.r_[tr, 0], va)], "fold 0 train indices contain duplicates"),
        ([(tr, np.r_[va, 0])], "fold 0 has rows in both its training and validation sets"),
        ([(tr, va), (np.arange(20), va)], "fold 1 validates row 40 already validated by fold 0"),
        ([], "folds is empty"),
    ]
    for folds, message in cases:
        with pytest.raises(ConfigError, match=message):
            pls_cv_predict(X, y, folds, 2)


def test_component_and_algorithm_errors(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    with pytest.raises(ConfigError, match=r"max_components must be an integer ≥ 1; got 0"):
        pls_cv_predict(X, y, _folds(), 0)
    with pytest.raises(
        ConfigError, match=r"max_components=40 exceeds the rank limit min\(n_train - 1, n_features\) = 39"
    ):
        pls_cv_predict(X, y, _folds(), 40)
    with pytest.raises(ConfigError, match=r"algorithm must be 1, 2 or 'auto'; got 'fast'"):
        pls_cv_predict(X, y, _folds(), 2, algorithm="fast")
