"""Pure kernels of the preprocessing operators: one function per technique, called as
``kernel(X, **kwargs)`` on a 2-D array of spectra (one spectrum per row).

These functions are what a bundle replays, so they import numpy only at module level;
scipy (``scipy.ndimage``, ``scipy.linalg``) and PyWavelets are imported inside the few
functions that need them, and scikit-learn never. Each estimator's ``transform`` calls its
kernel with the keyword arguments of its ``replay_spec()``, so class and kernel agree bit for
bit by construction.

Conventions shared by every kernel:

- the input is never modified; the result is a new C-contiguous array;
- float32 input gives float32 output, float64 gives float64, anything else becomes float64;
- where a scale factor is zero (a flat spectrum in SNV, a zero slope in MSC, a zero norm), the
  division is skipped (scale 1), as scikit-learn's scalers do, so a flat spectrum becomes zeros
  (up to rounding) instead of NaN or amplified rounding noise;
- the row-wise kernels (SNV, MSC, Savitzky–Golay) process blocks of rows that fit in the CPU
  cache, so that they read the input once and write the output once; every row is computed
  by the same operations whatever block it falls in, so the result does not depend on the
  block size;
- :func:`snv`, :func:`msc` and :func:`savgol` raise ``DataError`` on NaN or infinity in ``X``,
  found from row sums they compute on each block while it is in the cache (no separate scan),
  so that their estimators skip scikit-learn's finiteness scan in ``transform``.
"""

from __future__ import annotations

import math

import numpy as np

from nirs_core.errors import DataError

__all__ = [
    "airpls",
    "asls",
    "crop",
    "detrend",
    "emsc",
    "gaussian_smoothing",
    "kubelka_munk",
    "linear_baseline",
    "local_snv",
    "msc",
    "normalize",
    "norris_williams",
    "reflectance_to_absorbance",
    "resample",
    "rnv",
    "rubber_band",
    "savgol",
    "savgol_matrix",
    "savgol_window",
    "snv",
    "wavelet_denoise",
]

# 524 288 values = 4 MiB of float64 per block of rows (SNV, MSC, Savitzky–Golay): the block is
# copied into the output by one memcpy, then processed in place while it is in the (L3) cache.
# Writing freshly allocated memory by memcpy costs about what X.copy() costs; writing it with
# numpy ufuncs costs about one copy more on top. Measured on 10 000 × 2 048 float64 (SNV):
# 2, 4 and 8 MiB blocks within 5 % of each other, 1 MiB about 20 % slower.
_BLOCK_ELEMENTS = 1 << 19

_vecdot = getattr(np, "vecdot", None)  # numpy >= 2: a ufunc whose loop is BLAS dot, row by row


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products along the last axis, broadcasting the others: every row of ``a`` with the
    matching row of ``b``, or with the vector ``b``.

    Each product is one BLAS ``dot`` call, so a row's result depends on that row alone, not on
    the block it falls in (matrix products group rows in their kernels, and a row's result
    changes with its position in the group)."""
    if _vecdot is not None:
        return _vecdot(a, b)
    return np.einsum("...j,...j->...", a, b)


def _as_float_2d(X) -> np.ndarray:
    """``X`` as a C-contiguous 2-D float32/float64 array (no copy when it already is one)."""
    X = np.asarray(X)
    if X.dtype != np.float32 and X.dtype != np.float64:
        X = X.astype(np.float64)
    if X.ndim != 2:
        raise DataError(
            f"preprocessing kernel: expected a 2-D array (n_samples, n_features); got shape {X.shape}."
        )
    return np.ascontiguousarray(X)


def _block_rows(n_features: int) -> int:
    return max(1, _BLOCK_ELEMENTS // max(n_features, 1))


class _unbuffered_rows:
    """A context in which broadcast ufuncs over rows of ``n_features`` values run without copying.

    numpy's ufunc machinery fills buffers of ``getbufsize()`` (8192) elements; when a row is
    shorter than that and an operand is broadcast (``block - mean[:, None]``), the buffer
    spans several rows and every operand is copied through it, which makes the operation
    about 2.5 times slower than on same-shaped arrays. A buffer no longer than a row lets
    the inner loop run on the arrays themselves. Only the iteration changes, not the
    arithmetic. numpy keeps the setting per thread; it is restored on exit."""

    def __init__(self, n_features: int):
        self.size = max(16, n_features - n_features % 16)  # numpy wants a multiple of 16

    def __enter__(self):
        self.previous = np.setbufsize(self.size)
        return self

    def __exit__(self, *exc):
        np.setbufsize(self.previous)
        return False


# ------------------------------------------------------------------------- non-finite input


def _first_non_finite_row(block: np.ndarray) -> int | None:
    """Index of the first row of ``block`` holding a NaN or an infinity, or None."""
    bad = np.flatnonzero(~np.isfinite(block).all(axis=1))
    return int(bad[0]) if bad.size else None


def _kernel_threads() -> int:
    """Threads for the row-block loops (Savitzky–Golay, SNV, MSC), whose numpy and scipy
    calls release the GIL:
    ``NIRS_KERNEL_THREADS`` when set, else ``min(2, cpu count)``. Rows are independent, so the
    result is bit-identical whatever the count."""
    import os

    value = os.environ.get("NIRS_KERNEL_THREADS")
    if value is not None:
        try:
            return max(1, int(value))
        except ValueError:
            raise DataError(f"NIRS_KERNEL_THREADS: expected a positive integer; got {value!r}.") from None
    return max(1, min(2, os.cpu_count() or 1))


def _map_blocks(func, starts) -> list[int]:
    """Run ``func(start)`` over row blocks (on a small thread pool when there are several
    blocks); the non-None values it returns (rows that failed a check), in block order."""
    starts = list(starts)
    threads = min(_kernel_threads(), len(starts))
    if threads <= 1:
        found = [func(start) for start in starts]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as pool:
            found = list(pool.map(func, starts))
    return [row for row in found if row is not None]


def _raise_non_finite(owner: str, X: np.ndarray, row: int | None = None) -> None:
    """``DataError`` naming the first NaN or infinity of ``X`` (of row ``row`` when given, which
    must hold one); nothing when ``X`` is finite."""
    if row is None:
        row = _first_non_finite_row(X)
        if row is None:
            return
    column = int(np.flatnonzero(~np.isfinite(X[row]))[0])
    raise DataError(
        f"{owner}: X must hold finite numbers only (no NaN, no infinity); "
        f"got {float(X[row, column])!r} at row {row}, column {column}."
    )


def _non_finite_row(block: np.ndarray, sums: np.ndarray) -> int | None:
    """The first non-finite row of ``block`` if any of its row ``sums`` is not finite.

    Any NaN or infinity makes its row's (weighted) sum NaN or infinite, so finite sums prove
    the block finite; a non-finite sum of finite values (an overflow) is told apart by
    looking at the block itself."""
    if np.isfinite(sums).all():
        return None
    return _first_non_finite_row(block)


def _safe_inverse(scale: np.ndarray) -> np.ndarray:
    """``1 / scale`` with zero scales replaced by 1 (the division is skipped)."""
    scale = np.where(scale == 0, 1, scale)
    return np.reciprocal(scale, out=scale)


def _axis(wavelengths, n_features: int) -> np.ndarray:
    if wavelengths is None:
        return np.arange(n_features, dtype=np.float64)
    return np.asarray(wavelengths, dtype=np.float64)


def _scaled_axis(wavelengths, n_features: int) -> np.ndarray:
    """The axis mapped linearly onto [-1, 1] (0 for a single point): well-conditioned polynomials."""
    t = _axis(wavelengths, n_features)
    if n_features == 1:
        return np.zeros(1)
    lo, hi = t.min(), t.max()
    return (2.0 * t - (hi + lo)) / (hi - lo)


# ----------------------------------------------------------------------------------- scatter


def _scatter_blocks(X: np.ndarray, owner: str, correct) -> np.ndarray:
    """A new array holding ``X`` corrected row by row, per cache-sized block of rows: the block
    copied into the output (memcpy writes fresh memory at copy speed), its row means taken, then
    ``correct(block, means)`` working in place while the block is in the cache.

    The blocks run on the kernel thread pool (:func:`_kernel_threads`): each row's arithmetic
    is the same whatever the thread, so the output is bit-identical for any count, and the
    in-cache passes of one block overlap the copy of the next. A NaN or an infinity makes its
    row's mean non-finite: ``DataError`` names the first such value."""
    n, p = X.shape
    out = np.empty_like(X)
    averaging = np.full(p, 1.0 / p, dtype=X.dtype)
    step = _block_rows(p)

    def block(start: int) -> int | None:
        with _unbuffered_rows(p):  # numpy's buffer size is per thread
            ob = out[start : start + step]
            np.copyto(ob, X[start : start + step])
            mean = _rowdot(ob, averaging)
            bad = _non_finite_row(ob, mean)
            if bad is not None:
                return start + bad
            correct(ob, mean)
        return None

    bad_rows = _map_blocks(block, range(0, n, step))
    if bad_rows:
        _raise_non_finite(owner, X, bad_rows[0])
    return out


def snv(X, ddof: int = 0) -> np.ndarray:
    """Standard normal variate: each row minus its mean, divided by its standard deviation
    (``ddof=0``: population standard deviation, the usual chemometric definition).

    Per cache-sized block of rows (:func:`_scatter_blocks`, on the kernel thread pool): the
    block copied into the output (one memcpy), then, in place while it is in the cache, the
    means by one BLAS dot product per row, the centring, the sums of squares by ``vecdot``
    and the scaling (two-pass variance: no cancellation,
    whatever the offset of the spectra). A NaN or an infinity makes its row's mean
    non-finite: ``DataError`` names the first such value."""
    X = _as_float_2d(X)
    p = X.shape[1]
    divisor = max(p - ddof, 1)
    eps = np.finfo(X.dtype).eps

    def correct(ob: np.ndarray, mean: np.ndarray) -> None:
        np.subtract(ob, mean[:, None], out=ob)
        var = _rowdot(ob, ob)
        var /= divisor
        # a flat row leaves only rounding noise in var: treat it as exactly flat (as
        # scikit-learn's scalers do for constant features) instead of amplifying the noise
        flat = var <= p * eps * var + (p * eps * mean) ** 2
        var[flat] = 0
        ob *= _safe_inverse(np.sqrt(var, out=var))[:, None]
        if flat.any():  # what is left of a flat row is the mean's rounding (an ulp): exactly 0
            ob[flat] = 0

    return _scatter_blocks(X, "snv", correct)


def rnv(X, percentile: float = 25.0) -> np.ndarray:
    """Robust normal variate (Guo, Wu & Massart 1999): each row minus its ``percentile``-th
    percentile, divided by the (population) standard deviation of the values at or below it."""
    X = _as_float_2d(X)
    level = np.percentile(X, percentile, axis=1, keepdims=True)
    mask = X <= level
    scale = np.std(X, axis=1, where=mask, keepdims=True)
    out = X - level
    out *= _safe_inverse(scale)
    return out


def local_snv(X, window_length: int = 51, ddof: int = 0) -> np.ndarray:
    """Local SNV: at every wavelength, subtract the mean and divide by the standard deviation of
    the ``window_length`` points centred on it; at the ends the window is truncated to the
    points that exist (it shrinks, it is never padded). Scale 0 is skipped."""
    from numpy.lib.stride_tricks import sliding_window_view

    X = _as_float_2d(X)
    n, p = X.shape
    half = window_length // 2
    out = np.empty_like(X)

    edge = [j for j in range(p) if j - half < 0 or j + half + 1 > p]
    for j in edge:
        lo, hi = max(0, j - half), min(p, j + half + 1)
        window = X[:, lo:hi]
        mean = window.mean(axis=1)
        dev = window - mean[:, None]
        std = np.sqrt(np.einsum("ij,ij->i", dev, dev) / max(hi - lo - ddof, 1))
        out[:, j] = (X[:, j] - mean) * _safe_inverse(std)
    if p >= window_length:
        step = max(1, (1 << 20) // (p * window_length))
        for start in range(0, n, step):
            xb = X[start : start + step]
            windows = sliding_window_view(xb, window_length, axis=1)  # (rows, p - w + 1, w)
            mean = windows.mean(axis=2)
            dev = windows - mean[:, :, None]
            std = np.sqrt(np.einsum("rkw,rkw->rk", dev, dev) / max(window_length - ddof, 1))
            out[start : start + step, half : p - half] = (xb[:, half : p - half] - mean) * _safe_inverse(std)
    return out


def msc(X, reference) -> np.ndarray:
    """Multiplicative scatter correction: regress each row on ``reference``
    (``x = a + b * reference``, least squares) and return ``(x - a) / b``.

    Per cache-sized block of rows (:func:`_scatter_blocks`, on the kernel thread pool): the
    block copied into the output (one memcpy), then, in place while it is in the cache, the
    mean and the slope of every row by two BLAS dot
    products (with ``1/p`` and ``centred reference / |centred reference|^2``) and the
    correction. A NaN or an infinity makes its row's mean non-finite: ``DataError`` names the
    first such value."""
    X = _as_float_2d(X)
    p = X.shape[1]
    ref = np.asarray(reference, dtype=np.float64)
    ref_mean = ref.mean()
    centred = ref - ref_mean
    ss = float(centred @ centred)
    if ss == 0.0:
        raise DataError(
            "MultiplicativeScatterCorrection: the reference spectrum is constant, so no slope can be "
            f"fitted against it; got n_features={p}."
        )
    # sum(centred) is 0 up to rounding; keeping it makes the slope exactly centred
    correction = centred.sum() / ss
    # rounding bound of the slope of a flat row (x = c): below it the slope is zero
    flat_bound = 4 * p * np.finfo(X.dtype).eps * np.abs(centred).sum() / ss
    projection = (centred / ss).astype(X.dtype)

    def correct(ob: np.ndarray, mean: np.ndarray) -> None:
        slope = _rowdot(ob, projection) - mean * correction
        slope[np.abs(slope) <= flat_bound * np.abs(mean)] = 0
        intercept = mean - slope * ref_mean
        np.subtract(ob, intercept[:, None], out=ob)
        ob *= _safe_inverse(slope)[:, None]

    return _scatter_blocks(X, "msc", correct)


def _emsc_design(reference: np.ndarray, wavelengths, order: int) -> tuple[np.ndarray, np.ndarray]:
    p = reference.shape[0]
    t = _scaled_axis(wavelengths, p)
    basis = np.polynomial.legendre.legvander(t, order)  # (p, order + 1)
    return np.column_stack([reference, basis]), basis


def emsc(X, reference, wavelengths=None, order: int = 2) -> np.ndarray:
    """Extended multiplicative scatter correction (Martens & Stark 1991), basic form: each row is
    modelled as ``b * reference + polynomial(wavelength)`` of degree ``order`` (least squares,
    Legendre basis on the axis scaled to [-1, 1]) and corrected to
    ``(x - polynomial) / b``. ``order=0`` is MSC."""
    X = _as_float_2d(X)
    ref = np.asarray(reference, dtype=np.float64)
    design, basis = _emsc_design(ref, wavelengths, order)
    coef = X @ np.linalg.pinv(design).T.astype(X.dtype, copy=False)  # (n, order + 2)
    out = X - coef[:, 1:] @ basis.T.astype(X.dtype, copy=False)
    out *= _safe_inverse(coef[:, :1])
    return out


# ------------------------------------------------------------------------------- derivatives


def savgol_matrix(window_length: int, polyorder: int, deriv: int = 0, delta: float = 1.0) -> np.ndarray:
    """The linear map of one Savitzky–Golay window: row ``j`` of the returned
    ``(window_length, window_length)`` matrix gives, dotted with the window's values, the
    ``deriv``-th derivative at position ``j`` of the degree-``polyorder`` least-squares polynomial
    fitted to the window. The centre row is the filter; the rows before and after it are the
    polynomial evaluations that scipy's ``mode='interp'`` uses on the first and last windows."""
    half = window_length // 2
    scale = float(max(half, 1))
    u = (np.arange(window_length, dtype=np.float64) - half) / scale
    powers = np.arange(polyorder + 1)
    vander = u[:, None] ** powers  # (w, k + 1)
    pinv = np.linalg.pinv(vander)  # (k + 1, w): polynomial coefficients from the window
    evaluate = np.zeros((window_length, polyorder + 1))
    for i in range(deriv, polyorder + 1):
        evaluate[:, i] = math.perm(i, deriv) * u ** (i - deriv)
    return (evaluate @ pinv) / (scale * delta) ** deriv


def savgol_window(
    window_length: int, polyorder: int, n_features: int, mode: str = "interp"
) -> tuple[int, int]:
    """The ``(window_length, polyorder)`` that :func:`savgol` uses on rows of ``n_features``:
    with ``mode='interp'`` a longer window becomes the largest odd length that fits, and the
    order at most that length minus one; otherwise unchanged."""
    if mode == "interp" and window_length > n_features:
        window_length = n_features if n_features % 2 else n_features - 1
        polyorder = min(polyorder, window_length - 1)
    return window_length, polyorder


def savgol(
    X,
    window_length: int,
    polyorder: int,
    deriv: int = 0,
    delta: float = 1.0,
    mode: str = "interp",
    cval: float = 0.0,
) -> np.ndarray:
    """Savitzky–Golay filter along each row, equal to
    ``scipy.signal.savgol_filter(X, window_length, polyorder, deriv, delta, axis=1, mode, cval)``.

    With ``mode='interp'`` a window longer than the row is shortened to the largest odd length
    that fits (and ``polyorder`` to at most that length minus one), where scipy would refuse;
    the estimator warns when it does so.

    The rows are filtered in cache-sized blocks by ``scipy.ndimage.correlate1d`` (and the
    ``interp`` edges by two small products); each block's row means, taken while it is in the
    cache, reveal a NaN or an infinity (``DataError`` names the first one)."""
    from scipy.ndimage import correlate1d

    X = _as_float_2d(X)
    n, p = X.shape
    window_length, polyorder = savgol_window(window_length, polyorder, p, mode)
    half = window_length // 2
    matrix = savgol_matrix(window_length, polyorder, deriv, delta)
    # The centre row is exactly symmetric (even deriv) or antisymmetric (odd deriv); making it so
    # in floating point too lets scipy.ndimage use its half-multiplication loop.
    centre = matrix[half]
    centre = (centre - centre[::-1]) / 2 if deriv % 2 else (centre + centre[::-1]) / 2
    interp = mode == "interp" and half > 0
    if interp:
        edge = matrix.astype(X.dtype, copy=False)
        first, last = edge[:half], edge[half + 1 :]
    out = np.empty_like(X)
    averaging = np.full(p, 1.0 / p, dtype=X.dtype)
    step = _block_rows(p)

    def filter_block(start: int) -> int | None:
        xb, ob = X[start : start + step], out[start : start + step]
        bad = _non_finite_row(xb, _rowdot(xb, averaging))
        if bad is not None:
            return start + bad
        # memcpy writes the freshly allocated output at copy speed (see _BLOCK_ELEMENTS);
        # correlate1d then overwrites it in the cache
        np.copyto(ob, xb)
        if mode == "interp":
            correlate1d(xb, centre, axis=1, output=ob, mode="constant")
        else:
            correlate1d(xb, centre, axis=1, output=ob, mode=mode, cval=cval)
        if interp:
            # the polynomials fitted to the first and last windows, evaluated at the edge points
            ob[:, :half] = _rowdot(xb[:, None, :window_length], first)
            ob[:, p - half :] = _rowdot(xb[:, None, p - window_length :], last)
        return None

    bad_rows = _map_blocks(filter_block, range(0, n, step))
    if bad_rows:
        _raise_non_finite("savgol", X, min(bad_rows))
    return out


def norris_williams_weights(window_length: int, gap: int, deriv: int, delta: float = 1.0) -> np.ndarray:
    """Correlation weights of the Norris–Williams gap-segment derivative: a moving average of
    ``window_length`` points followed by the central difference over ``gap`` points either side,
    ``(s[i+gap] - s[i-gap]) / (2 gap delta)`` (first) or
    ``(s[i+gap] - 2 s[i] + s[i-gap]) / (gap delta)**2`` (second derivative)."""
    box = np.full(window_length, 1.0 / window_length)
    stencil = np.zeros(2 * gap + 1)
    if deriv == 1:
        stencil[0], stencil[-1] = -1.0 / (2 * gap * delta), 1.0 / (2 * gap * delta)
    else:
        step2 = (gap * delta) ** 2
        stencil[0], stencil[gap], stencil[-1] = 1.0 / step2, -2.0 / step2, 1.0 / step2
    return np.convolve(box, stencil)  # composing two correlations convolves their weights


def norris_williams(
    X,
    window_length: int = 5,
    gap: int = 5,
    deriv: int = 1,
    delta: float = 1.0,
    mode: str = "nearest",
    cval: float = 0.0,
) -> np.ndarray:
    """Norris–Williams (gap-segment) derivative; edges follow ``scipy.ndimage`` ``mode``."""
    from scipy.ndimage import correlate1d

    X = _as_float_2d(X)
    return correlate1d(
        X, norris_williams_weights(window_length, gap, deriv, delta), axis=1, mode=mode, cval=cval
    )


# ---------------------------------------------------------------------------------- baseline


def detrend(X, order: int = 2, wavelengths=None) -> np.ndarray:
    """Remove the least-squares polynomial of degree ``order`` in the wavelength from each row
    (Barnes et al. 1989 use degree 2 after SNV). A degree of ``n_features - 1`` or more fits the
    row exactly and leaves zeros."""
    X = _as_float_2d(X)
    p = X.shape[1]
    t = _scaled_axis(wavelengths, p)
    basis = np.polynomial.legendre.legvander(t, min(order, p - 1))
    q, _ = np.linalg.qr(basis)
    q = q.astype(X.dtype, copy=False)
    # einsum's own loops, not BLAS: OpenBLAS splits a product by a thin matrix differently with
    # another thread count, and the numbers must not depend on it (a Dask worker has one thread)
    coef = np.einsum("ij,jk->ik", X, q)
    return X - np.einsum("ik,jk->ij", coef, q)


def linear_baseline(X, wavelengths=None) -> np.ndarray:
    """Subtract the straight line through the first and last point of each row (on the axis)."""
    X = _as_float_2d(X)
    p = X.shape[1]
    if p == 1:
        return np.zeros_like(X)
    t = _axis(wavelengths, p)
    frac = ((t - t[0]) / (t[-1] - t[0])).astype(X.dtype, copy=False)
    first, last = X[:, :1], X[:, -1:]
    return X - (first + (last - first) * frac)


def _lower_hull(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Indices of the lower convex hull of the points ``(t, x)``, ``t`` strictly increasing."""
    vertices = [0]
    i, p = 0, t.shape[0]
    while i < p - 1:
        slopes = (x[i + 1 :] - x[i]) / (t[i + 1 :] - t[i])
        smallest = slopes.min()
        # the farthest point on the supporting line: collinear points are skipped
        i = i + 1 + int(np.flatnonzero(slopes == smallest)[-1])
        vertices.append(i)
    return np.asarray(vertices)


def rubber_band(X, wavelengths=None) -> np.ndarray:
    """Rubber-band baseline: subtract the lower convex hull of each spectrum (drawn in
    wavelength units), interpolated linearly between its vertices."""
    X = _as_float_2d(X)
    p = X.shape[1]
    t = _axis(wavelengths, p)
    flip = p > 1 and t[0] > t[-1]
    if flip:
        t, X_asc = t[::-1], X[:, ::-1]
    else:
        X_asc = X
    out = np.empty_like(X_asc)
    x64 = X_asc.astype(np.float64, copy=False)
    for r in range(X_asc.shape[0]):
        row = x64[r]
        v = _lower_hull(t, row)
        out[r] = row - np.interp(t, t[v], row[v])
    return np.ascontiguousarray(out[:, ::-1]) if flip else out


def _penalty_bands(n: int, lam: float, diff_order: int) -> np.ndarray:
    """``lam * D'D`` (``D`` the ``diff_order`` difference matrix) in LAPACK upper banded form."""
    c = np.array([(-1) ** (diff_order - k) * math.comb(diff_order, k) for k in range(diff_order + 1)], float)
    ab = np.zeros((diff_order + 1, n))
    rows = n - diff_order
    for a in range(diff_order + 1):
        for b in range(a, diff_order + 1):
            ab[diff_order - (b - a), b : b + rows] += c[a] * c[b]
    return ab * lam


def _whittaker_solve(
    solveh_banded, bands: np.ndarray, weights: np.ndarray, y: np.ndarray, row: int, name: str
):
    ab = bands.copy()
    ab[-1] += weights
    try:
        z = solveh_banded(ab, weights * y, overwrite_ab=True, overwrite_b=True, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise DataError(f"{name}: the weighted smoothing system of row {row} is singular ({exc}).") from exc
    if not np.all(np.isfinite(z)):
        raise DataError(f"{name}: the baseline of row {row} is not finite; reduce lam or diff_order.")
    return z


def asls(
    X, lam: float = 1e6, p: float = 0.01, diff_order: int = 2, max_iter: int = 50, tol: float = 1e-3
) -> np.ndarray:
    """Asymmetric least squares baseline (Eilers & Boelens 2005) subtracted from each row.

    Whittaker smoother ``(W + lam D'D) z = W y`` with weights ``p`` above the baseline and
    ``1 - p`` below, re-weighted until the weights change by less than ``tol`` (relative L2
    norm) or ``max_iter`` re-weightings; the same iteration as ``pybaselines.whittaker.asls``."""
    from scipy.linalg import solveh_banded

    X = _as_float_2d(X)
    n, m = X.shape
    if m <= diff_order:  # no difference exists: the smoother reproduces the data
        return np.zeros_like(X)
    bands = _penalty_bands(m, lam, diff_order)
    out = np.empty_like(X)
    for r in range(n):
        y = X[r].astype(np.float64)
        w = np.ones(m)
        for _ in range(max_iter + 1):
            z = _whittaker_solve(solveh_banded, bands, w, y, r, "AsymmetricLeastSquares")
            new_w = np.where(y > z, p, 1.0 - p)
            change = np.linalg.norm(new_w - w) / max(np.linalg.norm(w), np.finfo(float).tiny)
            if change < tol:
                break
            w = new_w
        out[r] = y - z
    return out


def airpls(X, lam: float = 1e6, diff_order: int = 2, max_iter: int = 50, tol: float = 1e-3) -> np.ndarray:
    """Adaptive iteratively reweighted penalised least squares baseline (Zhang et al. 2010)
    subtracted from each row: weight 0 above the baseline and ``exp(i |r| / |r-|_1)`` below it
    at iteration ``i``, until ``|r-|_1 < tol * |y|_1``; the same iteration as
    ``pybaselines.whittaker.airpls`` (exponent capped at iteration 50, stop when fewer than two
    points remain below the baseline)."""
    from scipy.linalg import solveh_banded

    X = _as_float_2d(X)
    n, m = X.shape
    if m <= diff_order:
        return np.zeros_like(X)
    bands = _penalty_bands(m, lam, diff_order)
    log_max = np.log(np.finfo(np.float64).max)
    cap = log_max - np.spacing(log_max)
    out = np.empty_like(X)
    for r in range(n):
        y = X[r].astype(np.float64)
        y_l1 = np.abs(y).sum()
        w = np.ones(m)
        for i in range(1, max_iter + 2):
            z = _whittaker_solve(solveh_banded, bands, w, y, r, "AirPLS")
            residual = y - z
            below = residual < 0
            neg = residual[below]
            if neg.size < 2:
                break
            neg_l1 = abs(neg.sum())
            if neg_l1 / y_l1 < tol:
                break
            w = np.zeros(m)
            w[below] = np.exp(np.clip((min(i, 50) / neg_l1) * -neg, 0.0, cap))
        out[r] = y - z
    return out


# --------------------------------------------------------------------------------- smoothing


def gaussian_weights(sigma: float, order: int = 0, truncate: float = 4.0) -> np.ndarray:
    """Correlation weights of a Gaussian (or its ``order``-th derivative, order ≤ 2) sampled on
    ``-radius..radius`` with ``radius = int(truncate * sigma + 0.5)``, normalised to sum 1 before
    differentiation (the convention of ``scipy.ndimage.gaussian_filter1d``)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    s2 = float(sigma) ** 2
    phi = np.exp(-0.5 / s2 * x**2)
    phi /= phi.sum()
    if order == 1:
        phi = -x / s2 * phi
    elif order == 2:
        phi = (x**2 / s2**2 - 1.0 / s2) * phi
    return phi[::-1].copy()  # convolution kernel → correlation weights


def gaussian_smoothing(
    X, sigma: float = 2.0, order: int = 0, mode: str = "reflect", cval: float = 0.0, truncate: float = 4.0
) -> np.ndarray:
    """Gaussian smoothing along each row, equal to ``scipy.ndimage.gaussian_filter1d(X, sigma,
    axis=1, order, mode, cval, truncate)``; ``sigma`` in points."""
    from scipy.ndimage import correlate1d

    X = _as_float_2d(X)
    return correlate1d(X, gaussian_weights(sigma, order, truncate), axis=1, mode=mode, cval=cval)


# ------------------------------------------------------------------------------ normalisation


def normalize(X, method: str = "vector") -> np.ndarray:
    """Scale each row: ``vector`` divides by its Euclidean norm, ``area`` by the sum of absolute
    values (the area under |x| on a unit-spaced axis), ``max`` by the largest absolute value,
    ``minmax`` maps it onto [0, 1]. A zero scale is skipped."""
    X = _as_float_2d(X)
    if method == "minmax":
        low = X.min(axis=1, keepdims=True)
        out = X - low
        out *= _safe_inverse(X.max(axis=1, keepdims=True) - low)
        return out
    if method == "vector":
        scale = np.sqrt(np.einsum("ij,ij->i", X, X))
    elif method == "area":
        scale = np.abs(X).sum(axis=1)
    elif method == "max":
        scale = np.abs(X).max(axis=1)
    else:
        raise DataError(
            f"normalize: method must be one of 'vector', 'area', 'max', 'minmax'; got {method!r}."
        )
    return X * _safe_inverse(scale)[:, None]


# -------------------------------------------------------------------------------- wavelength


def crop(X, start_index: int, stop_index: int) -> np.ndarray:
    """Columns ``start_index:stop_index`` of ``X`` (a copy)."""
    X = _as_float_2d(X)
    return X[:, start_index:stop_index].copy()


def resample(X, source, target) -> np.ndarray:
    """Linear interpolation of each row from the axis ``source`` onto ``target``, equal to
    ``np.interp(target, source, row)`` per row (either axis may ascend or descend); a target
    outside the source range is an error, never an extrapolation."""
    X = _as_float_2d(X)
    src = np.asarray(source, dtype=np.float64)
    tgt = np.asarray(target, dtype=np.float64)
    lo, hi = src.min(), src.max()
    outside = (tgt < lo) | (tgt > hi)
    if outside.any():
        bad = tgt[outside][0]
        raise DataError(
            f"ResampleWavelengths: target wavelengths must lie inside the measured range "
            f"[{lo:g}, {hi:g}] (no extrapolation); got {bad:g}."
        )
    if src.size == 1:
        return np.repeat(X, tgt.size, axis=1)
    if src[0] > src[-1]:
        src, X = src[::-1], X[:, ::-1]
    left = np.clip(np.searchsorted(src, tgt, side="right") - 1, 0, src.size - 2)
    frac = ((tgt - src[left]) / (src[left + 1] - src[left])).astype(X.dtype)
    out = X[:, left] * (1 - frac)
    out += X[:, left + 1] * frac
    return out


# -------------------------------------------------------------------------------- conversion


def _reflectance(X: np.ndarray, name: str, min_reflectance: float | None) -> np.ndarray:
    """``X`` checked as reflectance fractions: negative values are refused, and so are zeros
    unless ``min_reflectance`` is given, in which case values below it are raised to it."""
    bad = X < 0 if min_reflectance is not None else ~(X > 0)
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        value = float(X[r, c])
        kind = "Negative values in data" if value < 0 else "A zero in data (set min_reflectance to floor it)"
        raise DataError(
            f"{name}: reflectance must be strictly positive (a fraction, 0 < R). {kind}: "
            f"got {value!r} at row {r}, column {c}."
        )
    if min_reflectance is not None:
        return np.maximum(X, np.asarray(min_reflectance, dtype=X.dtype))
    return X


def reflectance_to_absorbance(X, min_reflectance: float | None = None) -> np.ndarray:
    """Apparent absorbance ``A = -log10(R)`` (``R`` reflectance or transmittance as a fraction);
    with ``min_reflectance``, values below it (zeros of a dark-corrected detector) are raised to
    it first, otherwise a zero is an error. Negative values are always an error."""
    X = _as_float_2d(X)
    out = np.log10(_reflectance(X, "ReflectanceToAbsorbance", min_reflectance))
    np.negative(out, out=out)
    return out


def kubelka_munk(X, min_reflectance: float | None = None) -> np.ndarray:
    """Kubelka–Munk function ``F(R) = (1 - R)**2 / (2 R)`` of a diffuse reflectance fraction
    (``min_reflectance`` as in :func:`reflectance_to_absorbance`)."""
    X = _reflectance(_as_float_2d(X), "KubelkaMunk", min_reflectance)
    out = 1 - X
    out *= out
    out /= 2 * X
    return out


# --------------------------------------------------------------------------------- denoising


def wavelet_denoise(
    X,
    wavelet: str = "db4",
    level: int | None = None,
    threshold: float | None = None,
    threshold_mode: str = "soft",
    extension: str = "symmetric",
) -> np.ndarray:
    """Wavelet shrinkage of each row: ``pywt.wavedec`` to ``level`` (None: the deepest useful
    level, ``pywt.dwt_max_level``), threshold every detail band, ``pywt.waverec``.

    ``threshold=None`` is the universal threshold of Donoho & Johnstone (1994),
    ``sigma * sqrt(2 ln n)`` with ``sigma = median(|d1|) / 0.6745`` estimated per row from the
    finest detail band; a number is used as the same absolute threshold for every row."""
    import pywt

    X = _as_float_2d(X)
    n, p = X.shape
    max_level = pywt.dwt_max_level(p, pywt.Wavelet(wavelet).dec_len)
    level = max_level if level is None else min(int(level), max_level)
    if level < 1:
        return X.copy()
    coeffs = pywt.wavedec(X, wavelet, mode=extension, level=level, axis=1)
    if threshold is None:
        sigma = np.median(np.abs(coeffs[-1]), axis=1, keepdims=True) / 0.6745
        thr = sigma * np.sqrt(2.0 * np.log(p))
    else:
        thr = np.full((n, 1), float(threshold))
    shrunk = [coeffs[0]] + [pywt.threshold(d, thr, mode=threshold_mode) for d in coeffs[1:]]
    out = pywt.waverec(shrunk, wavelet, mode=extension, axis=1)[:, :p]
    return np.ascontiguousarray(out, dtype=X.dtype)
