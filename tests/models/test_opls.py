"""OrthogonalPLS: the single-y identity with PLS, orthogonality of its scores to y, and its
use as a filter."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression as SklearnPLS

import nirs_core.models._kernels as _kernels
from nirs_core.errors import ConfigError, DataError
from nirs_core.models.opls import OrthogonalPLS
from nirs_core.registry import resolve


def test_alias():
    assert resolve("OPLS") is OrthogonalPLS


@pytest.mark.parametrize("k", [0, 1, 3, 6])
def test_predictions_equal_pls_with_one_more_component(corn_arrays, k):
    """For one y, OPLS with 1 predictive + k orthogonal components predicts as PLS with k+1."""
    X, y, Xv = corn_arrays["Xcal"], corn_arrays["ycal"], corn_arrays["Xval"]
    model = OrthogonalPLS(n_orthogonal=k).fit(X, y)
    expected = SklearnPLS(k + 1, scale=False).fit(X, y).predict(Xv)
    np.testing.assert_allclose(model.predict(Xv), expected, rtol=1e-8, atol=0)
    assert model.n_orthogonal_effective_ == k


def test_orthogonal_scores_are_orthogonal_to_y(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    model = OrthogonalPLS(n_orthogonal=4).fit(X, y)
    T = model.orthogonal_scores(X)
    yc = y - y.mean()
    cosines = (T.T @ yc) / (np.linalg.norm(T, axis=0) * np.linalg.norm(yc))
    np.testing.assert_array_less(np.abs(cosines), 1e-10)
    # and mutually orthogonal, as successive deflation makes them
    G = T.T @ T
    np.testing.assert_allclose(G - np.diag(np.diag(G)), 0.0, atol=1e-10 * np.abs(G).max())


def test_filtered_spectra_need_one_pls_component(corn_arrays):
    """After the filter, one PLS component on the filtered spectra predicts as OPLS does."""
    X, y, Xv = corn_arrays["Xcal"], corn_arrays["ycal"], corn_arrays["Xval"]
    model = OrthogonalPLS(n_orthogonal=3).fit(X, y)
    filtered = model.transform(X)
    np.testing.assert_allclose(filtered.mean(axis=0), X.mean(axis=0), atol=1e-12)
    pls = SklearnPLS(1, scale=False).fit(filtered, y)
    np.testing.assert_allclose(pls.predict(model.transform(Xv)), model.predict(Xv), rtol=1e-9)


def test_replay_specs(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    model = OrthogonalPLS(2).fit(X, y)
    target, kwargs = model.replay_spec()
    assert target == "nirs_core.models._kernels:opls_filter"
    np.testing.assert_array_equal(_kernels.opls_filter(X, **kwargs), model.transform(X))
    target, kwargs = model.replay_spec("predict")
    assert target == "nirs_core.models._kernels:pls_predict"
    np.testing.assert_array_equal(_kernels.pls_predict(X, **kwargs), model.predict(X))
    with pytest.raises(
        ConfigError, match=r"replay_spec: method must be 'transform' or 'predict'; got 'proba'"
    ):
        model.replay_spec("proba")


def test_no_orthogonal_variation_left():
    """Two features, y along one of them: one orthogonal direction exists, not two."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    model = OrthogonalPLS(n_orthogonal=3).fit(X, X[:, 0] + 0.1 * X[:, 1])
    assert model.n_orthogonal_effective_ == 1
    np.testing.assert_allclose(model.predict(X), X[:, 0] + 0.1 * X[:, 1], atol=1e-10)


def test_errors(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    with pytest.raises(DataError, match="OrthogonalPLS: expects one target; got y with 2 columns"):
        OrthogonalPLS().fit(X, np.column_stack([y, y]))
    with pytest.raises(ConfigError, match=r"n_orthogonal must be an integer ≥ 0; got -1"):
        OrthogonalPLS(-1).fit(X, y)


def _slow_opls(X, y, k):
    """Trygg & Wold's algorithm as published: deflate a centred copy of X explicitly."""
    E = X - X.mean(axis=0)
    yc = y - y.mean()
    w = E.T @ yc
    w /= np.linalg.norm(w)
    scores, loadings = [], []
    for _ in range(k):
        t = E @ w
        p = E.T @ t / (t @ t)
        wo = p - (w @ p) * w
        wo /= np.linalg.norm(wo)
        to = E @ wo
        po = E.T @ to / (to @ to)
        E = E - np.outer(to, po)
        scores.append(to)
        loadings.append(po)
    return np.column_stack(scores), np.column_stack(loadings), E + X.mean(axis=0)


def test_filter_equals_the_published_deflation_loop(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    T, P, filtered = _slow_opls(X, y, 4)
    model = OrthogonalPLS(n_orthogonal=4).fit(X, y)
    np.testing.assert_allclose(model.orthogonal_scores(X), T, rtol=0, atol=1e-9 * np.abs(T).max())
    np.testing.assert_allclose(model.orthogonal_loadings_, P, rtol=0, atol=1e-9 * np.abs(P).max())
    np.testing.assert_allclose(model.transform(X), filtered, rtol=0, atol=1e-12)
