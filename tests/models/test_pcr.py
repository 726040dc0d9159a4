"""PrincipalComponentRegression against scikit-learn's PCA + LinearRegression on real spectra."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline

import nirs_core.models._kernels as _kernels
from nirs_core.errors import ConfigError
from nirs_core.models.pcr import PrincipalComponentRegression
from nirs_core.registry import resolve


def test_alias():
    assert resolve("PCR") is PrincipalComponentRegression


def test_equals_pca_plus_linear_regression_for_every_component_count(corn_arrays):
    X, y, Xv = corn_arrays["Xcal"], corn_arrays["ycal"], corn_arrays["Xval"]
    model = PrincipalComponentRegression(12).fit(X, y)
    for a in range(1, 13):
        ref = make_pipeline(PCA(a, svd_solver="full"), LinearRegression()).fit(X, y)
        np.testing.assert_allclose(model.predict(Xv, n_components=a), ref.predict(Xv), rtol=1e-9, atol=0)
    pca = PCA(12, svd_solver="full").fit(X)
    np.testing.assert_allclose(model.components_, pca.components_, atol=1e-9)
    np.testing.assert_allclose(model.explained_variance_, pca.explained_variance_, rtol=1e-9)


def test_multi_target_and_replay(corn_arrays):
    X, Xv = corn_arrays["Xcal"], corn_arrays["Xval"]
    Y = np.column_stack([corn_arrays["ycal"], X[:, 300] * 10.0])
    model = PrincipalComponentRegression(6).fit(X, Y)
    ref = make_pipeline(PCA(6, svd_solver="full"), LinearRegression()).fit(X, Y)
    np.testing.assert_allclose(model.predict(Xv), ref.predict(Xv), rtol=1e-9)
    target, kwargs = model.replay_spec()
    assert target == "nirs_core.models._kernels:pls_predict"
    np.testing.assert_array_equal(_kernels.pls_predict(Xv, **kwargs), model.predict(Xv))


def test_predict_n_components_within_the_fitted_range(corn_arrays):
    model = PrincipalComponentRegression(3).fit(corn_arrays["Xcal"], corn_arrays["ycal"])
    with pytest.raises(
        ConfigError,
        match=r"predict: n_components must be an integer in \[1, 3\] \(the fitted n_components\); got 4",
    ):
        model.predict(corn_arrays["Xval"], n_components=4)


def test_n_components_above_the_rank_limit_is_refused(corn_arrays):
    with pytest.raises(
        ConfigError, match=r"PrincipalComponentRegression: n_components=60 exceeds the rank limit"
    ):
        PrincipalComponentRegression(60).fit(corn_arrays["Xcal"], corn_arrays["ycal"])
