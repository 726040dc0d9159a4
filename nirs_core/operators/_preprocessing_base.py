"""What the preprocessing operators share: the kernel-backed transformer base class, the
wavelength axis of ``fit(..., wavelengths=...)`` and the parameter checks that raise
``ConfigError`` with the class, the parameter, what was expected and what was received."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np

import nirs_core.operators._kernels as _kernels
from nirs_core.errors import ConfigError, DataError
from nirs_core.estimator import BaseEstimator, TransformerMixin, check_array, check_is_fitted, validate_data

__all__: list[str] = []

FLOAT_DTYPES = (np.float64, np.float32)
KERNELS_MODULE = "nirs_core.operators._kernels"


# ------------------------------------------------------------------------------ parameter checks


def check_int(owner: str, name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int within ``[low, high]``, else ``ConfigError``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and (low is None or value >= low) and (high is None or value <= high):
        return int(value)
    if low is not None and high is not None:
        expected = f"an integer in [{low}, {high}]"
    elif low is not None:
        expected = f"an integer >= {low}"
    else:
        expected = "an integer"
    raise ConfigError(f"{owner}: {name} must be {expected}; got {name}={value!r}.")


def check_real(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float within the interval, else ``ConfigError``."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        above = low is None or (value > low if low_open else value >= low)
        below = high is None or (value < high if high_open else value <= high)
        if above and below:
            return float(value)
    lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    bounds = " and ".join(b for b in (lo, hi) if b)
    expected = f"a finite number {bounds}".rstrip()
    raise ConfigError(f"{owner}: {name} must be {expected}; got {name}={value!r}.")


def check_option(owner: str, name: str, value: Any, options: tuple[str, ...]) -> str:
    if isinstance(value, str) and value in options:
        return value
    listed = ", ".join(repr(o) for o in options)
    raise ConfigError(f"{owner}: {name} must be one of {listed}; got {name}={value!r}.")


# ---------------------------------------------------------------------------- wavelength axis


def resolve_wavelengths(
    owner: str, estimator: BaseEstimator, n_features: int, wavelengths: Any
) -> np.ndarray:
    """The spectral axis of ``fit``: ``wavelengths`` if given, else the feature names when they
    all parse as numbers, else the channel index ``0..n_features-1``. Validated: 1-D, one value
    per feature, finite, strictly increasing or strictly decreasing (``DataError`` otherwise)."""
    if wavelengths is None:
        names = getattr(estimator, "feature_names_in_", None)
        axis = None
        if names is not None:
            try:
                axis = np.array([float(v) for v in names], dtype=np.float64)
            except (TypeError, ValueError):
                axis = None
        if axis is None:
            return np.arange(n_features, dtype=np.float64)
        where = "wavelengths (read from the feature names)"
    else:
        where = "wavelengths"
        try:
            axis = np.asarray(wavelengths, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{owner}: {where} must be numbers; got {wavelengths!r:.80} ({exc}).") from exc
    if axis.ndim != 1 or axis.shape[0] != n_features:
        raise DataError(
            f"{owner}: {where} must be a 1-D array with one value per feature "
            f"(n_features={n_features}); got shape {axis.shape}."
        )
    if not np.all(np.isfinite(axis)):
        i = int(np.flatnonzero(~np.isfinite(axis))[0])
        raise DataError(f"{owner}: {where} must be finite; got {float(axis[i])!r} at position {i}.")
    if n_features >= 2:
        steps = np.diff(axis)
        direction = 1.0 if steps[0] > 0 else -1.0
        bad = np.flatnonzero(~(steps * direction > 0))
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{owner}: {where} must be strictly increasing or strictly decreasing; "
                f"got {axis[i]:g} then {axis[i + 1]:g} at positions {i} and {i + 1}."
            )
    return axis


def _all_numbers(names) -> bool:
    try:
        [float(v) for v in names]
    except (TypeError, ValueError):
        return False
    return True


def format_wavelength(value: float) -> str:
    """The shortest exact decimal of a wavelength, without a trailing '.': 1100, 1100.5."""
    return np.format_float_positional(float(value), trim="-")


# -------------------------------------------------------------------------------- base class


class KernelTransformer(TransformerMixin, BaseEstimator):
    """A transformer whose numbers come from ``_kernels.<_kernel>(X, **replay_spec()[1])``.

    Subclasses set ``_kernel`` and implement ``_check_params(n_features)`` (raise
    ``ConfigError``), ``_fit_state(X)`` when they learn something, and ``_kernel_kwargs()``.
    ``transform`` calls the kernel with exactly the kwargs of ``replay_spec()``, which is what
    makes class output and replayed output equal bit for bit.
    """

    _kernel: ClassVar[str]
    _stateless: ClassVar[bool] = False
    # The kernel raises DataError on NaN or infinity itself (from row sums it computes anyway):
    # transform then skips scikit-learn's finiteness scan, a full extra pass over X.
    _kernel_checks_finite: ClassVar[bool] = False

    # -- hooks
    def _check_params(self, n_features: int) -> None:
        """Validate the constructor parameters against the data's width."""

    def _fit_state(self, X: np.ndarray) -> None:
        """Learn the fitted attributes from validated training spectra."""

    def _kernel_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the kernel (arrays or JSON values)."""
        return {}

    def _fit_scans_finite(self) -> bool:
        """Whether ``fit`` has scikit-learn scan ``X`` for NaN and infinity: False only for an
        estimator whose ``_fit_state`` finds them itself (and raises ``DataError``)."""
        return True

    # -- estimator API
    def fit(self, X, y=None):
        """Validate ``X`` (n_samples, n_features) and the parameters; learn the fitted state."""
        X = self._validated_fit_input(X)
        self._check_params(X.shape[1])
        self._fit_state(X)
        return self

    def transform(self, X):
        """Apply the operator to each spectrum (row) of ``X``."""
        X = self._validated_input(X)
        return getattr(_kernels, self._kernel)(X, **self._kernel_kwargs())

    def replay_spec(self) -> tuple[str, dict[str, Any]]:
        """``("module:function", kwargs)``: ``function(X, **kwargs)`` equals ``transform(X)``."""
        if not self._stateless:
            check_is_fitted(self)
        return f"{KERNELS_MODULE}:{self._kernel}", self._kernel_kwargs()

    def _validated_fit_input(self, X) -> np.ndarray:
        scan = self._fit_scans_finite()
        return validate_data(self, X, dtype=FLOAT_DTYPES, order="C", reset=True, ensure_all_finite=scan)

    def _validated_input(self, X) -> np.ndarray:
        # a kernel that checks finiteness itself spares the scan of ensure_all_finite
        scan = not self._kernel_checks_finite
        if self._stateless and not hasattr(self, "n_features_in_"):
            # used without fit: validate like fit would, without recording anything
            X = check_array(X, dtype=FLOAT_DTYPES, order="C", ensure_all_finite=scan)
            self._check_params(X.shape[1])
            return X
        check_is_fitted(self)
        return validate_data(self, X, dtype=FLOAT_DTYPES, order="C", reset=False, ensure_all_finite=scan)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self._stateless:
            tags.requires_fit = False  # the engine may compute it once for all folds
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]  # every kernel keeps float32
        return tags


class AxisTransformer(KernelTransformer):
    """A kernel transformer that uses the spectral axis: ``fit(X, y=None, *, wavelengths=None)``
    records ``wavelengths_in_`` (see :func:`resolve_wavelengths`)."""

    def fit(self, X, y=None, *, wavelengths=None):
        """Validate ``X`` and the parameters, record the spectral axis, learn the fitted state.

        ``wavelengths``: one value per feature, strictly monotonic. Default: the feature names
        of a DataFrame when they are numbers, else the channel index ``0..n_features-1``."""
        X = self._validated_fit_input(X)
        self.wavelengths_in_ = resolve_wavelengths(type(self).__name__, self, X.shape[1], wavelengths)
        names = getattr(self, "feature_names_in_", None)
        # the channel-index fallback: output names then follow scikit-learn's x0, x1, ...
        self._index_axis = wavelengths is None and (names is None or not _all_numbers(names))
        self._check_params(X.shape[1])
        self._fit_state(X)
        return self

    def _axis_or_none(self) -> np.ndarray | None:
        """The recorded axis, or None (the index axis) when a stateless operator was not fitted."""
        return getattr(self, "wavelengths_in_", None)
