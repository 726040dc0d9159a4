"""Derivatives: Savitzky–Golay (smoothing and derivatives by local polynomials) and the
Norris–Williams gap-segment derivative. Both are stateless linear filters along each row."""

from __future__ import annotations

import warnings

import nirs_core.operators._kernels as _kernels
from nirs_core.errors import ConfigError, ShapeError, check_at_most
from nirs_core.estimator import OneToOneFeatureMixin
from nirs_core.operators._preprocessing_base import KernelTransformer, check_int, check_option, check_real
from nirs_core.registry import register

__all__ = ["NorrisWilliams", "SavitzkyGolay"]

_MODES = ("interp", "mirror", "constant", "nearest", "wrap")
_NDIMAGE_MODES = ("nearest", "mirror", "reflect", "constant", "wrap")


@register("SG", "SavGol")
class SavitzkyGolay(OneToOneFeatureMixin, KernelTransformer):
    """Savitzky–Golay filter along each spectrum (row): the value, or the ``deriv``-th
    derivative, of the least-squares polynomial of degree ``polyorder`` fitted to the
    ``window_length`` points centred on each point. Stateless.

    Parameters and results are those of ``scipy.signal.savgol_filter(X, window_length,
    polyorder, deriv, delta, axis=1, mode, cval)``; the coefficients are computed on a scaled
    axis, which makes them more accurate than scipy's for long windows and high orders.

    Parameters
    ----------
    window_length : int, default 11
        Odd, greater than ``polyorder``. With ``mode='interp'`` and spectra shorter than the
        window, the window is shortened to the largest odd length that fits (and ``polyorder``
        to at most that length minus one) with a ``UserWarning``, where scipy would refuse; the
        values used are recorded in ``window_length_`` and ``polyorder_``.
    polyorder : int, default 2
    deriv : int, default 0
        Order of the derivative (0: smoothing). ``deriv > polyorder`` gives zeros, as scipy.
    delta : float, default 1.0
        Sample spacing of the derivative (a derivative per wavelength unit on a regular axis).
    mode : {'interp', 'mirror', 'constant', 'nearest', 'wrap'}, default 'interp'
        Edges: 'interp' evaluates the polynomial fitted to the first/last window.
    cval : float, default 0.0
        Fill value of ``mode='constant'``.
    """

    _kernel = "savgol"
    _stateless = True
    _kernel_checks_finite = True

    def __init__(self, window_length=11, polyorder=2, deriv=0, delta=1.0, mode="interp", cval=0.0):
        self.window_length = window_length
        self.polyorder = polyorder
        self.deriv = deriv
        self.delta = delta
        self.mode = mode
        self.cval = cval

    def _check_params(self, n_features):
        name = type(self).__name__
        w = check_int(name, "window_length", self.window_length, low=1)
        k = check_int(name, "polyorder", self.polyorder, low=0)
        if w % 2 == 0 or k >= w:
            raise ConfigError(
                f"{name}: window_length must be odd and greater than polyorder; got window_length={w}, polyorder={k}."
            )
        check_int(name, "deriv", self.deriv, low=0)
        delta = check_real(name, "delta", self.delta)
        if delta == 0:
            raise ConfigError(f"{name}: delta must be a non-zero sample spacing; got delta={self.delta!r}.")
        check_option(name, "mode", self.mode, _MODES)
        check_real(name, "cval", self.cval)
        w_used, k_used = _kernels.savgol_window(w, k, n_features, self.mode)
        if w_used != w:
            warnings.warn(
                f"{name}: window_length={w} is longer than the spectra (n_features={n_features}); "
                f"using window_length={w_used}, polyorder={k_used}.",
                UserWarning,
                stacklevel=4,
            )

    def _nirs_shape(self, n_features, wavelengths):
        # the preflight of a run (nirs_core.pipeline.preflight): fit shortens a window longer
        # than the spectra with a warning, but a run refuses it, as scipy's savgol_filter does
        # (mode 'interp'): the template does not say what would be computed
        _window_fits(type(self).__name__, "window_length", self.window_length, n_features)

    def _fit_state(self, X):
        # the values the kernel uses (it shortens the window itself, see _kernels.savgol)
        self.window_length_, self.polyorder_ = _kernels.savgol_window(
            int(self.window_length), int(self.polyorder), X.shape[1], self.mode
        )

    def _kernel_kwargs(self):
        return {
            "window_length": int(self.window_length),
            "polyorder": int(self.polyorder),
            "deriv": int(self.deriv),
            "delta": float(self.delta),
            "mode": self.mode,
            "cval": float(self.cval),
        }


@register("GapDerivative", "NW")
class NorrisWilliams(OneToOneFeatureMixin, KernelTransformer):
    """Norris–Williams gap-segment derivative: a moving average over ``window_length`` points
    (the segment), then a central difference between the points ``gap`` positions either side,

    - first derivative: ``(s[i + gap] - s[i - gap]) / (2 * gap * delta)``,
    - second derivative: ``(s[i + gap] - 2 s[i] + s[i - gap]) / (gap * delta) ** 2``,

    so that both estimate the derivative per unit of ``delta`` like :class:`SavitzkyGolay`.
    Applied as one correlation; edges follow ``mode`` (``scipy.ndimage`` modes). Stateless.

    Parameters
    ----------
    window_length : int, default 5
        Odd segment length, >= 1.
    gap : int, default 5
        Points between the centre and each differenced point, >= 1.
    deriv : {1, 2}, default 1
    delta : float, default 1.0
    mode : {'nearest', 'mirror', 'reflect', 'constant', 'wrap'}, default 'nearest'
    cval : float, default 0.0
    """

    _kernel = "norris_williams"
    _stateless = True

    def __init__(self, window_length=5, gap=5, deriv=1, delta=1.0, mode="nearest", cval=0.0):
        self.window_length = window_length
        self.gap = gap
        self.deriv = deriv
        self.delta = delta
        self.mode = mode
        self.cval = cval

    def _check_params(self, n_features):
        name = type(self).__name__
        w = check_int(name, "window_length", self.window_length, low=1)
        if w % 2 == 0:
            raise ConfigError(
                f"{name}: window_length must be odd (a centred segment); got window_length={w}."
            )
        check_int(name, "gap", self.gap, low=1)
        check_int(name, "deriv", self.deriv, low=1, high=2)
        if check_real(name, "delta", self.delta) == 0:
            raise ConfigError(f"{name}: delta must be a non-zero sample spacing; got delta={self.delta!r}.")
        check_option(name, "mode", self.mode, _NDIMAGE_MODES)
        check_real(name, "cval", self.cval)

    def _nirs_shape(self, n_features, wavelengths):
        # the run's preflight: the smoothing segment and the central difference (2 * gap + 1
        # points) must lie within the spectrum, else they only see its padding
        name = type(self).__name__
        _window_fits(name, "window_length", self.window_length, n_features)
        if isinstance(self.gap, int) and 2 * self.gap + 1 > n_features:
            raise ShapeError(
                name,
                "gap",
                f"2 * gap + 1 <= the number of features ({n_features})",
                f"gap={self.gap} (a difference over {2 * self.gap + 1} points)",
            )

    def _kernel_kwargs(self):
        return {
            "window_length": int(self.window_length),
            "gap": int(self.gap),
            "deriv": int(self.deriv),
            "delta": float(self.delta),
            "mode": self.mode,
            "cval": float(self.cval),
        }


def _window_fits(owner: str, param: str, window: object, n_features: int) -> None:
    """``ShapeError`` when an integer ``window`` is longer than spectra of ``n_features``
    (a window of another type is ``_check_params``'s to refuse)."""
    check_at_most(owner, param, window, n_features, f"at most the number of features ({n_features})")
