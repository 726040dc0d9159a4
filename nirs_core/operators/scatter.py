"""Scatter correction: SNV, robust and local SNV, MSC and EMSC.

Light scattering by particles adds an offset and a multiplicative factor to each diffuse
reflectance spectrum; these operators remove them row by row (SNV family, stateless) or
against a reference spectrum learnt in ``fit`` (MSC, EMSC).
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np

import nirs_core.operators._kernels as _kernels
from nirs_core.errors import ConfigError, DataError, ShapeError, check_at_most
from nirs_core.estimator import OneToOneFeatureMixin
from nirs_core.operators._preprocessing_base import (
    AxisTransformer,
    KernelTransformer,
    check_int,
    check_option,
    check_real,
)
from nirs_core.registry import register

__all__ = [
    "ExtendedMultiplicativeScatterCorrection",
    "LocalStandardNormalVariate",
    "MultiplicativeScatterCorrection",
    "RobustNormalVariate",
    "StandardNormalVariate",
]


@register("SNV")
class StandardNormalVariate(OneToOneFeatureMixin, KernelTransformer):
    """Centre each spectrum (row) on its mean and divide it by its standard deviation
    (Barnes, Dhanoa & Lister 1989). Stateless.

    Parameters
    ----------
    ddof : int, default 0
        Delta degrees of freedom of the standard deviation: 0 is the population standard
        deviation (the usual definition, as ``numpy.std``), 1 the sample one.

    A flat spectrum (standard deviation 0) becomes zeros.
    """

    _kernel = "snv"
    _stateless = True
    _kernel_checks_finite = True

    def __init__(self, ddof=0):
        self.ddof = ddof

    def _check_params(self, n_features):
        check_int(type(self).__name__, "ddof", self.ddof, low=0, high=max(n_features - 1, 0))

    def _kernel_kwargs(self):
        return {"ddof": int(self.ddof)}


@register("RNV")
class RobustNormalVariate(OneToOneFeatureMixin, KernelTransformer):
    """Robust normal variate (Guo, Wu & Massart 1999): subtract the ``percentile``-th percentile
    of each spectrum and divide by the standard deviation of its values at or below that
    percentile, so that peaks do not drive the scaling. Stateless.

    Parameters
    ----------
    percentile : float, default 25
        In [0, 100]; percentiles are linearly interpolated (``numpy.percentile``).
    """

    _kernel = "rnv"
    _stateless = True

    def __init__(self, percentile=25.0):
        self.percentile = percentile

    def _check_params(self, n_features):
        check_real(type(self).__name__, "percentile", self.percentile, low=0.0, high=100.0)

    def _kernel_kwargs(self):
        return {"percentile": float(self.percentile)}


@register("LSNV")
class LocalStandardNormalVariate(OneToOneFeatureMixin, KernelTransformer):
    """Local SNV: at every wavelength, subtract the mean and divide by the standard deviation
    of the ``window_length`` points centred on it. Corrects scatter that varies along the
    spectrum. Stateless.

    Parameters
    ----------
    window_length : int, default 51
        Odd, >= 1. At the two ends the window is truncated to the points that exist; a window
        longer than the spectrum is the whole spectrum.
    ddof : {0, 1}, default 0
        Delta degrees of freedom of the local standard deviation.
    """

    _kernel = "local_snv"
    _stateless = True

    def __init__(self, window_length=51, ddof=0):
        self.window_length = window_length
        self.ddof = ddof

    def _check_params(self, n_features):
        name = type(self).__name__
        w = check_int(name, "window_length", self.window_length, low=1)
        if w % 2 == 0:
            raise ConfigError(
                f"{name}: window_length must be odd (a window centred on each point); got window_length={w}."
            )
        check_int(name, "ddof", self.ddof, low=0, high=1)

    def _nirs_shape(self, n_features, wavelengths):
        # the run's preflight: a window longer than the spectrum would only see its padding
        check_at_most(
            type(self).__name__,
            "window_length",
            self.window_length,
            n_features,
            f"at most the number of features ({n_features})",
        )

    def _kernel_kwargs(self):
        return {"window_length": int(self.window_length), "ddof": int(self.ddof)}


@register("MSC")
class MultiplicativeScatterCorrection(OneToOneFeatureMixin, KernelTransformer):
    """Multiplicative scatter correction (Geladi, MacDougall & Martens 1985): regress each
    spectrum on a reference, ``x = a + b * reference``, and return ``(x - a) / b``.

    Parameters
    ----------
    reference : {'mean', 'median'} or array of shape (n_features,), default 'mean'
        The reference spectrum: the mean (or median) of the spectra seen in ``fit``, or a
        given spectrum.

    Attributes
    ----------
    reference_ : ndarray of shape (n_features,)

    A spectrum whose slope against the reference is exactly 0 (a flat spectrum) is only
    centred, ``x - mean(x)``, not divided by zero.
    """

    _kernel = "msc"
    _kernel_checks_finite = True

    def __init__(self, reference="mean"):
        self.reference = reference

    def _fit_scans_finite(self):
        # a NaN or an infinity in X makes the mean reference non-finite: _fit_state then finds it
        return not (isinstance(self.reference, str) and self.reference == "mean")

    def _nirs_shape(self, n_features, wavelengths):
        _reference_fits(self, n_features)  # the run's preflight

    def _fit_state(self, X):
        self.reference_ = _reference(self, X)
        if not np.all(np.isfinite(self.reference_)):
            _kernels._raise_non_finite(type(self).__name__, X)  # names the first NaN or infinity
        centred = self.reference_ - self.reference_.mean()
        if not np.any(centred):
            raise DataError(
                f"{type(self).__name__}: the reference spectrum must vary along the spectrum to fit a "
                f"slope against it; got a constant reference (n_features={X.shape[1]})."
            )

    def _kernel_kwargs(self):
        return {"reference": self.reference_}


@register("EMSC")
class ExtendedMultiplicativeScatterCorrection(OneToOneFeatureMixin, AxisTransformer):
    """Extended multiplicative scatter correction (Martens & Stark 1991), basic form: model each
    spectrum as ``b * reference + polynomial(wavelength)`` of degree ``order`` and return
    ``(x - polynomial) / b``. ``order=0`` is MSC.

    Parameters
    ----------
    order : int, default 2
        Degree of the polynomial baseline in the wavelength (Legendre basis on the axis scaled
        to [-1, 1]). It needs ``n_features >= order + 2``: on fewer features the degree is
        lowered to ``n_features - 2`` with a ``UserWarning`` (recorded in ``order_``).
    reference : {'mean', 'median'} or array of shape (n_features,), default 'mean'
        As in :class:`MultiplicativeScatterCorrection`.

    Attributes
    ----------
    reference_ : ndarray of shape (n_features,)
    order_ : int
        The degree used.
    wavelengths_in_ : ndarray of shape (n_features,)
        The axis of the polynomial (see ``fit``).
    """

    _kernel = "emsc"
    _contract_xfail: ClassVar[dict[str, str]] = {
        name: "the suite standardises its columns, so the mean reference spectrum is exactly zero: a "
        "polynomial of degree 0, which EMSC refuses (it cannot be told apart from the baseline)"
        for name in (
            "check_transformer_general",
            "check_transformer_general(readonly_memmap=True)",
            "check_transformer_data_not_an_array",
            "check_transformer_preserve_dtypes",
        )
    }

    def __init__(self, order=2, reference="mean"):
        self.order = order
        self.reference = reference

    def _nirs_shape(self, n_features, wavelengths):
        # the run's preflight: fit lowers a degree the spectrum cannot hold, with a warning;
        # a run refuses it, since the template does not say what would be computed
        _reference_fits(self, n_features)
        check_at_most(
            type(self).__name__,
            "order",
            self.order,
            n_features - 2,
            f"at most the number of features - 2 ({n_features - 2})",
        )

    def _check_params(self, n_features):
        name = type(self).__name__
        check_int(name, "order", self.order, low=0)
        if n_features < 2:
            raise DataError(
                f"{name}: a scale factor against the reference needs at least 2 features; got n_features={n_features}."
            )

    def _fit_state(self, X):
        from nirs_core.operators._kernels import _emsc_design

        name = type(self).__name__
        order = int(self.order)
        p = X.shape[1]
        if order > p - 2:
            warnings.warn(
                f"{name}: order={order} needs n_features >= order + 2; got n_features={p}, using order={p - 2}.",
                UserWarning,
                stacklevel=4,
            )
            order = p - 2
        self.order_ = order
        self.reference_ = _reference(self, X)
        design, _ = _emsc_design(self.reference_, self.wavelengths_in_, order)
        if np.linalg.matrix_rank(design) < design.shape[1]:
            raise DataError(
                f"{name}: the reference spectrum must not be a polynomial of degree <= order in the wavelength "
                f"(it could not be told apart from the baseline); got order={order}."
            )

    def _kernel_kwargs(self):
        return {"reference": self.reference_, "wavelengths": self.wavelengths_in_, "order": self.order_}


def _reference_fits(est, n_features: int) -> None:
    """``ShapeError`` when a reference spectrum given as an array has the wrong length."""
    ref = est.reference
    if isinstance(ref, str):
        return
    shape = np.shape(ref)
    if shape != (n_features,):
        raise ShapeError(
            type(est).__name__,
            "reference",
            f"'mean', 'median' or a spectrum of {n_features} values (one per feature)",
            f"an array of shape {shape}",
        )


def _reference(est, X: np.ndarray) -> np.ndarray:
    name = type(est).__name__
    ref = est.reference
    if isinstance(ref, str):
        check_option(name, "reference", ref, ("mean", "median"))
        if ref == "mean":
            return X.mean(axis=0, dtype=np.float64)
        return np.median(X, axis=0).astype(np.float64)
    try:
        arr = np.asarray(ref, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{name}: reference must be 'mean', 'median' or a spectrum; got {ref!r:.80}."
        ) from exc
    if arr.shape != (X.shape[1],) or not np.all(np.isfinite(arr)):
        raise DataError(
            f"{name}: reference must be 'mean', 'median' or a finite spectrum of shape ({X.shape[1]},); "
            f"got an array of shape {arr.shape}."
        )
    return arr.copy()
