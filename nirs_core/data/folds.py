"""Cross-validation folds of a SpectroDataset: :class:`FoldsManager`.

Folds are stored as sample ids of measured rows; an augmented row trains with its origin's
fold and never validates, so no information from a validation sample reaches a fit through
its augmented copies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from nirs_core.data.filters import jsonable_filter
from nirs_core.errors import DataError

__all__ = ["FoldsManager"]

logger = logging.getLogger("nirs_core.data")


class FoldsManager:
    """Folds over a dataset's measured rows (see the module docstring)."""

    def __init__(self, features, targets, metadata, on_change=None) -> None:
        self._features = features
        self._targets = targets
        self._metadata = metadata
        self._on_change = on_change or (lambda: None)
        self.folds: list[tuple[list[int], list[int]]] = []
        self.info: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return self._features.name

    def __len__(self) -> int:
        return len(self.folds)

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    def set_folds(
        self,
        splitter_or_iterable: Any,
        filter: Any = None,
        *,
        groups: str | None = None,
        y_version: str | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Make the folds. ``splitter_or_iterable`` is a scikit-learn splitter (called as
        ``split(X, y, groups)`` on the measured rows of ``filter``, default partition
        ``train``) or an iterable of ``(train, val)`` position pairs into the measured rows of
        ``filter`` (default: every measured row). ``groups`` names an index or metadata column
        passed as ``groups=``. Returns the (train, val) index positions of each fold."""
        is_splitter = hasattr(splitter_or_iterable, "split")
        if filter is None and is_splitter:
            filter = {"partition": "train"}
        positions = self._features.positions(filter, include_augmented=False)
        if is_splitter:
            pairs = self._split(splitter_or_iterable, positions, groups, y_version)
            how = repr(splitter_or_iterable)
        else:
            try:
                pairs = [
                    (np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
                    for a, b in splitter_or_iterable
                ]
            except (TypeError, ValueError) as exc:
                raise DataError(
                    f"{self.name}: set_folds expects a scikit-learn splitter or an iterable of (train, val) "
                    f"position pairs; got {type(splitter_or_iterable).__name__}."
                ) from exc
            how = "explicit"
        for k, (a, b) in enumerate(pairs):
            both = np.concatenate([a, b])
            if both.size and (both.min() < 0 or both.max() >= positions.size):
                raise DataError(
                    f"{self.name}: fold {k} names positions {both.min()}..{both.max()}; the selection has "
                    f"{positions.size} measured rows."
                )
        samples = self._features.index_df["sample"].to_numpy()[positions]
        self.folds = [(samples[a].tolist(), samples[b].tolist()) for a, b in pairs]
        self.info = {"splitter": how, "groups": groups, "filter": jsonable_filter(filter)}
        self._on_change()
        logger.info("%s: set_folds: %d folds over %d rows (%s)", self.name, len(pairs), positions.size, how)
        return [(positions[a], positions[b]) for a, b in pairs]

    def _split(self, splitter, positions: np.ndarray, groups: str | None, y_version: str | None):
        (X,) = self._features.x(positions, src_concat=True)
        y = None
        if self._targets:
            yv = self._targets.y(positions, version=y_version)
            y = yv[:, 0] if yv.shape[1] == 1 else yv
        g = None
        if groups is not None:
            if groups in self._features.index_df.columns:
                g = self._features.index_df[groups].to_numpy()[positions]
            elif groups in self._metadata.table.columns:
                g = self._metadata.table[groups].to_numpy()[positions]
            else:
                raise DataError(f"{self.name}: no index or metadata column {groups!r} to group folds by.")
        return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, y, g)]

    def fold_rows(self, *, include_augmented: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(train positions, validation positions) per fold: training includes the augmented
        rows whose origin trains; validation never includes augmented rows."""
        index = self._features.index_df
        origin = index["origin"].to_numpy()
        sample = index["sample"].to_numpy()
        measured = sample == origin
        for train_ids, val_ids in self.folds:
            tr = np.isin(origin, train_ids)
            if not include_augmented:
                tr &= measured
            yield np.flatnonzero(tr), np.flatnonzero(np.isin(sample, val_ids) & measured)

    def fold_generator(self, *, include_augmented: bool = True) -> Iterator[dict[str, list[int]]]:
        """``{"train": [sample ids], "val": [sample ids]}`` per fold (training ids include the
        augmented samples of the training origins)."""
        sample = self._features.index_df["sample"].to_numpy()
        logger.debug("%s: fold_generator: %d folds", self.name, len(self.folds))
        for tr, va in self.fold_rows(include_augmented=include_augmented):
            yield {"train": sample[tr].tolist(), "val": sample[va].tolist()}

    def get_data(
        self,
        dataset: Any,
        layout: str = "2d",
        *,
        src_concat: bool = True,
        y_version: str | None = None,
        include_augmented: bool = True,
    ) -> Iterator[tuple[Any, Any, Any, Any]]:
        """``(x_train, y_train, x_val, y_val)`` per fold, read from ``dataset``: the sources
        concatenated into one array (``src_concat=False``: a tuple per source, as ``x``
        gives), ``y`` None when the dataset has no targets."""
        if not self.folds:
            raise DataError(f"{self.name}: get_data: no folds; call set_folds first.")
        has_y = bool(dataset.targets)
        logger.debug("%s: get_data: %d folds, layout %s", self.name, len(self.folds), layout)
        for tr, va in self.fold_rows(include_augmented=include_augmented):
            xs = [dataset.x(p, layout, src_concat) for p in (tr, va)]
            xs = [x[0] if src_concat else x for x in xs]
            ys = [dataset.y(p, version=y_version) if has_y else None for p in (tr, va)]
            yield xs[0], ys[0], xs[1], ys[1]
