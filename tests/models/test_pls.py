"""PLSRegression and the improved kernel PLS kernel, against scikit-learn on real spectra."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression as SklearnPLS
from sklearn.model_selection import KFold

import nirs_core.models._kernels as _kernels
from nirs_core.errors import ConfigError
from nirs_core.models.cv import pls_cv_scores
from nirs_core.models.pls import PLSRegression
from nirs_core.registry import resolve


def _sklearn(n_components, X, y, scale=False):
    # A converged NIPALS: scikit-learn's default tol (1e-6 on the squared weight change)
    # stops multi-target power iterations well before 1e-8 agreement.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SklearnPLS(n_components, scale=scale, tol=1e-30, max_iter=100_000).fit(X, y)


def _second_target(corn_arrays):
    """A synthetic second target from two bands of the real spectra, plus noise."""
    rng = np.random.default_rng(7)
    X = np.vstack([corn_arrays["Xcal"], corn_arrays["Xval"]])
    t2 = 40.0 * X[:, 150] - 25.0 * X[:, 480] + rng.normal(0.0, 0.01, len(X))
    return t2[:60], t2[60:]


def test_aliases_resolve():
    assert resolve("PLS") is PLSRegression
    assert resolve("PLSR") is PLSRegression


@pytest.mark.parametrize("algorithm", [1, 2, "auto"])
def test_predictions_equal_sklearn_for_every_number_of_components(corn_arrays, algorithm):
    X, y, Xv = corn_arrays["Xcal"], corn_arrays["ycal"], corn_arrays["Xval"]
    model = PLSRegression(15, algorithm=algorithm).fit(X, y)
    for a in range(1, 16):
        expected = SklearnPLS(a, scale=False).fit(X, y).predict(Xv)
        got = model.predict(Xv, n_components=a)
        assert got.shape == (20,)
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=0)
    np.testing.assert_array_equal(model.predict(Xv), model.predict(Xv, n_components=15))


@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("algorithm", [1, 2])
def test_multi_target_equals_sklearn_with_its_attributes(corn_arrays, scale, algorithm):
    X, Xv = corn_arrays["Xcal"], corn_arrays["Xval"]
    t2, _ = _second_target(corn_arrays)
    Y = np.column_stack([corn_arrays["ycal"], t2])
    model = PLSRegression(10, scale=scale, algorithm=algorithm).fit(X, Y)
    ref = _sklearn(10, X, Y, scale=scale)
    pred = model.predict(Xv)
    assert pred.shape == (20, 2)
    np.testing.assert_allclose(pred, ref.predict(Xv), rtol=1e-8, atol=0)
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-7, atol=1e-9 * np.abs(ref.coef_).max())
    for name in ("x_weights_", "x_loadings_", "x_rotations_", "y_loadings_", "y_weights_"):
        got, want = getattr(model, name), getattr(ref, name)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-8 * np.abs(want).max(), err_msg=name)
    np.testing.assert_allclose(model.x_mean_, X.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(model.y_mean_, Y.mean(axis=0), rtol=1e-14)
    assert model.n_features_in_ == 700
    # the affine intercept: predict(X) = X @ coef_.T + intercept_
    np.testing.assert_allclose(pred, Xv @ model.coef_.T + model.intercept_, rtol=1e-12)


def test_2d_single_column_target_predicts_2d(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    one = PLSRegression(5).fit(X, y)
    two = PLSRegression(5).fit(X, y[:, None])
    assert one.predict(X).shape == (60,)
    assert two.predict(X).shape == (60, 1)
    np.testing.assert_allclose(two.predict(X)[:, 0], one.predict(X), rtol=1e-13)


def test_scores_equal_sklearn_transform(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    model = PLSRegression(6).fit(X, y)
    ref = SklearnPLS(6, scale=False).fit(X, y)
    want = ref.transform(corn_arrays["Xval"])
    np.testing.assert_allclose(model.scores(corn_arrays["Xval"]), want, atol=1e-9 * np.abs(want).max())
    np.testing.assert_allclose(model.scores(X, n_components=3), ref.transform(X)[:, :3], atol=1e-9)
    # tᵀt of the training scores, what VIP weighs by
    np.testing.assert_allclose(model.x_scores_ss_, np.sum(ref.x_scores_**2, axis=0), rtol=1e-9)


def test_replay_kernel_is_predict(corn_arrays):
    model = PLSRegression(8).fit(corn_arrays["Xcal"], corn_arrays["ycal"])
    target, kwargs = model.replay_spec()
    assert target == "nirs_core.models._kernels:pls_predict"
    assert isinstance(kwargs["intercept"], float) and kwargs["coef"].shape == (700,)
    np.testing.assert_array_equal(
        _kernels.pls_predict(corn_arrays["Xval"], **kwargs), model.predict(corn_arrays["Xval"])
    )


def test_corn_rmsep_with_cv_chosen_components(corn_arrays):
    """SOURCES.md: corn, PLS (scale=False), A by 5-fold CV on Xcal, RMSEP ≈ 0.032 on Xval.
    Searching A in 1..20 (the usual range) CV picks 20 and RMSEP is 0.0319; RMSECV keeps
    falling slowly past 20 (a search up to 40 picks 24-33, RMSEP 0.024-0.026)."""
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    folds = list(KFold(5, shuffle=True, random_state=0).split(X))
    rmsecv = pls_cv_scores(X, y, folds, 20)
    best = int(np.argmin(rmsecv)) + 1
    pred = PLSRegression(best).fit(X, y).predict(corn_arrays["Xval"])
    rmsep = float(np.sqrt(np.mean((pred - corn_arrays["yval"]) ** 2)))
    assert 0.029 < rmsep < 0.035, (best, rmsep)


def test_constant_target_gives_the_mean_and_no_components(corn_arrays):
    X = corn_arrays["Xcal"]
    model = PLSRegression(3).fit(X, np.full(60, 3.5))
    assert model.n_effective_components_ == 0
    np.testing.assert_allclose(model.predict(corn_arrays["Xval"]), 3.5, rtol=1e-14)


def test_exact_fit_stops_extracting_components():
    """X of rank 2 in 5 columns and y in its span: two components fit exactly, the rest are
    zero (scikit-learn extracts noise there, with ~0 contribution)."""
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(30, 2))
    X = Z @ rng.normal(size=(2, 5)) + 1.0
    y = Z @ np.array([1.0, -2.0])
    model = PLSRegression(4).fit(X, y)
    assert model.n_effective_components_ == 2
    np.testing.assert_array_equal(model.coef_path_[2], model.coef_path_[1])
    np.testing.assert_allclose(model.predict(X), y, atol=1e-10)
    np.testing.assert_allclose(model.predict(X), SklearnPLS(2, scale=False).fit(X, y).predict(X), atol=1e-10)


def test_n_components_above_the_rank_limit_is_refused(corn_arrays):
    X, y = corn_arrays["Xcal"][:10], corn_arrays["ycal"][:10]
    with pytest.raises(ConfigError, match=r"n_components=10 exceeds the rank limit .* = 9 \(n_samples=10"):
        PLSRegression(10).fit(X, y)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_n_components_must_be_a_positive_integer(corn_arrays, bad):
    with pytest.raises(ConfigError, match=r"PLSRegression: n_components must be an integer ≥ 1; got"):
        PLSRegression(bad).fit(corn_arrays["Xcal"], corn_arrays["ycal"])


def test_algorithm_must_be_known(corn_arrays):
    with pytest.raises(ConfigError, match=r"algorithm must be 1, 2 or 'auto'; got 3"):
        PLSRegression(2, algorithm=3).fit(corn_arrays["Xcal"], corn_arrays["ycal"])


@pytest.mark.parametrize("bad", [0, 6, 1.0])
def test_predict_n_components_within_the_fitted_range(corn_arrays, bad):
    model = PLSRegression(5).fit(corn_arrays["Xcal"], corn_arrays["ycal"])
    with pytest.raises(ConfigError, match=r"predict: n_components must be an integer in \[1, 5\]"):
        model.predict(corn_arrays["Xval"], n_components=bad)


def test_kernel_needs_exactly_one_of_x_or_xtx():
    XtY = np.ones((3, 1))
    with pytest.raises(TypeError, match="pass exactly one of X"):
        _kernels.ikpls_components(XtY, 1)
    with pytest.raises(TypeError, match="pass exactly one of X"):
        _kernels.ikpls_components(XtY, 1, X=np.ones((4, 3)), XtX=np.eye(3))


def test_pls_fit_kernel_returns_every_component_count(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"][:, None]
    fit = _kernels.pls_fit(X, y, 4)
    assert fit.coef.shape == (4, 700, 1) and fit.intercept.shape == (4, 1)
    for a in range(1, 5):
        expected = SklearnPLS(a, scale=False).fit(X, y).predict(X)
        np.testing.assert_allclose(X @ fit.coef[a - 1] + fit.intercept[a - 1], expected, rtol=1e-9)


def test_algorithm_2_shift_needs_the_row_count():
    with pytest.raises(TypeError, match="algorithm 2 with x_shift needs n_rows"):
        _kernels.ikpls_components(np.ones((3, 1)), 1, XtX=np.eye(3), x_shift=np.zeros(3))


@pytest.mark.parametrize("algorithm", [1, 2])
@pytest.mark.parametrize(("center", "scale"), [(False, False), (True, True), (False, True)])
def test_pls_fit_equals_ikpls_without_centring_or_with_scaling(corn_arrays, algorithm, center, scale):
    """ikpls (an independent implementation) covers what scikit-learn cannot: no centring."""
    from ikpls.numpy import PLS as IkplsPLS

    X, y = corn_arrays["Xcal"], corn_arrays["ycal"][:, None]
    fit = _kernels.pls_fit(X, y, 8, center=center, scale=scale, algorithm=algorithm)
    ref = IkplsPLS(algorithm=1, center_X=center, center_Y=center, scale_X=scale, scale_Y=scale, ddof=1)
    ref.fit(X, y, 8)
    want = ref.predict(corn_arrays["Xval"])  # (A, n, q)
    for a in range(8):
        got = corn_arrays["Xval"] @ fit.coef[a] + fit.intercept[a]
        np.testing.assert_allclose(got, want[a], rtol=1e-8, atol=0)
