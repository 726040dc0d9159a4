"""Every error the preprocessing operators raise on purpose: its type and its message (who
complains, what was expected, what was received)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solveh_banded

import nirs_core.operators._kernels as K
from nirs_core.errors import ConfigError, DataError
from nirs_core.operators.baseline import AirPLS, AsymmetricLeastSquares, Detrend
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
from nirs_core.operators.wavelength import CropWavelengths, ResampleWavelengths

X = np.array(
    [[0.2, 0.4, 0.5, 0.45, 0.3, 0.25], [0.3, 0.5, 0.7, 0.6, 0.4, 0.35], [0.1, 0.3, 0.35, 0.3, 0.2, 0.15]]
)
AXIS = np.array([1000.0, 1002.0, 1004.0, 1006.0, 1008.0, 1010.0])


@pytest.mark.parametrize(
    ("est", "match"),
    [
        (
            SavitzkyGolay(window_length=10, polyorder=2),
            r"^SavitzkyGolay: window_length must be odd and greater than polyorder; got window_length=10, polyorder=2\.$",
        ),
        (
            SavitzkyGolay(window_length=5, polyorder=5),
            r"window_length must be odd and greater than polyorder; got window_length=5, polyorder=5",
        ),
        (
            SavitzkyGolay(window_length=0),
            r"SavitzkyGolay: window_length must be an integer >= 1; got window_length=0\.",
        ),
        (SavitzkyGolay(window_length=5.0), r"window_length must be an integer >= 1; got window_length=5\.0"),
        (SavitzkyGolay(polyorder=-1), r"polyorder must be an integer >= 0; got polyorder=-1"),
        (SavitzkyGolay(deriv=True), r"deriv must be an integer >= 0; got deriv=True"),
        (SavitzkyGolay(delta=0.0), r"SavitzkyGolay: delta must be a non-zero sample spacing; got delta=0\.0"),
        (SavitzkyGolay(delta=float("nan")), r"delta must be a finite number; got delta=nan"),
        (
            SavitzkyGolay(mode="reflect"),
            r"mode must be one of 'interp', 'mirror', 'constant', 'nearest', 'wrap'; got mode='reflect'",
        ),
        (
            NorrisWilliams(window_length=4),
            r"NorrisWilliams: window_length must be odd \(a centred segment\); got window_length=4",
        ),
        (NorrisWilliams(gap=0), r"NorrisWilliams: gap must be an integer >= 1; got gap=0"),
        (NorrisWilliams(deriv=3), r"NorrisWilliams: deriv must be an integer in \[1, 2\]; got deriv=3"),
        (NorrisWilliams(delta=0), r"NorrisWilliams: delta must be a non-zero sample spacing; got delta=0"),
        (
            StandardNormalVariate(ddof=6),
            r"StandardNormalVariate: ddof must be an integer in \[0, 5\]; got ddof=6",
        ),
        (
            RobustNormalVariate(percentile=120),
            r"RobustNormalVariate: percentile must be a finite number >= 0 and <= 100; got percentile=120",
        ),
        (
            LocalStandardNormalVariate(window_length=10),
            r"LocalStandardNormalVariate: window_length must be odd .*; got window_length=10",
        ),
        (
            MultiplicativeScatterCorrection(reference="mode"),
            r"reference must be one of 'mean', 'median'; got reference='mode'",
        ),
        (ExtendedMultiplicativeScatterCorrection(order=-1), r"order must be an integer >= 0; got order=-1"),
        (Detrend(order=1.5), r"Detrend: order must be an integer >= 0; got order=1\.5"),
        (
            AsymmetricLeastSquares(p=1.0),
            r"AsymmetricLeastSquares: p must be a finite number > 0 and < 1; got p=1\.0",
        ),
        (
            AsymmetricLeastSquares(lam=0),
            r"AsymmetricLeastSquares: lam must be a finite number > 0; got lam=0",
        ),
        (AirPLS(diff_order=4), r"AirPLS: diff_order must be an integer in \[1, 3\]; got diff_order=4"),
        (AirPLS(max_iter=-1), r"AirPLS: max_iter must be an integer >= 0; got max_iter=-1"),
        (GaussianSmoothing(sigma=0), r"GaussianSmoothing: sigma must be a finite number > 0; got sigma=0"),
        (GaussianSmoothing(order=3), r"GaussianSmoothing: order must be an integer in \[0, 2\]; got order=3"),
        (
            Normalize(method="l2"),
            r"Normalize: method must be one of 'vector', 'area', 'max', 'minmax'; got method='l2'",
        ),
        (
            WaveletDenoise(wavelet="morl"),
            r"WaveletDenoise: wavelet must be a discrete PyWavelets wavelet .*; got wavelet='morl'",
        ),
        (WaveletDenoise(level=0), r"WaveletDenoise: level must be an integer >= 1; got level=0"),
        (
            WaveletDenoise(extension="edge"),
            r"WaveletDenoise: extension must be one of .*; got extension='edge'",
        ),
        (
            ReflectanceToAbsorbance(min_reflectance=0.0),
            r"ReflectanceToAbsorbance: min_reflectance must be a finite number > 0; got min_reflectance=0\.0",
        ),
        (CropWavelengths(start="a"), r"CropWavelengths: start must be a finite number; got start='a'"),
        (
            ResampleWavelengths(step=-1.0),
            r"ResampleWavelengths: step must be a finite number > 0; got step=-1\.0",
        ),
        (
            ResampleWavelengths(target=[1001.0], step=1.0),
            r"ResampleWavelengths: give either target or step, not both",
        ),
    ],
)
def test_bad_parameters_raise_config_error_in_fit_not_init(est, match):
    with pytest.raises(ConfigError, match=match):
        est.fit(X)


def test_stateless_operators_check_parameters_when_used_without_fit():
    with pytest.raises(ConfigError, match="SavitzkyGolay: window_length must be odd"):
        SavitzkyGolay(window_length=4).transform(X)


# --------------------------------------------------------------------------------- the axis


@pytest.mark.parametrize(
    ("wavelengths", "error", "match"),
    [
        (["a"] * 6, DataError, r"Detrend: wavelengths must be numbers; got"),
        (
            AXIS[:5],
            DataError,
            r"Detrend: wavelengths must be a 1-D array with one value per feature \(n_features=6\); got shape \(5,\)",
        ),
        (np.vstack([AXIS, AXIS]), DataError, r"one value per feature \(n_features=6\); got shape \(2, 6\)"),
        (np.r_[AXIS[:5], np.inf], DataError, r"Detrend: wavelengths must be finite; got inf at position 5"),
        (
            np.r_[AXIS[:3], AXIS[2], AXIS[4:]],
            DataError,
            r"strictly increasing or strictly decreasing; got 1004 then 1004 at positions 2 and 3",
        ),
        (AXIS[[0, 1, 3, 2, 4, 5]], DataError, r"got 1006 then 1004 at positions 2 and 3"),
    ],
)
def test_bad_wavelengths_raise_data_error(wavelengths, error, match):
    with pytest.raises(error, match=match):
        Detrend().fit(X, wavelengths=wavelengths)


def test_numeric_feature_names_that_are_not_monotonic_are_refused():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(X, schema=["1000", "1002", "1001", "1006", "1008", "1010"])
    with pytest.raises(
        DataError, match=r"wavelengths \(read from the feature names\) must be strictly increasing"
    ):
        CropWavelengths().fit(frame)


def test_crop_of_an_empty_range():
    with pytest.raises(
        DataError,
        match=r"CropWavelengths: no wavelength lies in \[start, stop\]; got start=1100, stop=1200 for wavelengths 1000–1010",
    ):
        CropWavelengths(1100, 1200).fit(X, wavelengths=AXIS)


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        ([[1001.0, "x"]], ConfigError, r"ResampleWavelengths: target must be an array of wavelengths"),
        ([], ConfigError, r"target must hold at least one finite wavelength"),
        ([1001.0, np.nan], ConfigError, r"target must hold at least one finite wavelength"),
        ([1001.0, 1003.0, 1002.0], ConfigError, r"target must be strictly increasing or strictly decreasing"),
        (
            [1001.0, 1011.0],
            DataError,
            r"ResampleWavelengths: target wavelengths must lie inside the measured range \[1000, 1010\] \(no extrapolation\); got 1011",
        ),
    ],
)
def test_bad_resample_targets(target, error, match):
    with pytest.raises(error, match=match):
        ResampleWavelengths(target=target).fit(X, wavelengths=AXIS)


def test_feature_names_out_refuses_foreign_input_features():
    crop = CropWavelengths(1002, 1006).fit(X, wavelengths=AXIS)
    with pytest.raises(
        ConfigError, match=r"CropWavelengths: input_features must hold n_features_in_=6 names; got 2"
    ):
        crop.get_feature_names_out(["a", "b"])
    pl = pytest.importorskip("polars")
    named = CropWavelengths(1002, 1006).fit(pl.DataFrame(X, schema=[f"{w:g}" for w in AXIS]))
    with pytest.raises(ConfigError, match=r"input_features must equal feature_names_in_"):
        named.get_feature_names_out(list("abcdef"))


# ------------------------------------------------------------------------- data that cannot work


def test_msc_needs_a_reference_that_varies():
    with pytest.raises(
        DataError,
        match=r"MultiplicativeScatterCorrection: the reference spectrum must vary .* \(n_features=1\)",
    ):
        MultiplicativeScatterCorrection().fit(X[:, :1])
    with pytest.raises(
        DataError, match=r"MultiplicativeScatterCorrection: the reference spectrum is constant"
    ):
        K.msc(X, np.ones(6))


@pytest.mark.parametrize(
    ("reference", "match"),
    [
        (
            [1.0, 2.0],
            r"reference must be 'mean', 'median' or a finite spectrum of shape \(6,\); got an array of shape \(2,\)",
        ),
        ([["a", "b"]], r"reference must be 'mean', 'median' or a spectrum; got"),
    ],
)
def test_a_given_reference_must_be_a_spectrum(reference, match):
    with pytest.raises(DataError, match=match):
        MultiplicativeScatterCorrection(reference=reference).fit(X)


def test_emsc_refuses_one_feature_and_a_polynomial_reference():
    with pytest.raises(
        DataError, match=r"ExtendedMultiplicativeScatterCorrection: .* at least 2 features; got n_features=1"
    ):
        ExtendedMultiplicativeScatterCorrection().fit(X[:, :1])
    linear = np.vstack([2 * AXIS, 3 * AXIS + 1.0])
    with pytest.raises(
        DataError, match=r"the reference spectrum must not be a polynomial of degree <= order .* got order=2"
    ):
        ExtendedMultiplicativeScatterCorrection(order=2).fit(linear, wavelengths=AXIS)


@pytest.mark.parametrize("cls", [ReflectanceToAbsorbance, KubelkaMunk])
def test_reflectance_must_be_positive(cls):
    name = cls.__name__
    negative = X.copy()
    negative[1, 2] = -0.1
    with pytest.raises(
        DataError,
        match=rf"{name}: reflectance must be strictly positive .* Negative values in data: got -0\.1 at row 1, column 2",
    ):
        cls().fit(negative)
    with pytest.raises(DataError, match="Negative values in data"):
        cls(min_reflectance=1e-3).fit(negative)
    zero = X.copy()
    zero[2, 0] = 0.0
    with pytest.raises(
        DataError,
        match=rf"{name}: .* A zero in data \(set min_reflectance to floor it\): got 0\.0 at row 2, column 0",
    ):
        cls().fit(X).transform(zero)


def test_kernels_refuse_arrays_that_are_not_2d():
    with pytest.raises(
        DataError,
        match=r"preprocessing kernel: expected a 2-D array \(n_samples, n_features\); got shape \(6,\)",
    ):
        K.snv(X[0])


def test_normalize_kernel_refuses_an_unknown_method():
    with pytest.raises(
        DataError, match=r"normalize: method must be one of 'vector', 'area', 'max', 'minmax'; got 'l1'"
    ):
        K.normalize(X, method="l1")


def test_whittaker_solver_reports_singular_and_non_finite_systems():
    bands = K._penalty_bands(6, 1e3, 2)
    y = X[0]
    with pytest.raises(DataError, match=r"AirPLS: the weighted smoothing system of row 4 is singular"):
        K._whittaker_solve(solveh_banded, bands, np.zeros(6), y, 4, "AirPLS")
    with pytest.raises(
        DataError,
        match=r"AsymmetricLeastSquares: the baseline of row 0 is not finite; reduce lam or diff_order",
    ):
        K._whittaker_solve(
            solveh_banded, bands, np.ones(6), np.r_[y[:5], np.inf], 0, "AsymmetricLeastSquares"
        )
