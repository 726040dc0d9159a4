"""PCA/PLS outlier detectors against slow references (explicit scores, eigenvalues, residual
norms) and the limits against scipy.stats formulas written out here."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sklearn.cross_decomposition import PLSRegression as SkPLS
from sklearn.decomposition import PCA

from nirs_core.errors import ConfigError, DataError
from nirs_core.operators.outliers import PCAOutlierDetector, PLSOutlierDetector, q_limit
from nirs_core.registry import resolve


def _slow_t2_q(X, scores, variances, reconstruction):
    t2 = np.array(
        [sum(scores[i, a] ** 2 / variances[a] for a in range(scores.shape[1])) for i in range(len(X))]
    )
    q = np.array([float(np.sum((X[i] - reconstruction[i]) ** 2)) for i in range(len(X))])
    return t2, q


def _residual_eigenvalues(X, k):
    lam = np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False)))[::-1]
    return np.clip(lam[k:], 0.0, None)


@pytest.mark.parametrize("k", [2, 5])
def test_pca_statistics_equal_explicit_reference(corn_arrays, k):
    X, Xval = corn_arrays["Xcal"], corn_arrays["Xval"]
    det = PCAOutlierDetector(n_components=k).fit(X)
    pca = PCA(n_components=k, svd_solver="full").fit(X)
    for Z in (X, Xval):
        scores = pca.transform(Z)
        t2_ref, q_ref = _slow_t2_q(Z, scores, pca.explained_variance_, pca.inverse_transform(scores))
        t2, q = det.statistics(Z)
        np.testing.assert_allclose(t2, t2_ref, rtol=1e-8)
        np.testing.assert_allclose(q, q_ref, rtol=1e-6)


def test_limits_equal_textbook_formulas(corn_arrays):
    X = corn_arrays["Xcal"]
    n, k, conf = X.shape[0], 3, 0.95
    lam = _residual_eigenvalues(X, k)
    t1, t2, t3 = lam.sum(), (lam**2).sum(), (lam**3).sum()
    box = PCAOutlierDetector(n_components=k, confidence=conf).fit(X)
    assert box.t2_limit_ == pytest.approx(k * (n - 1) / (n - k) * stats.f.ppf(conf, k, n - k), rel=1e-12)
    assert box.q_limit_ == pytest.approx((t2 / t1) * stats.chi2.ppf(conf, t1**2 / t2), rel=1e-6)
    jm = PCAOutlierDetector(n_components=k, confidence=conf, q_method="jackson_mudholkar").fit(X)
    h0 = 1 - 2 * t1 * t3 / (3 * t2**2)
    z = stats.norm.ppf(conf)
    ref = t1 * (z * np.sqrt(2 * t2 * h0**2) / t1 + 1 + t2 * h0 * (h0 - 1) / t1**2) ** (1 / h0)
    assert jm.q_limit_ == pytest.approx(ref, rel=1e-6)
    # at 95 % roughly 5 % of the calibration rows exceed the T² limit
    t2_vals, _ = box.statistics(X)
    assert 0 <= np.sum(t2_vals > box.t2_limit_) <= 8


def test_pls_statistics_equal_scikit_learn_scores(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    det = PLSOutlierDetector(n_components=4).fit(X, y)
    sk = SkPLS(n_components=4, scale=False).fit(X, y)
    T = sk.x_scores_
    recon = T @ sk.x_loadings_.T + X.mean(axis=0)
    t2_ref, q_ref = _slow_t2_q(X, T, T.var(axis=0, ddof=1), recon)
    t2, q = det.statistics(X)
    np.testing.assert_allclose(t2, t2_ref, rtol=1e-6)
    np.testing.assert_allclose(q, q_ref, rtol=1e-6)
    lam = np.linalg.svd(X - recon, compute_uv=False) ** 2 / (len(X) - 1)
    assert det.q_limit_ == pytest.approx(
        (lam**2).sum() / lam.sum() * stats.chi2.ppf(0.95, lam.sum() ** 2 / (lam**2).sum()), rel=1e-6
    )


def test_injected_spike_is_flagged_and_filtered(corn_arrays):
    X = corn_arrays["Xcal"].copy()
    y = corn_arrays["ycal"]
    X[7, 300:320] += 0.02  # a local bump no PCA component of the other spectra explains: Q flags it
    det = PCAOutlierDetector(n_components=3)
    keep = det.fit_filter(X)
    assert not keep[7]
    table = det.report(X)
    assert isinstance(table, pl.DataFrame)
    assert table.columns == ["row", "t2", "t2_limit", "t2_outlier", "q", "q_limit", "q_outlier", "outlier"]
    assert table["q_outlier"][7] and table["outlier"][7]
    np.testing.assert_array_equal(table["outlier"].to_numpy(), ~keep)
    X_kept, y_kept = PCAOutlierDetector(n_components=3).fit_resample(X, y)
    np.testing.assert_array_equal(X_kept, X[keep])
    np.testing.assert_array_equal(y_kept, y[keep])
    X_only, y_none = PCAOutlierDetector(n_components=3).fit_resample(X)
    assert y_none is None and X_only.shape == X_kept.shape
    pls_keep = PLSOutlierDetector(n_components=3).fit_filter(X, y)
    assert not pls_keep[7]


def test_criteria_combine_flags(corn_arrays):
    X = corn_arrays["Xcal"]
    flags = {c: PCAOutlierDetector(3, criterion=c).fit(X).report(X) for c in ("either", "both", "t2", "q")}
    t2o, qo = flags["either"]["t2_outlier"].to_numpy(), flags["either"]["q_outlier"].to_numpy()
    np.testing.assert_array_equal(flags["either"]["outlier"].to_numpy(), t2o | qo)
    np.testing.assert_array_equal(flags["both"]["outlier"].to_numpy(), t2o & qo)
    np.testing.assert_array_equal(flags["t2"]["outlier"].to_numpy(), t2o)
    np.testing.assert_array_equal(flags["q"]["outlier"].to_numpy(), qo)


def test_transform_is_identity_and_aliases(corn_arrays):
    X = corn_arrays["Xcal"]
    det = PCAOutlierDetector().fit(X)
    out = det.transform(X)
    np.testing.assert_array_equal(out, X)
    assert out is not X
    assert det._nirs_role == "filter"
    assert resolve("HotellingT2") is PCAOutlierDetector and resolve("PLSOutliers") is PLSOutlierDetector


def test_full_rank_model_has_no_q_limit():
    assert q_limit((0.0, 0.0, 0.0), 0.95) == float("inf")
    X = np.random.default_rng(0).normal(size=(10, 3))
    det = PCAOutlierDetector(n_components=3).fit(X)
    assert det.q_limit_ == float("inf")
    assert not det.report(X)["q_outlier"].any()


def test_jackson_mudholkar_refuses_h0_below_zero(shared_data):
    X = np.loadtxt(shared_data / "fermentation" / "X_train.csv", delimiter=",", skiprows=1, ndmin=2)
    PCAOutlierDetector(n_components=1).fit(X)  # Box is fine
    with pytest.raises(
        DataError, match=r"PCAOutlierDetector: the Jackson–Mudholkar Q limit needs h0 .* Use q_method='box'"
    ):
        PCAOutlierDetector(n_components=1, q_method="jackson_mudholkar").fit(X)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"confidence": 1.0}, r"PCAOutlierDetector: confidence must be a float in \(0, 1\); got 1.0"),
        ({"q_method": "exact"}, r"PCAOutlierDetector: q_method must be one of .*got 'exact'"),
        ({"criterion": "any"}, r"PCAOutlierDetector: criterion must be one of .*got 'any'"),
        ({"scale": 1}, r"PCAOutlierDetector: scale must be True or False; got 1"),
        ({"n_components": 0}, r"PCAOutlierDetector: n_components must be an integer ≥ 1; got 0"),
        ({"n_components": 6}, r"n_components=6 exceeds min\(n_samples - 1, n_features\) = 5"),
    ],
)
def test_config_errors(params, match):
    X = np.random.default_rng(0).normal(size=(6, 8))
    with pytest.raises(ConfigError, match=match):
        PCAOutlierDetector(**params).fit(X)


def test_rank_deficient_data_is_a_data_error():
    X = np.outer(np.arange(6.0), np.ones(4))  # rank 1 after centring
    with pytest.raises(DataError, match=r"PCAOutlierDetector: latent variable 2 has zero variance"):
        PCAOutlierDetector(n_components=2).fit(X)
