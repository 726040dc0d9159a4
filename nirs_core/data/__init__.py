"""Spectral data: :class:`SpectroDataset`, the loaders behind :func:`load`, and axes."""

from __future__ import annotations

from nirs_core.data.dataset import LAYOUTS, SpectroDataset
from nirs_core.data.features import FeatureBlock, FeatureSource
from nirs_core.data.folds import FoldsManager
from nirs_core.data.loaders import load
from nirs_core.data.metadata import MetadataBlock
from nirs_core.data.predictions import PredictionBlock
from nirs_core.data.targets import TargetBlock
from nirs_core.data.wavelengths import Axis, infer_unit

__all__ = [
    "LAYOUTS",
    "Axis",
    "FeatureBlock",
    "FeatureSource",
    "FoldsManager",
    "MetadataBlock",
    "PredictionBlock",
    "SpectroDataset",
    "TargetBlock",
    "infer_unit",
    "load",
]
