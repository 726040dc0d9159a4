"""Denoising by wavelet shrinkage (PyWavelets), stateless."""

from __future__ import annotations

from nirs_core.errors import ConfigError, ShapeError, check_at_most
from nirs_core.estimator import OneToOneFeatureMixin
from nirs_core.operators._preprocessing_base import KernelTransformer, check_int, check_option, check_real
from nirs_core.registry import register

__all__ = ["WaveletDenoise"]


@register("Wavelet", "WaveletDenoising")
class WaveletDenoise(OneToOneFeatureMixin, KernelTransformer):
    """Wavelet shrinkage of each spectrum: discrete wavelet decomposition (``pywt.wavedec``),
    thresholding of every detail band, reconstruction (``pywt.waverec``). Stateless.

    Parameters
    ----------
    wavelet : str, default 'db4'
        A discrete wavelet known to PyWavelets (``pywt.wavelist(kind='discrete')``).
    level : int or None, default None
        Decomposition depth, capped at ``pywt.dwt_max_level``; None uses that maximum. Spectra
        too short for one level are returned unchanged.
    threshold : float or None, default None
        None: the universal threshold ``sigma * sqrt(2 ln n_features)`` (Donoho & Johnstone
        1994), ``sigma = median(|finest details|) / 0.6745`` estimated per spectrum. A number:
        that absolute threshold for every spectrum.
    threshold_mode : {'soft', 'hard', 'garrote'}, default 'soft'
    extension : str, default 'symmetric'
        PyWavelets signal extension mode at the edges (``pywt.Modes.modes``).
    """

    _kernel = "wavelet_denoise"
    _stateless = True

    def __init__(
        self, wavelet="db4", level=None, threshold=None, threshold_mode="soft", extension="symmetric"
    ):
        self.wavelet = wavelet
        self.level = level
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.extension = extension

    def _check_params(self, n_features):
        import pywt

        name = type(self).__name__
        wavelets = pywt.wavelist(kind="discrete")
        if self.wavelet not in wavelets:
            raise ConfigError(
                f"{name}: wavelet must be a discrete PyWavelets wavelet (e.g. 'db4', 'sym8', 'coif3'); "
                f"got wavelet={self.wavelet!r}."
            )
        if self.level is not None:
            check_int(name, "level", self.level, low=1)
        if self.threshold is not None:
            check_real(name, "threshold", self.threshold, low=0.0)
        check_option(name, "threshold_mode", self.threshold_mode, ("soft", "hard", "garrote"))
        check_option(name, "extension", self.extension, tuple(pywt.Modes.modes))

    def _nirs_shape(self, n_features, wavelengths):
        # the run's preflight: the kernel silently caps a level deeper than the spectrum allows
        # (pywt.dwt_max_level); a run refuses it, as it refuses a spectrum too short for one level
        import pywt

        if not isinstance(self.wavelet, str) or self.wavelet not in pywt.wavelist(kind="discrete"):
            return None  # _check_params names the wavelet
        deepest = pywt.dwt_max_level(n_features, pywt.Wavelet(self.wavelet).dec_len)
        level = self.level
        if deepest < 1:
            raise ShapeError(
                type(self).__name__,
                "wavelet",
                f"a wavelet short enough for one decomposition level of {n_features} features",
                f"wavelet={self.wavelet!r}",
            )
        check_at_most(
            type(self).__name__,
            "level",
            level,
            deepest,
            f"at most {deepest} (pywt.dwt_max_level of {n_features} features, {self.wavelet!r})",
        )
        return None

    def _kernel_kwargs(self):
        return {
            "wavelet": self.wavelet,
            "level": None if self.level is None else int(self.level),
            "threshold": None if self.threshold is None else float(self.threshold),
            "threshold_mode": self.threshold_mode,
            "extension": self.extension,
        }
