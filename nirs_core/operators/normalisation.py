"""Normalisation of each spectrum by one of its norms (stateless)."""

from __future__ import annotations

from nirs_core.estimator import OneToOneFeatureMixin
from nirs_core.operators._preprocessing_base import KernelTransformer, check_option
from nirs_core.registry import register

__all__ = ["Normalize"]

_METHODS = ("vector", "area", "max", "minmax")


@register("Normalise", "Normalization")
class Normalize(OneToOneFeatureMixin, KernelTransformer):
    """Scale each spectrum (row). Stateless.

    Parameters
    ----------
    method : {'vector', 'area', 'max', 'minmax'}, default 'vector'
        ``vector``: divide by the Euclidean norm; ``area``: by the sum of absolute values (the
        area under |x| on a unit-spaced axis); ``max``: by the largest absolute value;
        ``minmax``: map onto [0, 1]. A zero norm (a zero or flat spectrum) is left unscaled.
    """

    _kernel = "normalize"
    _stateless = True

    def __init__(self, method="vector"):
        self.method = method

    def _check_params(self, n_features):
        check_option(type(self).__name__, "method", self.method, _METHODS)

    def _kernel_kwargs(self):
        return {"method": self.method}
