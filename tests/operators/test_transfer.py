"""Calibration transfer on the corn instruments: an instrument-1 model predicts instrument 2
better after DS or PDS than without transfer; plus the maths against plain references."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression

from nirs_core.errors import ConfigError
from nirs_core.operators import _transfer_kernels as tk
from nirs_core.operators.transfer import DirectStandardization, PiecewiseDirectStandardization
from nirs_core.registry import resolve


@pytest.fixture(scope="module")
def corn_instruments(shared_data):
    root = shared_data / "corn_instruments"
    X1 = np.loadtxt(root / "X_inst1.csv", delimiter=",", skiprows=1, ndmin=2)
    X2 = np.loadtxt(root / "X_inst2.csv", delimiter=",", skiprows=1, ndmin=2)
    sets = np.loadtxt(root / "y.csv", delimiter=",", skiprows=1, usecols=0, dtype=str)
    y = np.loadtxt(root / "y.csv", delimiter=",", skiprows=1, usecols=1)
    return X1, X2, y, sets


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.ravel(a) - np.ravel(b)) ** 2)))


def test_transfer_lowers_rmsep_of_master_model_on_slave(corn_instruments):
    X1, X2, y, sets = corn_instruments
    cal, test, trans = sets == "cal", sets == "test", sets == "trans"
    model = PLSRegression(n_components=10, scale=False).fit(X1[cal], y[cal])
    none = _rmse(model.predict(X2[test]), y[test])
    ds = DirectStandardization().fit(X2[trans], X1[trans])
    pds = PiecewiseDirectStandardization(half_width=2).fit(X2[trans], X1[trans])
    rmse_ds = _rmse(model.predict(ds.transform(X2[test])), y[test])
    rmse_pds = _rmse(model.predict(pds.transform(X2[test])), y[test])
    master = _rmse(model.predict(X1[test]), y[test])
    print(
        f"\ncorn inst1 PLS(10) on inst2 test rows: RMSEP no transfer {none:.4f}, DS {rmse_ds:.4f}, "
        f"PDS {rmse_pds:.4f} (inst1 itself {master:.4f})"
    )
    assert rmse_ds < none
    assert rmse_pds < none
    # the transferred spectra are closer to the master ones than the raw slave spectra
    assert _rmse(ds.transform(X2[test]), X1[test]) < _rmse(X2[test], X1[test])
    assert _rmse(pds.transform(X2[test]), X1[test]) < _rmse(X2[test], X1[test])


def test_ds_equals_pinv_reference(corn_instruments):
    X1, X2, _, sets = corn_instruments
    S, M = X2[sets == "trans"], X1[sets == "trans"]
    F_ref = np.linalg.pinv(S - S.mean(axis=0), rcond=1e-10) @ (M - M.mean(axis=0))
    ds = DirectStandardization().fit(S, M)
    np.testing.assert_allclose(ds.transfer_matrix_, F_ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ds.offset_, M.mean(axis=0) - S.mean(axis=0) @ F_ref, rtol=1e-6, atol=1e-8)
    # uncentred DS is pinv(S) M with no offset; on the transfer rows the map is exact here (n < p)
    raw = DirectStandardization(center=False).fit(S, M)
    np.testing.assert_allclose(raw.transfer_matrix_, np.linalg.pinv(S, rcond=1e-10) @ M, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(raw.offset_, np.zeros(M.shape[1]))
    np.testing.assert_allclose(raw.transform(S), M, atol=1e-8)


def test_ds_rank_truncation_is_a_rank_r_map(corn_instruments):
    X1, X2, _, sets = corn_instruments
    S, M = X2[sets == "trans"], X1[sets == "trans"]
    ds = DirectStandardization(rank=5).fit(S, M)
    assert np.linalg.matrix_rank(ds.transfer_matrix_) == 5


def _slow_pds(S, M, half_width):
    """PDS with one latent variable per window, written out: w ∝ Zᵀm, t = Zw, β = w (tᵀm)/(tᵀt)."""
    p = S.shape[1]
    s_mean, m_mean = S.mean(axis=0), M.mean(axis=0)
    F = np.zeros((p, p))
    for j in range(p):
        lo, hi = max(0, j - half_width), min(p, j + half_width + 1)
        Z = S[:, lo:hi] - s_mean[lo:hi]
        m = M[:, j] - m_mean[j]
        w = Z.T @ m
        w /= np.linalg.norm(w)
        t = Z @ w
        F[lo:hi, j] = w * (t @ m) / (t @ t)
    return F, m_mean - s_mean @ F


def test_pds_is_banded_and_equals_slow_reference(corn_instruments):
    X1, X2, _, sets = corn_instruments
    S, M = X2[sets == "trans"][:, :60], X1[sets == "trans"][:, :60]
    pds = PiecewiseDirectStandardization(half_width=3).fit(S, M)
    F_ref, b_ref = _slow_pds(S, M, 3)
    np.testing.assert_allclose(pds.transfer_matrix_, F_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pds.offset_, b_ref, rtol=1e-9, atol=1e-12)
    rows, cols = np.nonzero(pds.transfer_matrix_)
    assert np.max(np.abs(rows - cols)) <= 3


def test_local_pls_with_full_components_is_least_squares():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(30, 4))
    Z -= Z.mean(axis=0)
    m = Z @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.normal(size=30)
    m -= m.mean()
    np.testing.assert_allclose(tk.local_pls1(Z, m, 4), np.linalg.lstsq(Z, m, rcond=None)[0], rtol=1e-10)
    np.testing.assert_array_equal(tk.local_pls1(np.zeros((5, 2)), np.ones(5), 2), np.zeros(2))


def test_window_bounds_for_different_channel_counts():
    lo, hi = tk.window_bounds(5, 5, 1)
    assert lo.tolist() == [0, 0, 1, 2, 3] and hi.tolist() == [2, 3, 4, 5, 5]
    lo, hi = tk.window_bounds(3, 6, 0)  # master j sits at slave position 2j + ½, rounded half to even: 2j
    assert (hi - lo).tolist() == [1, 1, 1]
    assert lo.tolist() == [0, 2, 4]


def test_one_dimensional_y_is_one_master_channel_and_registry(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    for cls in (DirectStandardization, PiecewiseDirectStandardization):
        out = cls().fit_transform(X, y)
        assert out.shape == (60, 1)
    assert resolve("DS") is DirectStandardization and resolve("PDS") is PiecewiseDirectStandardization


@pytest.mark.parametrize(
    ("est", "match"),
    [
        (DirectStandardization(rank=0), r"DirectStandardization: rank must be an integer ≥ 1 or None; got 0"),
        (
            DirectStandardization(rcond=2.0),
            r"DirectStandardization: rcond must be a float in \[0, 1\); got 2.0",
        ),
        (
            DirectStandardization(center="yes"),
            r"DirectStandardization: center must be True or False; got 'yes'",
        ),
        (
            PiecewiseDirectStandardization(half_width=-1),
            r"PiecewiseDirectStandardization: half_width must be an integer ≥ 0; got -1",
        ),
        (
            PiecewiseDirectStandardization(n_components=0),
            r"PiecewiseDirectStandardization: n_components must be an integer ≥ 1; got 0",
        ),
    ],
)
def test_config_errors(est, match):
    X = np.random.default_rng(0).normal(size=(10, 6))
    with pytest.raises(ConfigError, match=match):
        est.fit(X, X + 1.0)
