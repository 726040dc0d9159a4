"""Pure numpy kernels of spectral data augmentation.

Randomness is drawn per spectrum from a generator seeded by ``(seed, copy, hash of the
spectrum's values)``: a spectrum gets the same perturbation whatever batch, order or fold it
comes in (so ``transform`` is row-wise deterministic and a replay reproduces it bit for bit),
and copy ``c`` of a spectrum differs from copy ``c'``. Identical spectra get identical
perturbations.

Every kernel takes ``(X, *, <parameters>, seed, copy=0)`` and returns the perturbed float64
array; ``return_draws=True`` also returns the random draws (for tests and reports).
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = [
    "additive_scatter",
    "band_masking",
    "baseline_drift",
    "gaussian_noise",
    "mixup",
    "mixup_draws",
    "multiplicative_scatter",
    "row_generator",
    "wavelength_shift",
]


def _as_float(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(X, dtype=np.float64)


def row_generator(row: np.ndarray, seed: int, copy: int) -> np.random.Generator:
    """The generator of one spectrum: seeded by ``seed``, ``copy`` and a 64-bit hash of its
    float64 values."""
    digest = hashlib.blake2b(np.ascontiguousarray(row, dtype=np.float64).tobytes(), digest_size=8).digest()
    h = int.from_bytes(digest, "little")
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([int(seed), int(copy), h & 0xFFFFFFFF, h >> 32]))
    )


def gaussian_noise(X, *, std: float, seed: int, copy: int = 0, return_draws: bool = False):
    """Add white noise ``N(0, std²)`` to every value."""
    X = _as_float(X)
    noise = np.empty_like(X)
    for i, row in enumerate(X):
        noise[i] = row_generator(row, seed, copy).standard_normal(X.shape[1])
    out = X + std * noise
    return (out, std * noise) if return_draws else out


def multiplicative_scatter(X, *, scale: float, seed: int, copy: int = 0, return_draws: bool = False):
    """Multiply each spectrum by a factor drawn uniformly in ``[1 - scale, 1 + scale]`` (the
    multiplicative part of light scatter, as MSC models it)."""
    X = _as_float(X)
    factor = np.array([row_generator(row, seed, copy).uniform(1.0 - scale, 1.0 + scale) for row in X])
    out = X * factor[:, None]
    return (out, factor) if return_draws else out


def additive_scatter(X, *, offset: float, seed: int, copy: int = 0, return_draws: bool = False):
    """Add to each spectrum a constant drawn uniformly in ``[-offset, offset]``."""
    X = _as_float(X)
    shift = np.array([row_generator(row, seed, copy).uniform(-offset, offset) for row in X])
    out = X + shift[:, None]
    return (out, shift) if return_draws else out


def wavelength_shift(X, *, max_shift: float, seed: int, copy: int = 0, return_draws: bool = False):
    """Shift each spectrum along the channel axis by ``s`` channels, ``s`` uniform in
    ``[-max_shift, max_shift]``: ``out[k] = interp(k - s)`` (linear interpolation, the end
    values held beyond the ends), i.e. ``np.interp(arange(p) - s, arange(p), row)``."""
    X = _as_float(X)
    grid = np.arange(X.shape[1], dtype=np.float64)
    out = np.empty_like(X)
    shifts = np.empty(X.shape[0])
    for i, row in enumerate(X):
        shifts[i] = row_generator(row, seed, copy).uniform(-max_shift, max_shift)
        out[i] = np.interp(grid - shifts[i], grid, row)
    return (out, shifts) if return_draws else out


def baseline_drift(X, *, amplitude: float, degree: int, seed: int, copy: int = 0, return_draws: bool = False):
    """Add a random polynomial baseline ``Σ_{d=1..degree} c_d t^d`` on ``t`` from -1 to 1 across
    the channels, each ``c_d`` uniform in ``[-amplitude, amplitude]`` (offsets are the additive
    scatter's job)."""
    X = _as_float(X)
    p = X.shape[1]
    t = np.linspace(-1.0, 1.0, p) if p > 1 else np.zeros(1)
    powers = np.vstack([t**d for d in range(1, degree + 1)]) if degree else np.zeros((0, p))
    coefs = np.array([row_generator(row, seed, copy).uniform(-amplitude, amplitude, degree) for row in X])
    coefs = coefs.reshape(X.shape[0], degree)
    out = X + coefs @ powers
    return (out, coefs) if return_draws else out


def band_masking(
    X, *, max_width: int, n_bands: int, fill: str, seed: int, copy: int = 0, return_draws: bool = False
):
    """Mask ``n_bands`` random bands of 1..``max_width`` channels (at most ``p - 1``) per
    spectrum: ``fill="linear"`` bridges each band by the straight line between its neighbours
    (the nearest neighbour's value at an end of the spectrum), ``"zero"`` sets it to 0."""
    X = _as_float(X)
    n, p = X.shape
    out = X.copy()
    top = min(int(max_width), p - 1)
    bands = np.zeros((n, n_bands, 2), dtype=np.intp)
    if top < 1:
        return (out, bands) if return_draws else out
    for i, row in enumerate(X):
        rng = row_generator(row, seed, copy)
        for b in range(n_bands):
            width = int(rng.integers(1, top + 1))
            start = int(rng.integers(0, p - width + 1))
            stop = start + width
            bands[i, b] = start, stop
            if fill == "zero":
                out[i, start:stop] = 0.0
                continue
            left = out[i, start - 1] if start > 0 else out[i, stop]
            right = out[i, stop] if stop < p else out[i, start - 1]
            frac = (np.arange(start, stop) - (start - 1)) / (width + 1)
            out[i, start:stop] = left + frac * (right - left)
    return (out, bands) if return_draws else out


def mixup_draws(
    X, *, n_reference: int, alpha: float, seed: int, copy: int = 0, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Partner row in the reference set and weight ``λ`` of each spectrum: partner uniform among
    the ``n_reference`` rows (other than ``exclude[i]`` when given), ``λ = max(u, 1 - u)`` with
    ``u ~ Beta(alpha, alpha)``, so a spectrum always keeps the larger share."""
    X = _as_float(X)
    partner = np.empty(X.shape[0], dtype=np.intp)
    lam = np.empty(X.shape[0])
    for i, row in enumerate(X):
        rng = row_generator(row, seed, copy)
        if exclude is None:
            partner[i] = rng.integers(0, n_reference)
        else:
            j = int(rng.integers(0, n_reference - 1))
            partner[i] = j + (j >= exclude[i])
        u = rng.beta(alpha, alpha)
        lam[i] = max(u, 1.0 - u)
    return partner, lam


def mixup(X, reference, *, alpha: float, seed: int, copy: int = 0, return_draws: bool = False):
    """``λ x + (1 - λ) r``: each spectrum mixed with a partner drawn from ``reference`` (see
    :func:`mixup_draws`)."""
    X = _as_float(X)
    reference = _as_float(reference)
    partner, lam = mixup_draws(X, n_reference=reference.shape[0], alpha=alpha, seed=seed, copy=copy)
    out = lam[:, None] * X + (1.0 - lam[:, None]) * reference[partner]
    return (out, (partner, lam)) if return_draws else out
