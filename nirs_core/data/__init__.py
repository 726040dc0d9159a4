"""Spectral data: :class:`SpectroDataset`, the loaders behind :func:`load`, and axes."""

from __future__ import annotations

import os
from typing import Any

from nirs_core.data.dataset import LAYOUTS, SpectroDataset
from nirs_core.data.features import FeatureBlock, FeatureSource
from nirs_core.data.folds import FoldsManager
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


def load(path: str | os.PathLike, **options: Any) -> SpectroDataset:
    """Load a dataset file or folder, detecting its layout (see :mod:`nirs_core.data.loaders`).

    A folder written by :meth:`SpectroDataset.save` is read back memory-mapped.
    """
    from pathlib import Path

    if (Path(path) / "dataset.json").is_file() and not options:
        return SpectroDataset.load(path)
    from nirs_core.data.loaders import load as _load

    return _load(path, **options)
