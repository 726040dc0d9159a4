"""Augmenters: statistical properties, exact geometry (shift = np.interp, mixup = convex
combination), reproducibility, and the augment() contract (origin, copies, y)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nirs_core.errors import ConfigError, DataError
from nirs_core.operators import _augment_kernels as ak
from nirs_core.operators.augmentation import (
    AdditiveScatter,
    BandMasking,
    BaselineDrift,
    GaussianNoise,
    Mixup,
    MultiplicativeScatter,
    WavelengthShift,
)
from nirs_core.registry import resolve

ALL = [
    GaussianNoise,
    MultiplicativeScatter,
    AdditiveScatter,
    WavelengthShift,
    BaselineDrift,
    BandMasking,
    Mixup,
]


def test_noise_std_matches_parameter(corn_arrays):
    X = corn_arrays["Xcal"]
    out = GaussianNoise(std=0.01, random_state=3).fit_transform(X)
    noise = (out - X).ravel()
    assert noise.std() == pytest.approx(0.01, rel=0.02)  # 42 000 draws: ±2 % is > 4 standard errors
    assert abs(noise.mean()) < 4 * 0.01 / np.sqrt(noise.size)
    assert stats.kstest(noise / 0.01, "norm").pvalue > 1e-3


def test_scatter_factors_and_offsets_are_uniform_in_range(corn_arrays):
    X = np.vstack([corn_arrays["Xcal"], corn_arrays["Xval"]])
    out = MultiplicativeScatter(scale=0.1).fit_transform(X)
    factor = out[:, 100] / X[:, 100]
    np.testing.assert_allclose(out, X * factor[:, None], rtol=1e-12)
    assert factor.min() >= 0.9 and factor.max() <= 1.1 and factor.std() > 0.03
    out = AdditiveScatter(offset=0.05).fit_transform(X)
    offset = out[:, 0] - X[:, 0]
    np.testing.assert_allclose(out, X + offset[:, None], atol=1e-12)
    assert np.abs(offset).max() <= 0.05 and offset.std() > 0.015


def test_shift_equals_np_interp_of_the_row(corn_arrays):
    X = corn_arrays["Xcal"]
    aug = WavelengthShift(max_shift=2.5, random_state=7).fit(X)
    out = aug.transform(X)
    _, shifts = ak.wavelength_shift(X, max_shift=2.5, seed=aug.seed_, return_draws=True)
    grid = np.arange(X.shape[1])
    assert np.abs(shifts).max() <= 2.5 and len(np.unique(shifts)) == len(X)
    for i in range(len(X)):
        np.testing.assert_array_equal(out[i], np.interp(grid - shifts[i], grid, X[i]))
    # max_shift=0 is the identity
    one = ak.wavelength_shift(X[:1], max_shift=0.0, seed=0)
    np.testing.assert_array_equal(one, X[:1])


def test_baseline_drift_is_a_polynomial_of_the_given_degree(corn_arrays):
    X = corn_arrays["Xcal"]
    out = BaselineDrift(amplitude=0.02, degree=2).fit_transform(X)
    t = np.linspace(-1, 1, X.shape[1])
    for i in range(5):
        coef = np.polynomial.polynomial.polyfit(t, out[i] - X[i], 2)
        assert abs(coef[0]) < 1e-10  # no constant term
        assert np.all(np.abs(coef[1:]) <= 0.02 + 1e-12)
        np.testing.assert_allclose(np.polynomial.polynomial.polyval(t, coef), out[i] - X[i], atol=1e-12)


def test_band_masking_changes_one_contiguous_band_linearly(corn_arrays):
    X = corn_arrays["Xcal"]
    out, bands = ak.band_masking(X, max_width=15, n_bands=1, fill="linear", seed=5, return_draws=True)
    np.testing.assert_array_equal(out, BandMasking(max_width=15, random_state=5).fit_transform(X))
    for i in range(len(X)):
        start, stop = bands[i, 0]
        assert 1 <= stop - start <= 15
        changed = np.flatnonzero(out[i] != X[i])
        assert changed.size == 0 or (changed.min() >= start and changed.max() < stop)
        if start > 0 and stop < X.shape[1]:
            line = np.interp(np.arange(start, stop), [start - 1, stop], [X[i, start - 1], X[i, stop]])
            np.testing.assert_allclose(out[i, start:stop], line, rtol=1e-12)
    zero = BandMasking(max_width=15, fill="zero", random_state=5).fit_transform(X)
    for i in range(len(X)):
        start, stop = bands[i, 0]
        assert np.all(zero[i, start:stop] == 0.0)
    # one channel cannot be masked: identity
    np.testing.assert_array_equal(BandMasking().fit_transform(X[:, :1]), X[:, :1])


def test_mixup_rows_are_convex_combinations_of_two_training_rows(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    X_new, y_new, origin = Mixup(alpha=0.4, random_state=1).augment(X, y, n_copies=3)
    assert X_new.shape == (180, 700) and y_new.shape == (180,)
    np.testing.assert_array_equal(origin, np.tile(np.arange(60), 3))
    for r in range(0, 180, 7):
        i = origin[r]
        # recover the partner and weight: the only j with X_new[r] on the segment [X[j], X[i]]
        best = None
        for j in range(60):
            if j == i:
                continue
            d = X[i] - X[j]
            lam = float((X_new[r] - X[j]) @ d / (d @ d))
            if np.allclose(lam * X[i] + (1 - lam) * X[j], X_new[r], rtol=0, atol=1e-12):
                best = (j, lam)
                break
        assert best is not None, f"row {r} is not a mixture of its origin and another row"
        j, lam = best
        assert 0.5 <= lam <= 1.0
        assert y_new[r] == pytest.approx(lam * y[i] + (1 - lam) * y[j], rel=1e-9)


def test_mixup_transform_mixes_with_training_reference(corn_arrays):
    X, Xval = corn_arrays["Xcal"], corn_arrays["Xval"]
    mix = Mixup(random_state=2).fit(X)
    out, (partner, lam) = ak.mixup(Xval, X, alpha=0.4, seed=mix.seed_, return_draws=True)
    np.testing.assert_array_equal(mix.transform(Xval), out)
    np.testing.assert_allclose(out, lam[:, None] * Xval + (1 - lam[:, None]) * X[partner], rtol=1e-14)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_reproducible_with_same_seed_and_different_with_another(cls, corn_arrays):
    X = corn_arrays["Xcal"]
    a = cls(random_state=11).fit_transform(X)
    b = cls(random_state=11).fit_transform(X.copy())
    c = cls(random_state=12).fit_transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert cls._nirs_role == "augmenter"
    # row-wise: a row gets the same perturbation in any batch, in any order
    perm = np.random.default_rng(0).permutation(60)
    np.testing.assert_array_equal(cls(random_state=11).fit(X).transform(X[perm[:25]]), a[perm[:25]])


@pytest.mark.parametrize("cls", ALL[:-1], ids=lambda c: c.__name__)
def test_augment_copies_differ_and_copy_zero_is_transform(cls, corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    aug = cls(random_state=4)
    X_new, y_new, origin = aug.augment(X, y, n_copies=2)
    np.testing.assert_array_equal(X_new[:60], aug.transform(X))
    assert not np.array_equal(X_new[:60], X_new[60:])
    np.testing.assert_array_equal(y_new, np.tile(y, 2))
    np.testing.assert_array_equal(origin, np.tile(np.arange(60), 2))
    X_only, y_none, _ = cls(random_state=4).augment(X)
    assert y_none is None and X_only.shape == X.shape


def test_none_random_state_is_fixed_at_fit_and_replayed(corn_arrays):
    X = corn_arrays["Xcal"]
    aug = GaussianNoise(random_state=None).fit(X)
    np.testing.assert_array_equal(aug.transform(X), aug.transform(X))
    target, kwargs = aug.replay_spec()
    assert target == "nirs_core.operators._augment_kernels:gaussian_noise" and kwargs["seed"] == aug.seed_
    rs = GaussianNoise(random_state=np.random.RandomState(0)).fit(X)
    assert rs.seed_ == GaussianNoise(random_state=np.random.RandomState(0)).fit(X).seed_


def test_aliases():
    assert resolve("Noise") is GaussianNoise and resolve("Shift") is WavelengthShift
    assert resolve("MixUp") is Mixup and resolve("Drift") is BaselineDrift


@pytest.mark.parametrize(
    ("est", "match"),
    [
        (GaussianNoise(std=-1.0), r"GaussianNoise: std must be a finite number ≥ 0.0; got -1.0"),
        (
            MultiplicativeScatter(scale=1.5),
            r"MultiplicativeScatter: scale must be < 1 \(factors stay positive\); got 1.5",
        ),
        (AdditiveScatter(offset="a"), r"AdditiveScatter: offset must be a finite number ≥ 0.0; got 'a'"),
        (
            WavelengthShift(max_shift=np.inf),
            r"WavelengthShift: max_shift must be a finite number ≥ 0.0; got inf",
        ),
        (BaselineDrift(degree=0), r"BaselineDrift: degree must be an integer ≥ 1; got 0"),
        (BandMasking(fill="nan"), r"BandMasking: fill must be 'linear' or 'zero'; got 'nan'"),
        (BandMasking(max_width=0), r"BandMasking: max_width must be an integer ≥ 1; got 0"),
        (Mixup(alpha=0.0), r"Mixup: alpha must be a finite number > 0.0; got 0.0"),
        (
            GaussianNoise(random_state=-3),
            r"GaussianNoise: random_state must be an integer ≥ 0, a RandomState or None; got -3",
        ),
        (
            GaussianNoise(random_state="x"),
            r"GaussianNoise: random_state must be an integer ≥ 0, a RandomState or None; got 'x'",
        ),
    ],
)
def test_config_errors(est, match):
    with pytest.raises(ConfigError, match=match):
        est.fit(np.ones((4, 3)))


def test_augment_errors(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    with pytest.raises(ConfigError, match=r"GaussianNoise: n_copies must be an integer ≥ 1; got 0"):
        GaussianNoise().augment(X, y, n_copies=0)
    with pytest.raises(DataError, match=r"GaussianNoise.augment: X has 60 rows but y has 59"):
        GaussianNoise().augment(X, y[:59])
    with pytest.raises(DataError, match=r"Mixup.augment: X has 60 rows but y has 59"):
        Mixup().augment(X, y[:59])
    with pytest.raises(DataError, match=r"Mixup.augment: y must be numeric to be mixed"):
        Mixup().augment(X, np.where(y > 3.5, "high", "low"))
    with pytest.raises(DataError, match=r"Mixup.augment: needs at least 2 rows to mix; got n_samples=1"):
        Mixup().augment(X[:1])
