"""Spectral data augmentation: seeded random perturbations that mimic instrument and sample
variation (noise, scatter, wavelength shift, baseline drift, masked bands, mixing).

The engine uses an augmenter on training rows only, through
``augment(X, y, n_copies) -> (X_new, y_new, origin)``: ``origin[i]`` is the row of ``X`` that
new row ``i`` was made from, so new rows stay in their origin's fold. ``transform(X)`` applies
one perturbation per row (copy 0), so an augmenter also fits in a scikit-learn pipeline.

Perturbations are drawn per spectrum from ``(seed, copy, hash of the spectrum)`` (see
:mod:`nirs_core.operators._augment_kernels`): reproducible for a given ``random_state``,
independent of batch order and composition, and replayed bit for bit from ``replay_spec``.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np

import nirs_core.operators._augment_kernels as _ak
from nirs_core.errors import ConfigError, DataError
from nirs_core.estimator import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    check_is_fitted,
    check_random_state,
    validate_data,
)
from nirs_core.registry import register

__all__ = [
    "AdditiveScatter",
    "BandMasking",
    "BaselineDrift",
    "GaussianNoise",
    "Mixup",
    "MultiplicativeScatter",
    "WavelengthShift",
]

_MODULE = "nirs_core.operators._augment_kernels"


def _check_number(owner: str, name: str, value: object, *, low: float, inclusive: bool = True) -> float:
    ok = not isinstance(value, bool) and isinstance(value, Real) and np.isfinite(value)
    ok = ok and (value >= low if inclusive else value > low)
    if not ok:
        bound = "≥" if inclusive else ">"
        raise ConfigError(f"{owner}: {name} must be a finite number {bound} {low}; got {value!r}.")
    return float(value)


def _check_int(owner: str, name: str, value: object, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ConfigError(f"{owner}: {name} must be an integer ≥ {low}; got {value!r}.")
    return int(value)


def _seed_from(owner: str, random_state: object) -> int:
    """A concrete integer seed: the int itself, or one drawn from a RandomState / fresh entropy."""
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ConfigError(
                f"{owner}: random_state must be an integer ≥ 0, a RandomState or None; got {random_state!r}."
            )
        return int(random_state)
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
    if isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(0, 2**31 - 1))
    raise ConfigError(
        f"{owner}: random_state must be an integer ≥ 0, a RandomState or None; got {random_state!r}."
    )


class _Augmenter(OneToOneFeatureMixin, TransformerMixin, BaseEstimator, metaclass=ABCMeta):
    """Shared fit/transform/augment; a subclass names its kernel and validates its parameters.

    ``fit`` validates the parameters and fixes ``seed_`` (``random_state`` itself when an int;
    drawn once when None or a RandomState, so that transform and replay agree afterwards).
    """

    _nirs_role = "augmenter"
    _kernel = ""

    @abstractmethod
    def _params(self, X: np.ndarray) -> dict:
        """The kernel parameters checked against ``X`` (each augmenter its own)."""

    def fit(self, X, y=None):
        """Validate ``X`` and the parameters and fix the seed; ``y`` is ignored."""
        X = validate_data(self, X, dtype=np.float64, reset=True)
        self.params_ = self._params(X)
        self.seed_ = _seed_from(type(self).__name__, self.random_state)
        return self

    def _kwargs(self) -> dict:
        return {**self.params_, "seed": self.seed_}

    def transform(self, X):
        """One perturbation of each row (copy 0)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return getattr(_ak, self._kernel)(X, **self._kwargs())

    def replay_spec(self):
        """``("module:function", kwargs)`` with ``function(X, **kwargs) == transform(X)``."""
        check_is_fitted(self)
        return f"{_MODULE}:{self._kernel}", self._kwargs()

    def _check_copies(self, n_copies: object) -> int:
        return _check_int(type(self).__name__, "n_copies", n_copies, low=1)

    def augment(self, X, y=None, n_copies=1):
        """``n_copies`` perturbed copies of every row of ``X`` (training rows).

        Returns ``(X_new, y_new, origin)``: ``X_new`` is ``(n_copies × n, p)``, copy ``c`` of
        row ``i`` at ``c × n + i``; ``y_new`` repeats ``y`` (None without ``y``); ``origin`` the
        parent row of each new row. Copy 0 equals ``transform(X)``. Fits first if needed.
        """
        n_copies = self._check_copies(n_copies)
        if not hasattr(self, "seed_"):
            self.fit(X, y)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        kernel = getattr(_ak, self._kernel)
        kwargs = self._kwargs()
        X_new = np.vstack([kernel(X, **kwargs, copy=c) for c in range(n_copies)])
        origin = np.tile(np.arange(X.shape[0]), n_copies)
        y_new = None if y is None else _take(y, origin, X.shape[0], type(self).__name__)
        return X_new, y_new, origin


def _take(y: object, rows: np.ndarray, n: int, owner: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape[0] != n:
        raise DataError(f"{owner}.augment: X has {n} rows but y has {y.shape[0]}; they must match.")
    return y[rows]


@register("Noise")
class GaussianNoise(_Augmenter):
    """Add white noise ``N(0, std²)`` to every value (``std`` in the units of X).

    Parameters
    ----------
    std : float, default=0.001
    random_state : int, RandomState or None, default=0
    """

    _kernel = "gaussian_noise"

    def __init__(self, std=0.001, *, random_state=0):
        self.std = std
        self.random_state = random_state

    def _params(self, X):
        return {"std": _check_number("GaussianNoise", "std", self.std, low=0.0)}


@register("MultiplicativeScatterAugmenter")
class MultiplicativeScatter(_Augmenter):
    """Multiply each spectrum by a factor uniform in ``[1 - scale, 1 + scale]``.

    Parameters
    ----------
    scale : float, default=0.05
        In [0, 1).
    random_state : int, RandomState or None, default=0
    """

    _kernel = "multiplicative_scatter"

    def __init__(self, scale=0.05, *, random_state=0):
        self.scale = scale
        self.random_state = random_state

    def _params(self, X):
        scale = _check_number("MultiplicativeScatter", "scale", self.scale, low=0.0)
        if scale >= 1.0:
            raise ConfigError(
                f"MultiplicativeScatter: scale must be < 1 (factors stay positive); got {self.scale!r}."
            )
        return {"scale": scale}


@register("AdditiveScatterAugmenter")
class AdditiveScatter(_Augmenter):
    """Add to each spectrum a constant uniform in ``[-offset, offset]``.

    Parameters
    ----------
    offset : float, default=0.02
    random_state : int, RandomState or None, default=0
    """

    _kernel = "additive_scatter"

    def __init__(self, offset=0.02, *, random_state=0):
        self.offset = offset
        self.random_state = random_state

    def _params(self, X):
        return {"offset": _check_number("AdditiveScatter", "offset", self.offset, low=0.0)}


@register("Shift")
class WavelengthShift(_Augmenter):
    """Shift each spectrum along the channel axis by a fraction of channels uniform in
    ``[-max_shift, max_shift]`` (linear interpolation; end values held).

    Parameters
    ----------
    max_shift : float, default=1.0
        In channels (on a 2 nm grid, 1.0 is ±2 nm).
    random_state : int, RandomState or None, default=0
    """

    _kernel = "wavelength_shift"

    def __init__(self, max_shift=1.0, *, random_state=0):
        self.max_shift = max_shift
        self.random_state = random_state

    def _params(self, X):
        return {"max_shift": _check_number("WavelengthShift", "max_shift", self.max_shift, low=0.0)}


@register("Drift")
class BaselineDrift(_Augmenter):
    """Add a random polynomial baseline ``Σ_{d=1..degree} c_d t^d`` (``t`` from -1 to 1 across
    the channels, ``c_d`` uniform in ``[-amplitude, amplitude]``).

    Parameters
    ----------
    amplitude : float, default=0.01
    degree : int, default=1
        1: a tilt; 2: tilt and curvature; …
    random_state : int, RandomState or None, default=0
    """

    _kernel = "baseline_drift"

    def __init__(self, amplitude=0.01, *, degree=1, random_state=0):
        self.amplitude = amplitude
        self.degree = degree
        self.random_state = random_state

    def _params(self, X):
        return {
            "amplitude": _check_number("BaselineDrift", "amplitude", self.amplitude, low=0.0),
            "degree": _check_int("BaselineDrift", "degree", self.degree, low=1),
        }


@register("Masking")
class BandMasking(_Augmenter):
    """Mask ``n_bands`` random bands of 1..``max_width`` channels per spectrum (at most all but
    one channel), bridged by a straight line (``fill="linear"``) or set to zero.

    Parameters
    ----------
    max_width : int, default=10
    n_bands : int, default=1
    fill : {"linear", "zero"}, default="linear"
    random_state : int, RandomState or None, default=0
    """

    _kernel = "band_masking"

    def __init__(self, max_width=10, *, n_bands=1, fill="linear", random_state=0):
        self.max_width = max_width
        self.n_bands = n_bands
        self.fill = fill
        self.random_state = random_state

    def _params(self, X):
        if self.fill not in ("linear", "zero"):
            raise ConfigError(f"BandMasking: fill must be 'linear' or 'zero'; got {self.fill!r}.")
        return {
            "max_width": _check_int("BandMasking", "max_width", self.max_width, low=1),
            "n_bands": _check_int("BandMasking", "n_bands", self.n_bands, low=1),
            "fill": self.fill,
        }


@register("MixUp")
class Mixup(_Augmenter):
    """Mixup (Zhang et al. 2018) for spectra: ``λ x_i + (1 - λ) x_j`` with ``y`` mixed the same
    way, ``λ = max(u, 1 - u)``, ``u ~ Beta(alpha, alpha)``, so the origin ``i`` keeps the larger
    share.

    ``augment(X, y)`` mixes each training row with another row of the same ``X`` (so both
    parents are training rows of the same fold) and requires a numeric ``y``. ``transform(X)``
    mixes each row with a row of the training spectra seen by ``fit`` (kept in
    ``reference_`` and in the replay spec); ``y`` cannot follow there, so use it for
    spectra-only pipelines.

    Parameters
    ----------
    alpha : float, default=0.4
        Beta distribution parameter (> 0); small values keep λ near 1.
    random_state : int, RandomState or None, default=0
    """

    _kernel = "mixup"

    def __init__(self, alpha=0.4, *, random_state=0):
        self.alpha = alpha
        self.random_state = random_state

    def fit(self, X, y=None):
        """Validate, fix the seed and keep the training spectra as mixing partners."""
        super().fit(X, y)
        self.reference_ = validate_data(self, X, dtype=np.float64, reset=False).copy()
        return self

    def _params(self, X):
        return {"alpha": _check_number("Mixup", "alpha", self.alpha, low=0.0, inclusive=False)}

    def _kwargs(self) -> dict:
        return {"reference": self.reference_, **self.params_, "seed": self.seed_}

    def augment(self, X, y=None, n_copies=1):
        """``n_copies`` mixtures of each row with another row of ``X``; ``y`` mixed alike.

        Returns ``(X_new, y_new, origin)`` as the other augmenters; ``origin`` is the row with
        the larger weight.
        """
        n_copies = self._check_copies(n_copies)
        if not hasattr(self, "seed_"):
            self.fit(X, y)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        n = X.shape[0]
        if n < 2:
            raise DataError(f"Mixup.augment: needs at least 2 rows to mix; got n_samples={n}.")
        Y = None
        if y is not None:
            Y = np.asarray(y)
            if Y.shape[0] != n:
                raise DataError(f"Mixup.augment: X has {n} rows but y has {Y.shape[0]}; they must match.")
            if not np.issubdtype(Y.dtype, np.number):
                raise DataError(
                    f"Mixup.augment: y must be numeric to be mixed (one-hot encode classes); got dtype {Y.dtype}."
                )
            Y = Y.astype(np.float64)
        own = np.arange(n)
        X_parts, y_parts = [], []
        for c in range(n_copies):
            partner, lam = _ak.mixup_draws(
                X, n_reference=n, alpha=self.params_["alpha"], seed=self.seed_, copy=c, exclude=own
            )
            X_parts.append(lam[:, None] * X + (1.0 - lam[:, None]) * X[partner])
            if Y is not None:
                w = lam.reshape((-1,) + (1,) * (Y.ndim - 1))
                y_parts.append(w * Y + (1.0 - w) * Y[partner])
        origin = np.tile(own, n_copies)
        return np.vstack(X_parts), (None if Y is None else np.concatenate(y_parts)), origin
