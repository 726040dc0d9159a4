"""Baseline removal: polynomial detrending, straight-line and rubber-band baselines, and the
Whittaker-smoother baselines AsLS and airPLS. All are stateless, row by row; the ones drawn
in wavelength units (detrend, linear, rubber band) read the axis given to ``fit``."""

from __future__ import annotations

from typing import ClassVar

from nirs_core.estimator import OneToOneFeatureMixin
from nirs_core.operators._preprocessing_base import AxisTransformer, KernelTransformer, check_int, check_real
from nirs_core.registry import register

__all__ = [
    "AirPLS",
    "AsymmetricLeastSquares",
    "Detrend",
    "LinearBaselineCorrection",
    "RubberBandCorrection",
]


@register("Detrending")
class Detrend(OneToOneFeatureMixin, AxisTransformer):
    """Subtract from each spectrum its least-squares polynomial of degree ``order`` in the
    wavelength (Barnes, Dhanoa & Lister 1989 detrend SNV-corrected spectra with degree 2;
    ``order=1`` equals ``scipy.signal.detrend(type='linear')`` on a regular axis). Stateless:
    without ``fit`` the channel index is the axis.

    Parameters
    ----------
    order : int, default 2
        Degree of the polynomial; a degree of ``n_features - 1`` or more leaves zeros.
    """

    _kernel = "detrend"
    _stateless = True

    def __init__(self, order=2):
        self.order = order

    def _check_params(self, n_features):
        check_int(type(self).__name__, "order", self.order, low=0)

    def _kernel_kwargs(self):
        return {"order": int(self.order), "wavelengths": self._axis_or_none()}


@register("LinearBaseline", "LinearCorrection")
class LinearBaselineCorrection(OneToOneFeatureMixin, AxisTransformer):
    """Subtract the straight line through the first and the last point of each spectrum (drawn
    on the wavelength axis). Stateless."""

    _kernel = "linear_baseline"
    _stateless = True

    def __init__(self):
        pass

    def _kernel_kwargs(self):
        return {"wavelengths": self._axis_or_none()}


@register("RubberBand")
class RubberBandCorrection(OneToOneFeatureMixin, AxisTransformer):
    """Rubber-band baseline: subtract the lower convex hull of each spectrum, drawn on the
    wavelength axis (an uneven axis changes the hull) and interpolated linearly between its
    vertices. Stateless; a python loop over rows, each hull found in O(vertices × n_features)."""

    _kernel = "rubber_band"
    _stateless = True

    def __init__(self):
        pass

    def _kernel_kwargs(self):
        return {"wavelengths": self._axis_or_none()}


class _Whittaker(OneToOneFeatureMixin, KernelTransformer):
    _stateless = True
    _contract_xfail: ClassVar[dict[str, str]] = {
        "check_transformer_n_iter": "stateless: max_iter bounds the re-weighting of each spectrum in transform; "
        "fit runs no iterations, so there is no n_iter_ to report",
    }

    def _check_whittaker(self, name):
        check_real(name, "lam", self.lam, low=0.0, low_open=True)
        check_int(name, "diff_order", self.diff_order, low=1, high=3)
        check_int(name, "max_iter", self.max_iter, low=0)
        check_real(name, "tol", self.tol, low=0.0)


@register("ALS", "AsLS")
class AsymmetricLeastSquares(_Whittaker):
    """Asymmetric least squares baseline (Eilers & Boelens 2005), subtracted from each spectrum.

    The baseline ``z`` minimises ``sum w (y - z)**2 + lam * sum (D z)**2`` (``D`` the
    ``diff_order`` difference) with weights ``p`` where the spectrum lies above it and
    ``1 - p`` below; the weights are updated until they change by less than ``tol`` (relative
    L2 norm) or after ``max_iter`` updates. The same iteration as
    ``pybaselines.whittaker.asls``; each system is banded and solved by
    ``scipy.linalg.solveh_banded``. Stateless; a python loop over rows.

    Parameters
    ----------
    lam : float, default 1e6
        Smoothness (> 0); scales with the square of the number of points per feature.
    p : float, default 0.01
        Asymmetry, in (0, 1).
    diff_order : int, default 2
        In [1, 3].
    max_iter : int, default 50
    tol : float, default 1e-3
    """

    _kernel = "asls"

    def __init__(self, lam=1e6, p=0.01, diff_order=2, max_iter=50, tol=1e-3):
        self.lam = lam
        self.p = p
        self.diff_order = diff_order
        self.max_iter = max_iter
        self.tol = tol

    def _check_params(self, n_features):
        name = type(self).__name__
        self._check_whittaker(name)
        check_real(name, "p", self.p, low=0.0, high=1.0, low_open=True, high_open=True)

    def _kernel_kwargs(self):
        return {
            "lam": float(self.lam),
            "p": float(self.p),
            "diff_order": int(self.diff_order),
            "max_iter": int(self.max_iter),
            "tol": float(self.tol),
        }


@register("airPLS")
class AirPLS(_Whittaker):
    """Adaptive iteratively reweighted penalised least squares baseline (Zhang, Chen & Liang
    2010), subtracted from each spectrum.

    Whittaker smoother as :class:`AsymmetricLeastSquares`, with weight 0 where the spectrum lies
    above the baseline and ``exp(i * |r| / |r-|_1)`` where it lies below (iteration ``i``,
    residual ``r``, exponent capped at ``i = 50``), until ``|r-|_1 < tol * |y|_1``, fewer than
    two points lie below, or ``max_iter`` updates; the same iteration as
    ``pybaselines.whittaker.airpls``. Stateless; a python loop over rows.

    Parameters
    ----------
    lam : float, default 1e6
    diff_order : int, default 2
    max_iter : int, default 50
    tol : float, default 1e-3
    """

    _kernel = "airpls"

    def __init__(self, lam=1e6, diff_order=2, max_iter=50, tol=1e-3):
        self.lam = lam
        self.diff_order = diff_order
        self.max_iter = max_iter
        self.tol = tol

    def _check_params(self, n_features):
        self._check_whittaker(type(self).__name__)

    def _kernel_kwargs(self):
        return {
            "lam": float(self.lam),
            "diff_order": int(self.diff_order),
            "max_iter": int(self.max_iter),
            "tol": float(self.tol),
        }
