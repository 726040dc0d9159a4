"""The fast paths of the SNV, MSC and Savitzky–Golay kernels: cache-sized blocks of rows, the
finiteness check taken from row sums instead of scikit-learn's scan, and the ufunc buffer
setting. Checked against slow per-row references on real spectra (corn), with block sizes
that leave a partial last block, and for float32, read-only input and NaN/infinity errors.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

import nirs_core.operators._kernels as K
from nirs_core.errors import DataError
from nirs_core.operators.derivatives import SavitzkyGolay
from nirs_core.operators.scatter import MultiplicativeScatterCorrection, StandardNormalVariate

# rows per block: 1, two odd sizes that leave a partial last block of the 60 corn rows, and all
BLOCK_ROWS = [1, 7, 13, 1000]


@pytest.fixture(scope="module")
def corn(corn_arrays):
    return corn_arrays["Xcal"], corn_arrays["Xval"]


@pytest.fixture
def block_rows(monkeypatch):
    """Set the kernels' block to ``rows`` rows of ``n_features`` values."""

    def set_rows(rows: int, n_features: int) -> None:
        monkeypatch.setattr(K, "_BLOCK_ELEMENTS", rows * n_features)

    return set_rows


def close(actual, expected, rtol=1e-12):
    """Equal up to ``rtol`` relative to the largest value of each row of ``expected``."""
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    scale = np.max(np.abs(expected), axis=1, keepdims=True)
    assert np.all(np.abs(actual - expected) <= rtol * scale)


def slow_snv(X, ddof=0):
    return np.array([(x - x.mean()) / x.std(ddof=ddof) for x in X])


def slow_msc(X, reference):
    rows = []
    for x in X:
        slope, intercept = np.polyfit(reference, x, 1)
        rows.append((x - intercept) / slope)
    return np.array(rows)


def slow_savgol(X, *args, **kwargs):
    return np.array([scipy.signal.savgol_filter(x, *args, **kwargs) for x in X])


KERNEL_CASES = {
    "snv": (lambda X, ref: K.snv(X), lambda X, ref: slow_snv(X)),
    "snv_ddof1": (lambda X, ref: K.snv(X, ddof=1), lambda X, ref: slow_snv(X, ddof=1)),
    "msc": (lambda X, ref: K.msc(X, ref), slow_msc),
    "savgol": (lambda X, ref: K.savgol(X, 15, 2), lambda X, ref: slow_savgol(X, 15, 2)),
    "savgol_deriv_nearest": (
        lambda X, ref: K.savgol(X, 11, 3, deriv=1, delta=2.0, mode="nearest"),
        lambda X, ref: slow_savgol(X, 11, 3, deriv=1, delta=2.0, mode="nearest"),
    ),
}


@pytest.mark.parametrize("case", sorted(KERNEL_CASES))
def test_blocks_equal_a_slow_per_row_loop_and_each_other_bit_for_bit(corn, block_rows, case):
    Xcal, Xval = corn
    X = np.vstack([Xcal, Xval])  # 80 rows: not a multiple of 7 or 13
    kernel, slow = KERNEL_CASES[case]
    reference = Xcal.mean(axis=0)
    expected = slow(X, reference)
    outputs = []
    for rows in BLOCK_ROWS:
        block_rows(rows, X.shape[1])
        out = kernel(X, reference)
        close(out, expected)
        outputs.append(out)
    for out in outputs[1:]:
        # each row is computed by the same operations whatever block it falls in
        assert np.array_equal(out, outputs[0])


@pytest.mark.parametrize("case", sorted(KERNEL_CASES))
def test_float32_stays_float32(corn, block_rows, case):
    X = corn[0]
    kernel, _ = KERNEL_CASES[case]
    reference = X.mean(axis=0)
    block_rows(7, X.shape[1])
    out32 = kernel(X.astype(np.float32), reference)
    assert out32.dtype == np.float32
    close(out32, kernel(X, reference), rtol=2e-5)


@pytest.mark.parametrize(
    "est", [StandardNormalVariate(), MultiplicativeScatterCorrection(), SavitzkyGolay(15, 2, deriv=1)]
)
def test_estimators_keep_float32_and_equal_their_kernel_on_any_block(corn, block_rows, est):
    X32 = corn[0].astype(np.float32)
    block_rows(13, X32.shape[1])
    out = est.fit(X32).transform(X32)
    assert out.dtype == np.float32
    target, kwargs = est.replay_spec()
    kernel = getattr(K, target.partition(":")[2])
    block_rows(1000, X32.shape[1])
    assert np.array_equal(kernel(X32, **kwargs), out)


@pytest.mark.parametrize("case", sorted(KERNEL_CASES))
def test_read_only_input_is_used_as_is_and_not_modified(corn, block_rows, case):
    X = corn[0].copy()
    X.flags.writeable = False
    before = X.copy()
    kernel, _ = KERNEL_CASES[case]
    block_rows(7, X.shape[1])
    out = kernel(X, before.mean(axis=0))
    np.testing.assert_array_equal(X, before)
    assert out.flags.writeable and out.flags.c_contiguous
    assert not np.shares_memory(out, X)


# ------------------------------------------------------------------------- NaN and infinity


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["snv", "msc", "savgol"])
def test_kernels_name_the_first_nan_or_infinity(corn, block_rows, name, value):
    X = corn[0].copy()
    X[23, 400] = value  # in the fourth block of 7 rows
    X[40, 10] = np.nan  # a later one is not the one reported
    kernel = {
        "snv": lambda X: K.snv(X),
        "msc": lambda X: K.msc(X, corn[0].mean(axis=0)),
        "savgol": lambda X: K.savgol(X, 11, 2),
    }[name]
    for rows in (7, 1000):
        block_rows(rows, X.shape[1])
        with pytest.raises(
            DataError,
            match=rf"^{name}: X must hold finite numbers only \(no NaN, no infinity\); "
            rf"got {value!r} at row 23, column 400\.$",
        ):
            kernel(X)


@pytest.mark.parametrize(
    "est",
    [StandardNormalVariate(), MultiplicativeScatterCorrection(), SavitzkyGolay()],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_transform_refuses_nan_and_infinity_without_scikit_learns_scan(corn, est, value):
    X = corn[0].copy()
    est.fit(X)
    X[5, 17] = value
    kernel = est.replay_spec()[0].partition(":")[2]
    with pytest.raises(
        DataError, match=rf"^{kernel}: X must hold finite numbers only .* at row 5, column 17\.$"
    ):
        est.transform(X)


@pytest.mark.parametrize("est", [StandardNormalVariate(), SavitzkyGolay()], ids=lambda e: type(e).__name__)
def test_stateless_transform_without_fit_refuses_nan(corn, est):
    X = corn[0].copy()
    X[0, 0] = np.nan
    with pytest.raises(
        DataError, match=r"X must hold finite numbers only \(no NaN, no infinity\); got nan at row 0"
    ):
        est.transform(X)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_msc_fit_finds_nan_and_infinity_through_its_mean_reference(corn, value):
    X = corn[0].copy()
    X[31, 2] = value
    with pytest.raises(
        DataError,
        match=rf"^MultiplicativeScatterCorrection: X must hold finite numbers only \(no NaN, no infinity\); "
        rf"got {value!r} at row 31, column 2\.$",
    ):
        MultiplicativeScatterCorrection().fit(X)


@pytest.mark.parametrize(
    "est",
    [StandardNormalVariate(), SavitzkyGolay(), MultiplicativeScatterCorrection(reference="median")],
    ids=lambda e: f"{type(e).__name__}({e.reference if hasattr(e, 'reference') else ''})",
)
def test_fit_still_scans_where_it_learns_nothing_from_the_values(corn, est):
    X = corn[0].copy()
    X[3, 3] = np.inf  # the median reference would not notice an infinity
    with pytest.raises(ValueError, match=r"Input X contains infinity"):
        est.fit(X)


def test_an_overflowing_row_sum_of_finite_values_is_not_an_error():
    block = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert K._non_finite_row(block, np.array([1.5, np.inf])) is None
    assert K._non_finite_row(np.array([[1.0, 2.0], [3.0, np.nan]]), np.array([1.5, np.nan])) == 1
    assert K._non_finite_row(block, np.array([1.5, 3.5])) is None


# ------------------------------------------------------------------------------ buffer size


def test_unbuffered_rows_restores_the_ufunc_buffer_size_even_on_error():
    before = np.getbufsize()
    with K._unbuffered_rows(700):
        assert np.getbufsize() == 688  # the largest multiple of 16 not above the row length
    assert np.getbufsize() == before
    with pytest.raises(DataError, match=r"snv: X must hold finite numbers only"):
        K.snv(np.array([[1.0, np.nan, 3.0]]))
    assert np.getbufsize() == before
    with K._unbuffered_rows(3):
        assert np.getbufsize() == 16
    assert np.getbufsize() == before


def test_short_rows_and_single_rows_match_the_slow_loop():
    rng = np.random.default_rng(0)
    for shape in [(1, 5), (3, 2), (50, 17), (33, 700)]:
        X = rng.normal(size=shape) + 5.0
        close(K.snv(X), slow_snv(X))
        reference = X.mean(axis=0) if shape[0] > 1 else np.arange(shape[1], dtype=float)
        close(K.msc(X, reference), slow_msc(X, reference), rtol=1e-9)


def test_savgol_threads_give_bit_identical_rows(corn_arrays, monkeypatch):
    """The row blocks may run on a thread pool: any thread count gives the same bits, and
    both equal scipy's filter (the independent reference)."""
    import scipy.signal

    from nirs_core.operators import _kernels

    X = np.vstack([corn_arrays["Xcal"]] * 40)  # 2 400 rows: several blocks
    monkeypatch.setattr(_kernels, "_block_rows", lambda p: 97)
    monkeypatch.setenv("NIRS_KERNEL_THREADS", "1")
    one = _kernels.savgol(X, 15, 2, 1)
    monkeypatch.setenv("NIRS_KERNEL_THREADS", "3")
    three = _kernels.savgol(X, 15, 2, 1)
    assert np.array_equal(one, three)
    np.testing.assert_allclose(three, scipy.signal.savgol_filter(X, 15, 2, 1, axis=1), rtol=1e-10, atol=1e-12)
    bad = X.copy()
    bad[1000, 5] = np.nan
    with pytest.raises(DataError, match="row 1000"):
        _kernels.savgol(bad, 15, 2, 1)
    monkeypatch.setenv("NIRS_KERNEL_THREADS", "many")
    with pytest.raises(DataError, match="NIRS_KERNEL_THREADS: expected a positive integer; got 'many'"):
        _kernels.savgol(X, 15, 2, 1)


def test_snv_and_msc_threads_give_bit_identical_rows(corn_arrays, monkeypatch):
    """SNV and MSC blocks run on the kernel thread pool: any thread count gives the same bits,
    equal to the slow per-row loops; the first non-finite row is the one reported, whichever
    thread meets it first."""
    from nirs_core.operators import _kernels

    X = np.vstack([corn_arrays["Xcal"]] * 40)  # 2 400 rows: several blocks
    reference = X.mean(axis=0)
    monkeypatch.setattr(_kernels, "_block_rows", lambda p: 97)
    outputs = {}
    for threads in ("1", "3"):
        monkeypatch.setenv("NIRS_KERNEL_THREADS", threads)
        outputs[threads] = (_kernels.snv(X), _kernels.msc(X, reference))
    assert all(np.array_equal(a, b) for a, b in zip(outputs["1"], outputs["3"]))
    close(outputs["3"][0], slow_snv(X))
    close(outputs["3"][1], slow_msc(X, reference), rtol=1e-9)
    bad = X.copy()
    bad[2000, 7] = np.inf
    bad[1000, 5] = np.nan
    for kernel in (lambda A: _kernels.snv(A), lambda A: _kernels.msc(A, reference)):
        with pytest.raises(DataError, match="got nan at row 1000, column 5"):
            kernel(bad)
