"""Calibration transfer between instruments: direct and piecewise direct standardisation.

API. ``fit(X, y)`` takes the *slave* spectra as ``X`` and the same samples measured on the
*master* instrument as ``y`` (2-D, one row per sample); ``transform(X_slave)`` returns the
spectra mapped into master space, ``X @ F + b``, so that a model calibrated on the master
predicts them. Putting the master spectra in ``y`` keeps the scikit-learn contract (``fit(X, y)``,
clone, pipelines) without array-valued constructor parameters; a 1-D ``y`` is read as one
master channel (then the map is a plain multivariate regression of that channel on ``X``).

In an experiment the transfer samples are the rows measured on both instruments: fit on them,
then transform the slave's spectra before the master's model.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np

import nirs_core.operators._transfer_kernels as _tk
from nirs_core.errors import ConfigError
from nirs_core.estimator import BaseEstimator, TransformerMixin, check_is_fitted, validate_data
from nirs_core.registry import register

__all__ = ["DirectStandardization", "PiecewiseDirectStandardization"]

_REPLAY = "nirs_core.operators._transfer_kernels:affine_map"


class _AffineTransfer(TransformerMixin, BaseEstimator, metaclass=ABCMeta):
    """Shared fit/transform of the affine transfers; subclasses compute ``(F, b)``."""

    @abstractmethod
    def _fit_map(self, S: np.ndarray, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The map ``(F, b)`` from slave spectra ``S`` to master spectra ``M`` (each method its own)."""

    def fit(self, X, y):
        """Learn the map from slave spectra ``X`` (n, p_slave) to master spectra ``y``
        (n, p_master), paired by row."""
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True, reset=True)
        M = np.asarray(y, dtype=np.float64)
        M = M.reshape(-1, 1) if M.ndim == 1 else M
        if not isinstance(self.center, (bool, np.bool_)):
            raise ConfigError(f"{type(self).__name__}: center must be True or False; got {self.center!r}.")
        self.transfer_matrix_, self.offset_ = self._fit_map(X, M)
        self.n_master_features_ = M.shape[1]
        return self

    def transform(self, X):
        """Slave spectra mapped into master space, ``X @ transfer_matrix_ + offset_``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _tk.affine_map(X, **self._kwargs())

    def _kwargs(self) -> dict:
        return {"F": self.transfer_matrix_, "b": self.offset_}

    def replay_spec(self):
        """``("module:function", kwargs)`` with ``function(X, **kwargs) == transform(X)``."""
        check_is_fitted(self)
        return _REPLAY, self._kwargs()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        return tags


@register("DS")
class DirectStandardization(_AffineTransfer):
    """Direct standardisation: one global linear map, ``F = pinv(S) M`` on centred transfer
    spectra (Wang, Veltkamp & Kowalski 1991).

    With fewer transfer samples than channels the map is fitted in the span of the slave
    transfer spectra (the minimum-norm solution); ``rank`` limits it further, which regularises
    against noise.

    Parameters
    ----------
    rank : int or None, default=None
        Keep only the first ``rank`` singular vectors of the centred slave spectra.
    rcond : float, default=1e-10
        Drop singular values below ``rcond × largest`` (as ``numpy.linalg.pinv``).
    center : bool, default=True
        Centre both blocks, adding the offset ``b = m̄ - s̄ F``.

    Attributes
    ----------
    transfer_matrix_ : ndarray (n_features_in_, n_master_features_)
    offset_ : ndarray (n_master_features_,)
    """

    def __init__(self, rank=None, *, rcond=1e-10, center=True):
        self.rank = rank
        self.rcond = rcond
        self.center = center

    def _fit_map(self, S, M):
        if self.rank is not None and (
            isinstance(self.rank, bool) or not isinstance(self.rank, Integral) or self.rank < 1
        ):
            raise ConfigError(
                f"DirectStandardization: rank must be an integer ≥ 1 or None; got {self.rank!r}."
            )
        if isinstance(self.rcond, bool) or not isinstance(self.rcond, Real) or not 0.0 <= self.rcond < 1.0:
            raise ConfigError(f"DirectStandardization: rcond must be a float in [0, 1); got {self.rcond!r}.")
        return _tk.ds_fit(S, M, rcond=float(self.rcond), rank=self.rank, center=bool(self.center))


@register("PDS")
class PiecewiseDirectStandardization(_AffineTransfer):
    """Piecewise direct standardisation: each master channel is predicted from a window of
    neighbouring slave channels, so ``F`` is banded (Wang, Veltkamp & Kowalski 1991).

    Each window's regression is a PLS1 with at most ``n_components`` latent variables (fewer
    when the window has fewer channels or the transfer set fewer samples): a small local PLS is
    the usual choice, since a window's least-squares fit on few transfer samples overfits.
    When master and slave have different channel counts, master channel ``j`` is centred on the
    slave channel at the same relative position (both must cover the same range, in order).

    Parameters
    ----------
    half_width : int, default=2
        Window of ``2 × half_width + 1`` slave channels (clipped at the ends of the spectrum).
    n_components : int, default=1
        Latent variables of each local PLS. With a few tens of transfer samples more local
        latent variables fit the noise of the transfer set: on the corn instruments (30
        transfer samples, half_width 2) one gives the lowest prediction error.
    center : bool, default=True

    Attributes
    ----------
    transfer_matrix_ : ndarray (n_features_in_, n_master_features_), banded
    offset_ : ndarray (n_master_features_,)
    """

    def __init__(self, half_width=2, *, n_components=1, center=True):
        self.half_width = half_width
        self.n_components = n_components
        self.center = center

    def _fit_map(self, S, M):
        for name in ("half_width", "n_components"):
            value = getattr(self, name)
            low = 0 if name == "half_width" else 1
            if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
                raise ConfigError(
                    f"PiecewiseDirectStandardization: {name} must be an integer ≥ {low}; got {value!r}."
                )
        return _tk.pds_fit(
            S,
            M,
            half_width=int(self.half_width),
            n_components=int(self.n_components),
            center=bool(self.center),
        )
