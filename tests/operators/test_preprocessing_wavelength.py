"""Crop and resample by wavelength values; the spectral axis of ``fit`` (given, read from a
DataFrame's numeric column names, or the channel index); output feature names."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import nirs_core.operators._kernels as K
from nirs_core.operators.baseline import Detrend
from nirs_core.operators.wavelength import CropWavelengths, ResampleWavelengths


@pytest.fixture(scope="module")
def corn(corn_arrays):
    return corn_arrays["Xcal"], corn_arrays["wavelengths"]


@pytest.fixture(scope="module")
def pectin(shared_data):
    """Pectin FTIR spectra (37 × 148) and their wavenumber axis (991–1557 cm⁻¹, steps of 3–4)."""
    path = shared_data / "pectin" / "pectin.csv"
    header = path.read_text().splitlines()[0].split(",")
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return table[:, 2:], np.array([float(v) for v in header[2:]])


# ---------------------------------------------------------------------------------------- crop


def test_crop_keeps_the_inclusive_range_on_an_ascending_axis(corn):
    X, wl = corn
    crop = CropWavelengths(start=1500, stop=2000).fit(X, wavelengths=wl)
    mask = (wl >= 1500) & (wl <= 2000)
    assert_array_equal(crop.transform(X), X[:, mask])
    assert_array_equal(crop.wavelengths_out_, wl[mask])
    assert crop.wavelengths_out_[0] == 1500 and crop.wavelengths_out_[-1] == 2000
    assert list(crop.get_feature_names_out()[:2]) == ["1500", "1502"]


def test_crop_bounds_in_either_order_and_on_a_descending_axis(pectin):
    X, axis = pectin
    mask = (axis >= 1000) & (axis <= 1200)
    a = CropWavelengths(start=1000, stop=1200).fit(X, wavelengths=axis).transform(X)
    b = CropWavelengths(start=1200, stop=1000).fit(X, wavelengths=axis).transform(X)
    assert_array_equal(a, X[:, mask])
    assert_array_equal(b, X[:, mask])
    desc = CropWavelengths(start=1000, stop=1200).fit(X[:, ::-1], wavelengths=axis[::-1])
    assert_array_equal(desc.transform(X[:, ::-1]), X[:, ::-1][:, mask[::-1]])
    assert desc.wavelengths_out_[0] > desc.wavelengths_out_[-1]


def test_fit_transform_passes_the_axis_through(corn):
    X, wl = corn
    out = CropWavelengths(start=2000, stop=2010).fit_transform(X, wavelengths=wl)
    assert_array_equal(out, X[:, (wl >= 2000) & (wl <= 2010)])


def test_crop_with_one_open_end(corn):
    X, wl = corn
    assert_array_equal(CropWavelengths(start=2400).fit(X, wavelengths=wl).wavelengths_out_, wl[wl >= 2400])
    assert_array_equal(CropWavelengths(stop=1110).fit(X, wavelengths=wl).wavelengths_out_, wl[wl <= 1110])
    assert CropWavelengths().fit(X, wavelengths=wl).transform(X).shape == X.shape


def test_crop_reads_the_axis_from_numeric_dataframe_column_names(corn):
    X, wl = corn
    frame = pl.DataFrame(X, schema=[f"{w:g}" for w in wl])
    crop = CropWavelengths(start=2000, stop=2100).fit(frame)
    assert_array_equal(crop.wavelengths_in_, wl)
    assert_array_equal(crop.transform(frame), X[:, (wl >= 2000) & (wl <= 2100)])
    assert list(crop.get_feature_names_out()) == [f"{w:g}" for w in wl[(wl >= 2000) & (wl <= 2100)]]
    crop.set_output(transform="polars")
    assert list(crop.transform(frame).columns[:2]) == ["2000", "2002"]


def test_crop_on_the_index_axis_uses_channel_numbers_and_sklearn_names(corn):
    X, _ = corn
    frame = pl.DataFrame(X[:, :10], schema=[f"ch_{i}" for i in range(10)])
    crop = CropWavelengths(start=2, stop=4).fit(frame)
    assert list(crop.get_feature_names_out()) == ["ch_2", "ch_3", "ch_4"]
    plain = CropWavelengths(start=2, stop=4).fit(X[:, :10])
    assert list(plain.get_feature_names_out()) == ["x2", "x3", "x4"]
    assert list(plain.get_feature_names_out([f"x{i}" for i in range(10)])) == ["x2", "x3", "x4"]


# ------------------------------------------------------------------------------------ resample


def test_resample_matches_np_interp_per_row_on_an_uneven_axis(pectin):
    X, axis = pectin
    target = np.linspace(1000.0, 1550.0, 200)
    out = ResampleWavelengths(target=target).fit(X, wavelengths=axis).transform(X)
    expected = np.array([np.interp(target, axis, x) for x in X])
    assert_allclose(out, expected, rtol=1e-13, atol=0)


def test_resample_on_a_descending_axis_to_a_descending_target(pectin):
    X, axis = pectin
    target = np.arange(1550.0, 995.0, -2.5)
    est = ResampleWavelengths(target=target).fit(X[:, ::-1], wavelengths=axis[::-1])
    expected = np.array([np.interp(target, axis, x) for x in X])
    assert_allclose(est.transform(X[:, ::-1]), expected, rtol=1e-13, atol=0)
    assert list(est.get_feature_names_out()[:2]) == ["1550", "1547.5"]


def test_resample_step_builds_a_grid_inside_the_range(pectin):
    X, axis = pectin
    est = ResampleWavelengths(step=5.0).fit(X, wavelengths=axis)
    grid = est.wavelengths_out_
    assert grid[0] == axis[0] and grid[-1] <= axis[-1] and axis[-1] - grid[-1] < 5.0
    assert_allclose(np.diff(grid), 5.0)
    assert_allclose(est.transform(X), [np.interp(grid, axis, x) for x in X], rtol=1e-13)


def test_resample_default_evens_out_the_axis(pectin):
    X, axis = pectin
    est = ResampleWavelengths().fit(X, wavelengths=axis)
    assert_allclose(est.wavelengths_out_, np.linspace(axis[0], axis[-1], axis.size))
    assert est.wavelengths_out_[-1] == axis[-1]
    assert_allclose(est.transform(X), [np.interp(est.wavelengths_out_, axis, x) for x in X], rtol=1e-13)


def test_resample_onto_the_same_axis_is_the_identity(corn):
    X, wl = corn
    assert_array_equal(ResampleWavelengths(target=wl).fit(X, wavelengths=wl).transform(X), X)


def test_resample_kernel_refuses_extrapolation_at_replay(corn):
    X, wl = corn
    with pytest.raises(
        ValueError, match=r"ResampleWavelengths: target wavelengths must lie inside .* got 2500"
    ):
        K.resample(X, wl, np.array([1200.0, 2500.0]))


def test_resample_single_feature():
    X = np.array([[1.0], [2.0]])
    est = ResampleWavelengths(target=[5.0]).fit(X, wavelengths=[5.0])
    assert_array_equal(est.transform(X), X)


# --------------------------------------------------------------------------------- axis of fit


def test_axis_defaults_to_the_channel_index(corn):
    X, _ = corn
    assert_array_equal(Detrend().fit(X).wavelengths_in_, np.arange(X.shape[1], dtype=float))
    frame = pl.DataFrame(X[:, :5], schema=["a", "b", "c", "d", "e"])
    assert_array_equal(Detrend().fit(frame).wavelengths_in_, np.arange(5.0))


def test_replay_of_the_axis_operators_equals_transform(pectin):
    X, axis = pectin
    for est in (CropWavelengths(1100, 1300), ResampleWavelengths(step=3.0)):
        est.fit(X, wavelengths=axis)
        target, kwargs = est.replay_spec()
        assert_array_equal(getattr(K, target.partition(":")[2])(X, **kwargs), est.transform(X))
