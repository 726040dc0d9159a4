"""The metadata of a SpectroDataset: :class:`MetadataBlock`, a polars table of the columns that
are neither spectra nor targets (batch, instrument, date…), one row per index row."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from nirs_core.data.features import FeatureBlock
from nirs_core.data.filters import as_slice
from nirs_core.errors import DataError

__all__ = ["MetadataBlock"]

logger = logging.getLogger("nirs_core.data")


class MetadataBlock:
    """Metadata columns aligned with the index rows of a :class:`FeatureBlock`."""

    def __init__(self, features: FeatureBlock, on_change=None) -> None:
        self._features = features
        self._on_change = on_change or (lambda: None)
        self.table = pl.DataFrame()

    @property
    def name(self) -> str:
        return self._features.name

    @property
    def columns(self) -> list[str]:
        return list(self.table.columns)

    def add_meta(self, meta_df: pl.DataFrame) -> None:
        """Add metadata columns (one row per index row) beside the existing ones."""
        if not isinstance(meta_df, pl.DataFrame):
            raise DataError(
                f"{self.name}: add_meta expects a polars DataFrame; got {type(meta_df).__name__}."
            )
        n = self._features.n_rows
        if meta_df.height != n:
            raise DataError(f"{self.name}: metadata has {meta_df.height} rows; expected {n}.")
        clash = [c for c in meta_df.columns if c in self.table.columns]
        if clash:
            raise DataError(f"{self.name}: add_meta: the metadata already has the columns {clash}.")
        self.table = meta_df if self.table.width == 0 else pl.concat([self.table, meta_df], how="horizontal")
        self._on_change()
        logger.info("%s: add_meta: %d rows, columns %s", self.name, n, meta_df.columns)

    def meta(self, filter: Any = None, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """Metadata columns of the selected rows (a polars DataFrame)."""
        pos = as_slice(self._features.positions(filter))
        frame = self.table
        if columns is not None:
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise DataError(f"{self.name}: no metadata column {missing}; columns are {frame.columns}.")
            frame = frame.select(columns)
        logger.debug("%s: meta: columns %s", self.name, frame.columns)
        if frame.width == 0:
            return pl.DataFrame(schema={})
        return frame[pos]

    def grow(self, parent_pos: np.ndarray) -> None:
        """Rows appended to the index: each new row takes its parent's metadata."""
        if self.table.width:
            self.table = pl.concat([self.table, self.table[parent_pos]])
