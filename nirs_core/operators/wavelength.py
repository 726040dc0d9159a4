"""Operators that change the spectral axis: crop to a wavelength range, resample onto new
wavelengths. Both work in wavelength units (the axis given to ``fit``), on ascending or
descending axes, and record ``wavelengths_out_``."""

from __future__ import annotations

import numpy as np

from nirs_core.errors import ConfigError, DataError, ShapeError
from nirs_core.estimator import check_is_fitted
from nirs_core.operators._preprocessing_base import AxisTransformer, check_real, format_wavelength
from nirs_core.registry import register

__all__ = ["CropWavelengths", "ResampleWavelengths"]


class _AxisChanging(AxisTransformer):
    def get_feature_names_out(self, input_features=None):
        """Names of the output features: the input names kept (crop) when the input had names,
        else the output wavelengths as numbers (``'1100'``, ``'1100.5'``)."""
        check_is_fitted(self)
        names_in = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if input_features.shape != (self.n_features_in_,):
                raise ConfigError(
                    f"{type(self).__name__}: input_features must hold n_features_in_={self.n_features_in_} "
                    f"names; got {input_features.shape[0] if input_features.ndim else 0}."
                )
            if names_in is not None and not np.array_equal(input_features, names_in):
                raise ConfigError(
                    f"{type(self).__name__}: input_features must equal feature_names_in_; got {list(input_features)!r:.80}."
                )
        return self._names_out(input_features if input_features is not None else names_in)

    def _names_out(self, names_in):
        return np.array([format_wavelength(w) for w in self.wavelengths_out_], dtype=object)


@register("Crop")
class CropWavelengths(_AxisChanging):
    """Keep the features whose wavelength lies in ``[start, stop]``: inclusive, in wavelength
    units, the two bounds in either order, on ascending or descending axes (the kept features
    keep their order).

    Parameters
    ----------
    start, stop : float or None, default None
        None leaves that end open: ``start`` alone keeps wavelengths >= start, ``stop`` alone
        keeps wavelengths <= stop, neither keeps every feature.

    Attributes
    ----------
    wavelengths_in_, wavelengths_out_ : ndarray
    start_index_, stop_index_ : int
        The kept columns are ``X[:, start_index_:stop_index_]``.
    """

    _kernel = "crop"

    def __init__(self, start=None, stop=None):
        self.start = start
        self.stop = stop

    def _check_params(self, n_features):
        name = type(self).__name__
        for key in ("start", "stop"):
            value = getattr(self, key)
            if value is not None:
                check_real(name, key, value)

    def _kept(self, axis):
        """The positions of ``axis`` inside ``[start, stop]``."""
        lo, hi = self.start, self.stop  # alone, start is a lower bound and stop an upper bound
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        keep = np.ones(axis.shape[0], dtype=bool)
        if lo is not None:
            keep &= axis >= lo
        if hi is not None:
            keep &= axis <= hi
        return np.flatnonzero(keep)

    def _nirs_shape(self, n_features, wavelengths):
        # the run's preflight: the range must hold a wavelength of the axis; the output is the
        # kept part of the axis
        self._check_params(n_features)
        kept = self._kept(wavelengths)
        if kept.size == 0:
            raise ShapeError(
                type(self).__name__,
                "start" if self.start is not None else "stop",
                f"a range [start, stop] holding at least one wavelength of the axis "
                f"{wavelengths.min():g}–{wavelengths.max():g}",
                f"start={self.start!r}, stop={self.stop!r}",
            )
        return kept.size, wavelengths[kept]

    def _fit_state(self, X):
        axis = self.wavelengths_in_
        kept = self._kept(axis)
        if kept.size == 0:
            raise DataError(
                f"{type(self).__name__}: no wavelength lies in [start, stop]; got start={self.start!r}, "
                f"stop={self.stop!r} for wavelengths {axis.min():g}–{axis.max():g}."
            )
        self.start_index_, self.stop_index_ = int(kept[0]), int(kept[-1]) + 1
        self.wavelengths_out_ = axis[self.start_index_ : self.stop_index_].copy()

    def _names_out(self, names_in):
        if names_in is not None:
            return np.asarray(names_in, dtype=object)[self.start_index_ : self.stop_index_]
        if getattr(self, "_index_axis", False):
            return np.array([f"x{i}" for i in range(self.start_index_, self.stop_index_)], dtype=object)
        return super()._names_out(names_in)

    def _kernel_kwargs(self):
        return {"start_index": self.start_index_, "stop_index": self.stop_index_}


@register("Resample")
class ResampleWavelengths(_AxisChanging):
    """Linear interpolation of each spectrum onto new wavelengths (``numpy.interp`` per row,
    vectorised). A target outside the measured range is refused, never extrapolated.

    Parameters
    ----------
    target : array-like of wavelengths or None, default None
        The output axis (strictly monotonic, inside the input range).
    step : float or None, default None
        Instead of ``target``: a regular grid from the first wavelength towards the last, with
        this spacing (> 0, in wavelength units), stopping at the last point inside the range.

    With neither, the spectra are resampled onto the regular grid with the same end points and
    the same number of points (evens out an uneven axis).

    Attributes
    ----------
    wavelengths_in_, wavelengths_out_ : ndarray
    """

    _kernel = "resample"

    def __init__(self, target=None, step=None):
        self.target = target
        self.step = step

    def _check_params(self, n_features):
        name = type(self).__name__
        if self.target is not None and self.step is not None:
            raise ConfigError(
                f"{name}: give either target or step, not both; got target and step={self.step!r}."
            )
        if self.step is not None:
            check_real(name, "step", self.step, low=0.0, low_open=True)

    def _nirs_shape(self, n_features, wavelengths):
        # the run's preflight: the target must lie inside the axis; the output is the target
        self._check_params(n_features)
        target = self._target(wavelengths)
        return target.size, target

    def _fit_state(self, X):
        self.wavelengths_out_ = self._target(self.wavelengths_in_)

    def _target(self, axis):
        """The output wavelengths on the input ``axis`` (``ConfigError``/``DataError`` when
        they cannot be made)."""
        name = type(self).__name__
        first, last = axis[0], axis[-1]
        if self.target is not None:
            try:
                target = np.asarray(self.target, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"{name}: target must be an array of wavelengths; got {self.target!r:.80}."
                ) from exc
            if target.size == 0 or not np.all(np.isfinite(target)):
                raise ConfigError(
                    f"{name}: target must hold at least one finite wavelength; got {target!r:.80}."
                )
            steps = np.diff(target)
            if target.size > 1 and not (np.all(steps > 0) or np.all(steps < 0)):
                raise ConfigError(
                    f"{name}: target must be strictly increasing or strictly decreasing; got {target!r:.80}."
                )
        elif self.step is not None:
            span = abs(last - first)
            count = int(np.floor(span / self.step * (1 + 1e-12))) + 1
            target = first + np.sign(last - first) * self.step * np.arange(count)
            target = np.clip(target, axis.min(), axis.max())  # a last point rounded past the range
        else:
            target = np.linspace(first, last, axis.shape[0])
        lo, hi = axis.min(), axis.max()
        outside = (target < lo) | (target > hi)
        if outside.any():
            raise DataError(
                f"{name}: target wavelengths must lie inside the measured range [{lo:g}, {hi:g}] "
                f"(no extrapolation); got {target[outside][0]:g}."
            )
        return target

    def _kernel_kwargs(self):
        return {"source": self.wavelengths_in_, "target": self.wavelengths_out_}
