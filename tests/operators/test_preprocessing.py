"""Preprocessing operators against independent references on real spectra: scipy, pybaselines,
PyWavelets, chemotools, and slow per-row loops of the published formulas.

Corn (NIR, 1100–2498 nm, regular 2 nm axis) is the default; fermentation (ATR-FTIR, uneven
1–2 cm⁻¹ steps) checks everything that depends on the spacing of the axis.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
import pywt
import scipy.signal
from numpy.testing import assert_allclose
from scipy.ndimage import gaussian_filter1d

import nirs_core.operators._kernels as K
from nirs_core.operators.baseline import (
    AirPLS,
    AsymmetricLeastSquares,
    Detrend,
    LinearBaselineCorrection,
    RubberBandCorrection,
)
from nirs_core.operators.conversion import KubelkaMunk, ReflectanceToAbsorbance
from nirs_core.operators.denoising import WaveletDenoise
from nirs_core.operators.derivatives import NorrisWilliams, SavitzkyGolay
from nirs_core.operators.normalisation import Normalize
from nirs_core.operators.scatter import (
    ExtendedMultiplicativeScatterCorrection,
    LocalStandardNormalVariate,
    MultiplicativeScatterCorrection,
    RobustNormalVariate,
    StandardNormalVariate,
)
from nirs_core.operators.smoothing import GaussianSmoothing
from nirs_core.registry import resolve

RTOL = 1e-10


def close(actual, expected, rtol=RTOL):
    """Equal up to ``rtol`` relative to the largest value of ``expected`` (derivatives cross 0)."""
    expected = np.asarray(expected)
    assert actual.shape == expected.shape
    assert_allclose(actual, expected, rtol=0, atol=rtol * np.max(np.abs(expected)))


@pytest.fixture(scope="module")
def corn(corn_arrays):
    return corn_arrays["Xcal"], corn_arrays["Xval"], corn_arrays["wavelengths"]


@pytest.fixture(scope="module")
def fermentation(shared_data):
    """Fermentation training spectra (21 × 1047) and their uneven wavenumber axis."""
    path = shared_data / "fermentation" / "X_train.csv"
    axis = np.array([float(v) for v in path.read_text().splitlines()[0].split(",")])
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2), axis


# ------------------------------------------------------------------------------------ scatter


def test_snv_matches_per_row_formula_and_chemotools(corn):
    from chemotools.scatter import StandardNormalVariate as ChemotoolsSNV

    X, _, _ = corn
    slow = np.array([(x - x.mean()) / x.std() for x in X])
    out = StandardNormalVariate().fit_transform(X)
    close(out, slow)
    close(out, ChemotoolsSNV().fit_transform(X))
    close(StandardNormalVariate(ddof=1).fit_transform(X), [(x - x.mean()) / x.std(ddof=1) for x in X])


def test_snv_flat_spectrum_becomes_zeros():
    X = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    out = StandardNormalVariate().fit_transform(X)
    assert_allclose(out[0], 0.0)
    assert_allclose(out[1], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    for value in (0.7, 1e-3, 123.456):  # the mean is not exact: rounding noise is not amplified
        flat = np.full((1, 700), value)
        assert_allclose(StandardNormalVariate().fit_transform(flat), 0.0, atol=1e-12)
        assert_allclose(StandardNormalVariate().fit_transform(flat.astype(np.float32)), 0.0, atol=1e-5)


def test_rnv_matches_chemotools_and_the_formula(corn):
    from chemotools.scatter import RobustNormalVariate as ChemotoolsRNV

    X, _, _ = corn
    for q in (10.0, 25.0, 50.0):
        slow = []
        for x in X:
            level = np.percentile(x, q)
            slow.append((x - level) / x[x <= level].std())
        out = RobustNormalVariate(percentile=q).fit_transform(X)
        close(out, slow)
        close(out, ChemotoolsRNV(percentile=q, epsilon=0.0).fit_transform(X))


@pytest.mark.parametrize("window_length", [1, 11, 51, 801])
def test_local_snv_matches_slow_loop_with_truncated_edges(corn, window_length):
    X = corn[0][:4]
    half = window_length // 2
    slow = np.empty_like(X)
    for r, x in enumerate(X):
        for j in range(x.size):
            w = x[max(0, j - half) : j + half + 1]
            slow[r, j] = (x[j] - w.mean()) / w.std() if w.std() > 0 else x[j] - w.mean()
    close(LocalStandardNormalVariate(window_length=window_length).fit_transform(X), slow)


def test_msc_matches_polyfit_per_row_and_chemotools(corn):
    from chemotools.scatter import MultiplicativeScatterCorrection as ChemotoolsMSC

    Xcal, Xval, _ = corn
    msc = MultiplicativeScatterCorrection().fit(Xcal)
    assert_allclose(msc.reference_, Xcal.mean(axis=0), rtol=1e-14)
    slow = []
    for x in Xval:
        slope, intercept = np.polyfit(msc.reference_, x, 1)
        slow.append((x - intercept) / slope)
    close(msc.transform(Xval), slow)
    close(msc.transform(Xval), ChemotoolsMSC().fit(Xcal).transform(Xval))


def test_msc_median_and_given_reference(corn):
    Xcal, Xval, _ = corn
    median = MultiplicativeScatterCorrection(reference="median").fit(Xcal)
    assert_allclose(median.reference_, np.median(Xcal, axis=0))
    given = MultiplicativeScatterCorrection(reference=Xcal[3]).fit(Xval)
    slope, intercept = np.polyfit(Xcal[3], Xval[0], 1)
    close(given.transform(Xval[:1]), [(Xval[0] - intercept) / slope])


def _emsc_slow(X, reference, axis, order):
    t = (2 * axis - axis.max() - axis.min()) / (axis.max() - axis.min())
    design = np.column_stack([reference] + [t**k for k in range(order + 1)])
    out = []
    for x in X:
        coef = np.linalg.lstsq(design, x, rcond=None)[0]
        out.append((x - design[:, 1:] @ coef[1:]) / coef[0])
    return np.array(out)


def test_emsc_matches_lstsq_per_row_on_an_uneven_axis(fermentation):
    X, axis = fermentation
    Xcal, Xtest = X[:15], X[15:]
    for order in (0, 2, 4):
        emsc = ExtendedMultiplicativeScatterCorrection(order=order).fit(Xcal, wavelengths=axis)
        close(emsc.transform(Xtest), _emsc_slow(Xtest, Xcal.mean(axis=0), axis, order), rtol=1e-9)


def test_emsc_matches_chemotools_and_order_zero_is_msc(corn):
    from chemotools.scatter import ExtendedMultiplicativeScatterCorrection as ChemotoolsEMSC

    Xcal, Xval, wl = corn
    ours = ExtendedMultiplicativeScatterCorrection(order=2).fit(Xcal, wavelengths=wl)
    close(ours.transform(Xval), ChemotoolsEMSC(order=2).fit(Xcal).transform(Xval), rtol=1e-9)
    order0 = ExtendedMultiplicativeScatterCorrection(order=0).fit(Xcal)
    close(order0.transform(Xval), MultiplicativeScatterCorrection().fit(Xcal).transform(Xval), rtol=1e-9)


def test_emsc_lowers_the_order_on_short_spectra_and_says_so():
    X = np.array([[1.0, 2.0, 4.0], [2.0, 3.0, 7.0], [0.5, 1.0, 2.5]])
    with pytest.warns(
        UserWarning, match="order=2 needs n_features >= order \\+ 2; got n_features=3, using order=1"
    ):
        emsc = ExtendedMultiplicativeScatterCorrection().fit(X)
    assert emsc.order_ == 1


# -------------------------------------------------------------------------------- derivatives


@pytest.mark.parametrize(
    ("window_length", "polyorder", "deriv"),
    [(15, 2, 1), (11, 2, 0), (21, 3, 2), (7, 2, 2), (5, 4, 0), (3, 1, 1), (9, 2, 3)],
)
@pytest.mark.parametrize("mode", ["interp", "mirror", "nearest", "constant", "wrap"])
def test_savgol_equals_scipy(corn, window_length, polyorder, deriv, mode):
    X = corn[0]
    sg = SavitzkyGolay(window_length, polyorder, deriv=deriv, delta=2.0, mode=mode, cval=0.5)
    expected = scipy.signal.savgol_filter(
        X, window_length, polyorder, deriv, 2.0, axis=1, mode=mode, cval=0.5
    )
    close(sg.fit_transform(X), expected)
    close(sg.transform(X), expected)


def test_savgol_default_parameters_are_scipy_defaults(fermentation):
    X, _ = fermentation
    close(SavitzkyGolay().fit_transform(X), scipy.signal.savgol_filter(X, 11, 2, axis=1))


def _exact_savgol_centre(window_length, polyorder, deriv):
    """Savitzky–Golay coefficients in exact rational arithmetic (normal equations)."""
    half = window_length // 2
    A = [[Fraction(j - half) ** i for i in range(polyorder + 1)] for j in range(window_length)]
    m = polyorder + 1
    G = [
        [sum(A[j][a] * A[j][b] for j in range(window_length)) for b in range(m)]
        + [Fraction(a == c) for c in range(m)]
        for a in range(m)
    ]
    for c in range(m):  # Gauss-Jordan inverse of A'A
        piv = G[c][c]
        G[c] = [v / piv for v in G[c]]
        for r in range(m):
            if r != c:
                f = G[r][c]
                G[r] = [v - f * w for v, w in zip(G[r], G[c])]
    inverse = [row[m:] for row in G]
    factorial = np.prod(np.arange(1, deriv + 1, dtype=float))
    return np.array(
        [factorial * float(sum(inverse[deriv][a] * A[j][a] for a in range(m))) for j in range(window_length)]
    )


def test_savgol_coefficients_are_exact_for_long_windows_and_high_orders():
    for w, k, d in [(31, 5, 3), (51, 6, 2), (15, 2, 1)]:
        exact = _exact_savgol_centre(w, k, d)
        ours = K.savgol_matrix(w, k, d)[w // 2]
        assert_allclose(ours, exact, rtol=0, atol=1e-13 * np.abs(exact).max())
    # and the filter applies exactly those coefficients in the interior
    X = np.random.default_rng(0).normal(size=(3, 80))
    out = K.savgol(X, 31, 5, 3)
    exact = _exact_savgol_centre(31, 5, 3)
    interior = np.array([[x[i - 15 : i + 16] @ exact for i in range(15, 65)] for x in X])
    close(out[:, 15:65], interior, rtol=1e-12)


def test_savgol_shortens_a_window_longer_than_the_spectra_with_a_warning(corn):
    X = corn[0][:, :8]
    sg = SavitzkyGolay(window_length=15, polyorder=9, deriv=1)
    with pytest.warns(
        UserWarning,
        match="window_length=15 is longer than the spectra \\(n_features=8\\); using window_length=7, polyorder=6",
    ):
        out = sg.fit_transform(X)
    assert (sg.window_length_, sg.polyorder_) == (7, 6)
    close(out, scipy.signal.savgol_filter(X, 7, 6, 1, axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        single = SavitzkyGolay(window_length=3, polyorder=0).fit(X[:, :3])  # fits: no warning
    assert single.window_length_ == 3


def test_savgol_used_without_fit_on_short_spectra_warns_too(corn):
    X = corn[0][:, :4]
    with pytest.warns(UserWarning, match="using window_length=3, polyorder=2"):
        out = SavitzkyGolay().transform(X)
    close(out, scipy.signal.savgol_filter(X, 3, 2, axis=1))


def test_msc_flat_spectrum_is_only_centred(corn):
    msc = MultiplicativeScatterCorrection().fit(corn[0])
    for value in (0.7, 1e-3, 123.456):
        out = msc.transform(np.full((1, corn[0].shape[1]), value))
        assert_allclose(out, 0.0, atol=1e-12 * value)


def test_savgol_keeps_float32(corn):
    X32 = corn[0].astype(np.float32)
    out = SavitzkyGolay(15, 2, deriv=1).fit_transform(X32)
    assert out.dtype == np.float32
    close(out, scipy.signal.savgol_filter(X32, 15, 2, 1, axis=1), rtol=1e-5)


def _moving_average_gap(x, window_length, gap, deriv, pad):
    half = window_length // 2
    padded = np.pad(x, half + gap, mode=pad)
    smooth = np.array([padded[i - half : i + half + 1].mean() for i in range(half, padded.size - half)])
    c = gap  # smooth[c + i] is the segment mean centred on x[i]
    out = []
    for i in range(x.size):
        if deriv == 1:
            out.append((smooth[c + i + gap] - smooth[c + i - gap]) / (2 * gap))
        else:
            out.append((smooth[c + i + gap] - 2 * smooth[c + i] + smooth[c + i - gap]) / gap**2)
    return np.array(out)


@pytest.mark.parametrize(("window_length", "gap", "deriv"), [(5, 5, 1), (1, 1, 1), (7, 3, 2), (11, 4, 2)])
def test_norris_williams_matches_segment_then_gap_loop(corn, window_length, gap, deriv):
    X = corn[0][:5]
    slow = np.array([_moving_average_gap(x, window_length, gap, deriv, "edge") for x in X])
    close(NorrisWilliams(window_length, gap, deriv).fit_transform(X), slow)
    slow_mirror = np.array([_moving_average_gap(x, window_length, gap, deriv, "symmetric") for x in X])
    close(NorrisWilliams(window_length, gap, deriv, mode="reflect").fit_transform(X), slow_mirror)


def test_norris_williams_is_exact_on_polynomials_and_matches_chemotools_interior(corn):
    from chemotools.derivative import NorrisWilliams as ChemotoolsNW

    t = np.arange(60.0)
    X = np.vstack([3 + 0.5 * t, 1 - 0.2 * t + 0.01 * t**2])
    out1 = NorrisWilliams(5, 4, 1, delta=0.5).fit_transform(X)
    assert_allclose(out1[0, 10:-10], 0.5 / 0.5, rtol=1e-12)
    out2 = NorrisWilliams(5, 4, 2).fit_transform(X)
    assert_allclose(out2[1, 10:-10], 0.02, rtol=1e-9)
    # chemotools: gap_size G points wide, divided by G; ours: gap (G - 1) / 2 either side, divided by G - 1
    Xc = corn[0]
    theirs = ChemotoolsNW(window_length=5, gap_size=7, deriv=1).fit_transform(Xc)
    ours = NorrisWilliams(5, 3, 1).fit_transform(Xc)
    close(np.abs(ours[:, 20:-20]) * 6 / 7, np.abs(theirs[:, 20:-20]))


# ----------------------------------------------------------------------------------- baseline


def test_detrend_matches_polyfit_per_row_on_both_axes(corn, fermentation):
    X, _, wl = corn
    for data, axis in ((X, wl), fermentation):
        for order in (0, 1, 2, 3):
            slow = np.array([x - np.polyval(np.polyfit(axis, x, order), axis) for x in data])
            close(Detrend(order=order).fit(data, wavelengths=axis).transform(data), slow, rtol=1e-9)


def test_detrend_order_one_is_scipy_linear_detrend_and_works_unfitted(corn):
    X = corn[0]
    close(Detrend(order=1).transform(X), scipy.signal.detrend(X, axis=1, type="linear"))
    close(Detrend(order=1).fit(X, wavelengths=corn[2]).transform(X), scipy.signal.detrend(X, axis=1))


def test_linear_baseline_matches_chemotools_and_the_axis_formula(corn, fermentation):
    from chemotools.baseline import LinearCorrection

    X = corn[0]
    close(LinearBaselineCorrection().fit_transform(X), LinearCorrection().fit_transform(X))
    F, axis = fermentation
    line = F[:, :1] + (F[:, -1:] - F[:, :1]) * (axis - axis[0]) / (axis[-1] - axis[0])
    close(LinearBaselineCorrection().fit(F, wavelengths=axis).transform(F), F - line)


def test_rubber_band_matches_chemotools_on_an_index_axis(corn):
    from chemotools.baseline import RubberbandCorrection

    X = corn[0]
    close(RubberBandCorrection().fit_transform(X), RubberbandCorrection().fit_transform(X))


def test_rubber_band_matches_scipy_convex_hull_on_an_uneven_descending_axis(fermentation):
    from scipy.spatial import ConvexHull

    F, axis = fermentation
    desc_axis, desc = axis[::-1], F[:, ::-1]  # the same spectra written high to low
    out = RubberBandCorrection().fit(desc, wavelengths=desc_axis).transform(desc)
    for r, x in enumerate(F[:6]):
        hull = ConvexHull(np.column_stack([axis, x]))
        lower = np.unique(hull.simplices[hull.equations[:, 1] < 0])
        baseline = np.interp(axis, axis[lower], x[lower])
        close(out[r, ::-1], x - baseline)
    assert np.all(out >= -1e-12)


@pytest.mark.parametrize(("lam", "p", "diff_order"), [(1e6, 0.01, 2), (1e4, 0.05, 1), (1e7, 0.001, 3)])
def test_asls_matches_pybaselines(corn, lam, p, diff_order):
    from pybaselines import Baseline

    X = corn[0][::12]
    fitter = Baseline(np.arange(X.shape[1]))
    expected = np.array([x - fitter.asls(x, lam=lam, p=p, diff_order=diff_order)[0] for x in X])
    close(AsymmetricLeastSquares(lam=lam, p=p, diff_order=diff_order).fit_transform(X), expected, rtol=1e-8)


@pytest.mark.parametrize(("lam", "diff_order"), [(1e6, 2), (1e4, 1), (1e5, 2)])
def test_airpls_matches_pybaselines(corn, lam, diff_order):
    from pybaselines import Baseline

    X = corn[0][::12]
    fitter = Baseline(np.arange(X.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pybaselines warns when it stops early, as we do
        expected = np.array([x - fitter.airpls(x, lam=lam, diff_order=diff_order)[0] for x in X])
    close(AirPLS(lam=lam, diff_order=diff_order).fit_transform(X), expected, rtol=1e-8)


def test_whittaker_baselines_on_spectra_no_longer_than_the_difference_order():
    X = np.array([[1.0, 3.0], [2.0, 0.5]])
    assert_allclose(AsymmetricLeastSquares().fit_transform(X), 0.0)
    assert_allclose(AirPLS(diff_order=3).fit_transform(X), 0.0)


# ---------------------------------------------------------------------------------- smoothing


@pytest.mark.parametrize(("sigma", "order"), [(1.0, 0), (2.5, 0), (3.0, 1), (1.7, 2)])
@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "constant", "wrap"])
def test_gaussian_smoothing_equals_scipy_ndimage(fermentation, sigma, order, mode):
    X, _ = fermentation
    out = GaussianSmoothing(sigma=sigma, order=order, mode=mode, cval=0.1, truncate=3.5).fit_transform(X)
    close(
        out, gaussian_filter1d(X, sigma, axis=1, order=order, mode=mode, cval=0.1, truncate=3.5), rtol=1e-12
    )


# ------------------------------------------------------------------------------ normalisation


def test_normalize_methods_match_their_formulas(fermentation):
    X, _ = fermentation
    expected = {
        "vector": [x / np.linalg.norm(x) for x in X],
        "area": [x / np.abs(x).sum() for x in X],
        "max": [x / np.abs(x).max() for x in X],
        "minmax": [(x - x.min()) / (x.max() - x.min()) for x in X],
    }
    for method, slow in expected.items():
        close(Normalize(method=method).fit_transform(X), slow)


def test_normalize_leaves_a_zero_spectrum_unscaled():
    X = np.array([[0.0, 0.0, 0.0], [3.0, 3.0, 3.0]])
    assert_allclose(Normalize().fit_transform(X)[0], 0.0)
    assert_allclose(Normalize(method="minmax").fit_transform(X), [[0, 0, 0], [0, 0, 0]])


# --------------------------------------------------------------------------------- conversion


def test_reflectance_to_absorbance_and_kubelka_munk(corn):
    R = 10.0 ** -corn[0]  # the corn absorbances back to reflectance
    close(ReflectanceToAbsorbance().fit_transform(R), corn[0], rtol=1e-13)
    close(KubelkaMunk().fit_transform(R), [(1 - r) ** 2 / (2 * r) for r in R], rtol=1e-13)
    floored = R.copy()
    floored[0, 0] = 0.0
    out = ReflectanceToAbsorbance(min_reflectance=1e-4).fit_transform(floored)
    assert out[0, 0] == pytest.approx(4.0)


# ---------------------------------------------------------------------------------- denoising


@pytest.mark.parametrize(
    ("wavelet", "level", "threshold", "threshold_mode", "extension"),
    [
        ("db4", None, None, "soft", "symmetric"),
        ("sym8", 3, None, "hard", "periodization"),
        ("coif2", 2, 0.01, "soft", "smooth"),
    ],
)
def test_wavelet_denoise_matches_pywt_per_row(corn, wavelet, level, threshold, threshold_mode, extension):
    X = corn[0][:8]
    p = X.shape[1]
    expected = []
    for x in X:
        lev = pywt.dwt_max_level(p, pywt.Wavelet(wavelet).dec_len) if level is None else level
        coeffs = pywt.wavedec(x, wavelet, mode=extension, level=lev)
        if threshold is None:
            thr = np.median(np.abs(coeffs[-1])) / 0.6745 * np.sqrt(2 * np.log(p))
        else:
            thr = threshold
        coeffs = [coeffs[0]] + [pywt.threshold(c, thr, mode=threshold_mode) for c in coeffs[1:]]
        expected.append(pywt.waverec(coeffs, wavelet, mode=extension)[:p])
    est = WaveletDenoise(wavelet, level, threshold, threshold_mode, extension)
    close(est.fit_transform(X), expected, rtol=1e-12)


def test_wavelet_denoise_returns_spectra_too_short_for_one_level_unchanged():
    X = np.array([[1.0, 2.0, 5.0], [0.0, 1.0, 0.5]])
    assert_allclose(WaveletDenoise().fit_transform(X), X)


# ------------------------------------------------------------------------------------ general

STATELESS = [
    StandardNormalVariate,
    RobustNormalVariate,
    LocalStandardNormalVariate,
    SavitzkyGolay,
    NorrisWilliams,
    Detrend,
    LinearBaselineCorrection,
    RubberBandCorrection,
    AsymmetricLeastSquares,
    AirPLS,
    GaussianSmoothing,
    Normalize,
    WaveletDenoise,
    ReflectanceToAbsorbance,
    KubelkaMunk,
]


@pytest.mark.parametrize("cls", STATELESS, ids=lambda c: c.__name__)
def test_stateless_operators_work_without_fit_and_after_fit(cls, corn):
    X = corn[0][:6]
    est = cls()
    assert est.__sklearn_tags__().requires_fit is False
    unfitted = est.transform(X)
    np.testing.assert_array_equal(unfitted, est.fit(X).transform(X))
    assert not hasattr(cls(), "n_features_in_")


@pytest.mark.parametrize(
    "cls",
    [*STATELESS, MultiplicativeScatterCorrection, ExtendedMultiplicativeScatterCorrection],
    ids=lambda c: c.__name__,
)
def test_float32_in_float32_out(cls, corn):
    X32 = corn[0][:6].astype(np.float32)
    out = cls().fit_transform(X32)
    assert out.dtype == np.float32
    ref = cls().fit_transform(X32.astype(np.float64))
    close(out.astype(np.float64), ref, rtol=1e-3)


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("SNV", "StandardNormalVariate"),
        ("RNV", "RobustNormalVariate"),
        ("LSNV", "LocalStandardNormalVariate"),
        ("MSC", "MultiplicativeScatterCorrection"),
        ("EMSC", "ExtendedMultiplicativeScatterCorrection"),
        ("SG", "SavitzkyGolay"),
        ("SavGol", "SavitzkyGolay"),
        ("GapDerivative", "NorrisWilliams"),
        ("ALS", "AsymmetricLeastSquares"),
        ("airPLS", "AirPLS"),
        ("Detrend", "Detrend"),
        ("RubberBand", "RubberBandCorrection"),
        ("LinearBaseline", "LinearBaselineCorrection"),
        ("Crop", "CropWavelengths"),
        ("Resample", "ResampleWavelengths"),
        ("Absorbance", "ReflectanceToAbsorbance"),
        ("LogTransform", "ReflectanceToAbsorbance"),
        ("KubelkaMunk", "KubelkaMunk"),
        ("GaussianSmoothing", "GaussianSmoothing"),
        ("Normalize", "Normalize"),
        ("WaveletDenoise", "WaveletDenoise"),
    ],
)
def test_aliases_resolve(alias, name):
    assert resolve(alias).__name__ == name


def test_replay_spec_reproduces_transform_with_a_real_axis(fermentation):
    X, axis = fermentation
    for est in (
        ExtendedMultiplicativeScatterCorrection(order=3),
        Detrend(order=2),
        RubberBandCorrection(),
        LinearBaselineCorrection(),
    ):
        est.fit(X, wavelengths=axis)
        target, kwargs = est.replay_spec()
        assert target.startswith("nirs_core.operators._kernels:")
        kernel = getattr(K, target.partition(":")[2])
        np.testing.assert_array_equal(kernel(X, **kwargs), est.transform(X))
