"""Conversion of reflectance to absorbance-like units (stateless)."""

from __future__ import annotations

from typing import ClassVar

import nirs_core.operators._kernels as _kernels
from nirs_core.estimator import OneToOneFeatureMixin
from nirs_core.operators._preprocessing_base import KernelTransformer, check_real
from nirs_core.registry import register

__all__ = ["KubelkaMunk", "ReflectanceToAbsorbance"]


class _ReflectanceConversion(OneToOneFeatureMixin, KernelTransformer):
    _stateless = True
    # The suite makes "positive" data as X - X.min(), which holds an exact zero reflectance.
    _contract_params: ClassVar[dict] = {"min_reflectance": 1e-12}

    def __init__(self, min_reflectance=None):
        self.min_reflectance = min_reflectance

    def _check_params(self, n_features):
        if self.min_reflectance is not None:
            check_real(type(self).__name__, "min_reflectance", self.min_reflectance, low=0.0, low_open=True)

    def _fit_state(self, X):
        _kernels._reflectance(X, type(self).__name__, self._kernel_kwargs()["min_reflectance"])

    def _kernel_kwargs(self):
        floor = self.min_reflectance
        return {"min_reflectance": None if floor is None else float(floor)}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags


@register("Absorbance", "LogTransform")
class ReflectanceToAbsorbance(_ReflectanceConversion):
    """Apparent absorbance ``A = -log10(R)`` of reflectance (or transmittance) spectra given as
    fractions (percent data differ only by the constant 2). Stateless.

    Parameters
    ----------
    min_reflectance : float or None, default None
        None: a reflectance <= 0 raises ``DataError`` naming its row and column (in ``fit`` and
        ``transform``). A positive number: values below it (the zeros of a dark-corrected
        detector) are raised to it first; negative values are still refused.
    """

    _kernel = "reflectance_to_absorbance"


@register("KM")
class KubelkaMunk(_ReflectanceConversion):
    """Kubelka–Munk function ``F(R) = (1 - R)**2 / (2 R)`` of diffuse reflectance fractions,
    proportional to the absorption/scattering ratio. Stateless.

    Parameters
    ----------
    min_reflectance : float or None, default None
        As in :class:`ReflectanceToAbsorbance`.
    """

    _kernel = "kubelka_munk"
