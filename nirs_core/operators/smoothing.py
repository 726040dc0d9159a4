"""Smoothing: Gaussian filter along each spectrum (stateless)."""

from __future__ import annotations

from nirs_core.estimator import OneToOneFeatureMixin
from nirs_core.operators._preprocessing_base import KernelTransformer, check_int, check_option, check_real
from nirs_core.registry import register

__all__ = ["GaussianSmoothing"]


@register("GaussianFilter")
class GaussianSmoothing(OneToOneFeatureMixin, KernelTransformer):
    """Convolve each spectrum with a sampled Gaussian (or its first or second derivative), equal
    to ``scipy.ndimage.gaussian_filter1d(X, sigma, axis=1, order, mode, cval, truncate)``.
    Stateless.

    Parameters
    ----------
    sigma : float, default 2.0
        Standard deviation of the Gaussian in points (> 0).
    order : {0, 1, 2}, default 0
        0 smooths; 1 and 2 convolve with the Gaussian's derivatives.
    mode : {'reflect', 'nearest', 'mirror', 'constant', 'wrap'}, default 'reflect'
        Edges, as ``scipy.ndimage`` (same default).
    cval : float, default 0.0
    truncate : float, default 4.0
        The kernel extends ``int(truncate * sigma + 0.5)`` points either side.
    """

    _kernel = "gaussian_smoothing"
    _stateless = True

    def __init__(self, sigma=2.0, order=0, mode="reflect", cval=0.0, truncate=4.0):
        self.sigma = sigma
        self.order = order
        self.mode = mode
        self.cval = cval
        self.truncate = truncate

    def _check_params(self, n_features):
        name = type(self).__name__
        check_real(name, "sigma", self.sigma, low=0.0, low_open=True)
        check_int(name, "order", self.order, low=0, high=2)
        check_option(name, "mode", self.mode, ("reflect", "nearest", "mirror", "constant", "wrap"))
        check_real(name, "cval", self.cval)
        check_real(name, "truncate", self.truncate, low=0.0, low_open=True)

    def _kernel_kwargs(self):
        return {
            "sigma": float(self.sigma),
            "order": int(self.order),
            "mode": self.mode,
            "cval": float(self.cval),
            "truncate": float(self.truncate),
        }
