"""SpectroDataset: the facade over the blocks of one dataset, ``features``
(:mod:`~nirs_core.data.features`: sources and the index table), ``targets``
(:mod:`~nirs_core.data.targets`), ``metadata`` (:mod:`~nirs_core.data.metadata`), ``folds``
(:mod:`~nirs_core.data.folds`) and ``predictions`` (:mod:`~nirs_core.data.predictions`).

Every getter hands out read-only views wherever numpy allows (copies, read-only too, where it
does not); writes are explicit (``update_x``, ``update_y``, ``update_indexes``, the
augmentation helpers). Filters are those of :mod:`nirs_core.data.filters`. Every public method
logs, through ``logging.getLogger("nirs_core.data")``, the rows it touched and the processing
ids: writes at INFO, reads at DEBUG. The folder format is :mod:`nirs_core.data.storage`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nirs_core.data import storage
from nirs_core.data.features import LAYOUTS, RAW, FeatureBlock
from nirs_core.data.folds import FoldsManager
from nirs_core.data.identity import identity
from nirs_core.data.metadata import MetadataBlock
from nirs_core.data.predictions import PredictionBlock
from nirs_core.data.storage import COMPRESSIONS, FORMAT_VERSION
from nirs_core.data.targets import LEGACY_VERSIONS, TargetBlock, infer_task
from nirs_core.data.wavelengths import Axis, normalise_unit, validate_axis
from nirs_core.errors import DataError

__all__ = ["COMPRESSIONS", "FORMAT_VERSION", "LAYOUTS", "SpectroDataset", "infer_task"]

logger = logging.getLogger("nirs_core.data")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _as_rows_array(values, n: int, what: str, dtype=None) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(f"SpectroDataset: {what} must have one value per row ({n}); got shape {arr.shape}.")
    return arr


class SpectroDataset:
    """Spectra from one or more aligned sources with their index, targets, metadata, folds
    and predictions (see the module docstring).

    Build one with :meth:`add_data` / :meth:`add_features`, :meth:`from_arrays` or
    :func:`nirs_core.data.load`; save it with :meth:`save` and read it back (memory-mapped)
    with :meth:`load`.
    """

    def __init__(self, name: str = "dataset") -> None:
        self.version = 0
        self.features = FeatureBlock(name, self._touch)
        self.targets = TargetBlock(self.features, self._touch)
        self.metadata = MetadataBlock(self.features, self._touch)
        self.features.followers = [self.targets, self.metadata]
        self.folds = FoldsManager(self.features, self.targets, self.metadata, self._touch)
        self.predictions = PredictionBlock(name, self._touch)
        self.path: Path | None = None
        self.files: list[Path] = []
        self.load_info: dict[str, Any] = {}
        self._identity: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.features.name

    @name.setter
    def name(self, value: str) -> None:
        self.features.name = self.predictions.name = str(value)

    def _touch(self) -> None:
        self.version += 1

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        X: np.ndarray | Sequence[np.ndarray],
        y: np.ndarray | pl.DataFrame | None = None,
        *,
        name: str = "dataset",
        wavelengths: Sequence[np.ndarray | None] | np.ndarray | None = None,
        units: Sequence[str | None] | str | None = None,
        source_names: Sequence[str] | None = None,
        target_names: Sequence[str] | None = None,
        partition: Sequence[str] | np.ndarray | None = None,
        group: Sequence[Any] | np.ndarray | None = None,
        sample: Sequence[int] | np.ndarray | None = None,
        metadata: pl.DataFrame | None = None,
        files: Sequence[str | os.PathLike] = (),
        path: str | os.PathLike | None = None,
        load_info: Mapping[str, Any] | None = None,
        task: str | None = None,
    ) -> SpectroDataset:
        """A dataset from in-memory arrays (one 2-D array per source, rows aligned).

        The arrays are referenced when already float and C-contiguous (no copy; never
        written: the first write copies); otherwise converted once to float64. Without
        ``group`` the group column is empty (null).
        """
        sources = [X] if isinstance(X, np.ndarray) else list(X)
        n = _check_sources(sources)
        names = (
            list(source_names) if source_names is not None else [f"source_{k}" for k in range(len(sources))]
        )
        if len(names) != len(sources) or len(set(names)) != len(names):
            raise DataError(
                f"SpectroDataset.from_arrays: expected {len(sources)} distinct source names; got {names}."
            )
        part = (
            ["train"] * n
            if partition is None
            else [str(p) for p in _as_rows_array(partition, n, "partition", object)]
        )
        grp = (
            None
            if group is None
            else [None if g is None else str(g) for g in _as_rows_array(group, n, "group", object)]
        )
        ids = None if sample is None else _as_rows_array(sample, n, "sample", np.int64)
        if ids is not None and len(np.unique(ids)) != n:
            raise DataError("SpectroDataset.from_arrays: sample ids must be unique; got duplicates.")
        if metadata is not None and metadata.height != n:
            raise DataError(f"SpectroDataset.from_arrays: metadata has {metadata.height} rows; expected {n}.")
        ds = cls(name=name)
        ds.features.add_features(
            [np.asarray(a) for a in sources],
            names=names,
            wavelengths=_per_source(wavelengths, len(sources), "wavelengths", is_array=True),
            units=_per_source(units, len(sources), "units"),
            partition=part,
            group=grp,
            sample=ids,
        )
        if y is not None:
            ds.targets.add_targets(y, target_names, task)
        if metadata is not None:
            ds.metadata.add_meta(metadata)
        ds.files = [Path(f) for f in files]
        ds.path = Path(path) if path is not None else None
        ds.load_info = dict(load_info or {})
        ds.version = 0  # construction is not a write: the version counts the writes after it
        return ds

    def add_data(self, features: Any, targets: Any = None, metadata: pl.DataFrame | None = None) -> None:
        """Add features (one array per source), then targets and metadata for the same rows."""
        self.add_features(features)
        if targets is not None:
            self.add_targets(targets, metadata)
        elif metadata is not None:
            self.add_meta(metadata)

    def add_features(self, x_list: np.ndarray | Sequence[np.ndarray], **options: Any) -> pl.DataFrame:
        """Add rows to every source (see :meth:`FeatureBlock.add_features`)."""
        if self.targets or self.metadata.table.width:
            raise DataError(
                f"{self.name}: add_features after targets or metadata would leave the new rows without them; "
                "add every row's features first."
            )
        return self.features.add_features(x_list, **options)

    def add_targets(self, y_df: Any, meta_df: pl.DataFrame | None = None, **options: Any) -> None:
        """Set the targets (one row per index row) and, with ``meta_df``, add metadata
        columns; ``target_names`` and ``task`` as in :meth:`TargetBlock.add_targets`."""
        self.targets.add_targets(y_df, options.get("target_names"), options.get("task"))
        if meta_df is not None:
            self.add_meta(meta_df)

    def add_meta(self, meta_df: pl.DataFrame) -> None:
        self.metadata.add_meta(meta_df)

    # ------------------------------------------------------------------ shape and axes
    @property
    def n_rows(self) -> int:
        """Index rows, augmented ones included."""
        return self.features.n_rows

    @property
    def n_samples(self) -> int:
        """Measured (non-augmented) samples."""
        return self.features.n_samples(include_augmented=False)

    @property
    def n_sources(self) -> int:
        return len(self.features.sources)

    @property
    def n_features(self) -> list[int]:
        return [s.n_features for s in self.features.sources]

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self.features.sources]

    def processings(self, source: int | str = 0) -> list[str]:
        return list(self.features.source(source).processings)

    def wavelengths(self, source: int | str = 0) -> np.ndarray:
        """The source's axis values (read-only view)."""
        v = self.features.source(source).axis.values.view()
        v.flags.writeable = False
        return v

    def unit(self, source: int | str = 0) -> str:
        return self.features.source(source).axis.unit

    def set_wavelengths(self, values, unit: str | None = None, source: int | str = 0) -> None:
        """Override a source's axis and/or unit (recorded as given)."""
        src = self.features.source(source)
        v = validate_axis(values, src.n_features, f"source {src.name!r}")
        u = normalise_unit(unit, f"source {src.name!r}: unit") if unit is not None else src.axis.unit
        src.axis = Axis(v, u, "given" if unit is not None else src.axis.unit_source)
        self._touch()
        logger.info("%s: set_wavelengths: source %r, %d features, unit %s", self.name, src.name, v.size, u)

    def set_unit(self, unit: str, source: int | str = 0) -> None:
        src = self.features.source(source)
        src.axis = Axis(src.axis.values, normalise_unit(unit, f"source {src.name!r}: unit"), "given")
        self._touch()
        logger.info("%s: set_unit: source %r, unit %s", self.name, src.name, src.axis.unit)

    @property
    def index(self) -> pl.DataFrame:
        """The index table (``features.index_df``)."""
        return self.features.index_df

    @property
    def task(self) -> str | None:
        return self.targets.task

    @property
    def target_names(self) -> list[str]:
        return list(self.targets.names)

    @property
    def classes(self) -> list[Any]:
        return list(self.targets.classes)

    # ------------------------------------------------------------------ reads
    def rows(self, filter: Any = None, *, include_augmented: bool = True) -> np.ndarray | slice:
        """Index positions selected by ``filter``: a slice when they are contiguous."""
        return self.features.rows(filter, include_augmented=include_augmented)

    def x(
        self,
        filter: Any = None,
        layout: str = "2d",
        src_concat: bool = False,
        *,
        processings: Sequence[str] | None = None,
        include_augmented: bool = True,
        source: int | str | None = None,
    ) -> tuple[np.ndarray, ...]:
        """Spectra: a tuple of one read-only array per source (see :meth:`FeatureBlock.x`)."""
        return self.features.x(
            filter,
            layout,
            src_concat,
            processings=processings,
            include_augmented=include_augmented,
            source=source,
        )

    def get_indexed_features(
        self, filter: Any = None, layout: str = "2d", src_concat: bool = False, **options: Any
    ):
        """(spectra as :meth:`x` gives them, the index rows of the same selection)."""
        return self.features.get_indexed_features(filter, layout, src_concat, **options)

    def x_exists(self, filter: Any = None) -> bool:
        return self.features.x_exists(filter)

    def y(
        self,
        filter: Any = None,
        processed: bool = True,
        *,
        version: str | None = None,
        include_augmented: bool = True,
    ):
        """Targets (see :meth:`TargetBlock.y`; ``version=`` names one)."""
        return self.targets.y(filter, processed, version=version, include_augmented=include_augmented)

    def get_indexed_targets(self, filter: Any = None, processed: bool = True, **options: Any):
        return self.targets.get_indexed_targets(filter, processed, **options)

    def meta(self, filter: Any = None, columns: Sequence[str] | None = None) -> pl.DataFrame:
        return self.metadata.meta(filter, columns)

    # ------------------------------------------------------------------ writes
    def update_x(
        self,
        new_data: Any,
        indexes: Any = None,
        processing_id: str = RAW,
        *,
        source: int | str | None = None,
        replace: bool = False,
        wavelengths: Any = None,
    ) -> None:
        """Write a processing version (see :meth:`FeatureBlock.update_x`)."""
        self.features.update_x(
            new_data, indexes, processing_id, source=source, replace=replace, wavelengths=wavelengths
        )

    def update_y(self, new_values: Any, indexes: Any = None, processing_id: str = "") -> None:
        """Store a processed target version (see :meth:`TargetBlock.update_y`)."""
        self.targets.update_y(new_values, indexes, processing_id)

    def augment_samples_x(self, spec: Sequence[tuple[int, int]]) -> pl.DataFrame:
        """Augmented samples referencing their parents' spectra (see :meth:`FeatureBlock.augment_samples_x`)."""
        return self.features.augment_samples_x(spec)

    def augment_samples(
        self,
        x: np.ndarray | Sequence[np.ndarray],
        origins: Sequence[int] | np.ndarray,
        y: np.ndarray | None = None,
    ) -> np.ndarray:
        """Append augmented rows with their spectra given (``x``: each source's new rows,
        (m, features) or (m, processings, features)) derived from ``origins`` (sample ids);
        targets default to the parent's (``y`` gives the ``regression`` version). Returns the
        new sample ids."""
        added = self.features.augment_samples(x, origins)
        m = added.height
        if y is not None and self.targets and m:
            self.targets.versions["regression"][-m:] = np.asarray(y, dtype=np.float64).reshape(m, -1)
        return added["sample"].to_numpy()

    def augment_features_x(self, copies_per_sample: int, **options: Any) -> list[str]:
        return self.features.augment_features_x(copies_per_sample, **options)

    def update_indexes(
        self, indexes: Any = None, updates: dict[str, Any] | None = None, **columns: Any
    ) -> None:
        self.features.update_indexes(indexes, updates, **columns)

    def merge(self, sources: Sequence[int | str] | None = None, name: str = "merged") -> None:
        self.features.merge(sources, name)

    def split(self, ranges: Sequence[tuple[int, int]], **options: Any) -> None:
        self.features.split(ranges, **options)

    # ------------------------------------------------------------------ folds and predictions
    def set_folds(
        self, splitter_or_iterable: Any, *args: Any, **kwargs: Any
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Make folds (see :meth:`FoldsManager.set_folds`)."""
        return self.folds.set_folds(splitter_or_iterable, *args, **kwargs)

    @property
    def n_folds(self) -> int:
        return self.folds.n_folds

    def fold_generator(self, **options: Any) -> Iterator[dict[str, list[int]]]:
        return self.folds.fold_generator(**options)

    def add_prediction(self, values: Any, meta: Mapping[str, Any]) -> None:
        self.predictions.add_prediction(values, meta)

    def prediction(self, filter: Any = None, processed: bool = True) -> list[np.ndarray]:
        return self.predictions.prediction(filter, processed)

    def inverse_transform_prediction(self, transformers: Any, filter: Any = None) -> int:
        return self.predictions.inverse_transform_prediction(transformers, filter)

    # ------------------------------------------------------------------ logging
    def log(self, message: str, level: str = "INFO") -> None:
        """Log ``message`` about this dataset through ``logging.getLogger("nirs_core.data")``."""
        if str(level).upper() not in _LEVELS:
            raise DataError(f"{self.name}: log level must be one of {', '.join(_LEVELS)}; got {level!r}.")
        logger.log(getattr(logging, str(level).upper()), "%s: %s", self.name, message)

    # ------------------------------------------------------------------ identity
    def get_metadata(self) -> dict[str, Any]:
        """Dataset identity and statistics (seed "Core Concepts", Dataset Metadata).

        ``sha256``, ``file_size`` and ``quick_hash`` are those of :mod:`nirs_core.data.identity`
        for the file or folder the dataset was loaded from; without files (a dataset built in
        memory) ``sha256`` hashes the arrays and raw targets.
        """
        ident = self._file_identity()
        parts = self.index.group_by("partition").len().sort("partition")
        first = self.features.sources[0]
        return {
            "name": self.name,
            "path": None if self.path is None else str(self.path),
            "files": [str(f) for f in self.files],
            **ident,
            "task": self.task,
            "task_source": self.targets.task_source,
            "n_samples": self.n_samples,
            "n_rows": self.n_rows,
            "partitions": dict(zip(parts["partition"].to_list(), parts["len"].to_list())),
            "n_sources": self.n_sources,
            "n_features": self.n_features[0] if self.n_sources == 1 else self.n_features,
            "sources": [
                {
                    "name": s.name,
                    "n_features": s.n_features,
                    "processings": list(s.processings),
                    "wavelength_min": float(s.axis.values.min()),
                    "wavelength_max": float(s.axis.values.max()),
                    "unit": s.axis.unit,
                    "unit_source": s.axis.unit_source,
                    "dtype": str(s.data.dtype),
                }
                for s in self.features.sources
            ],
            "wavelength_range": [float(first.axis.values.min()), float(first.axis.values.max())],
            "wavelength_unit": first.axis.unit,
            "targets": self._target_stats(),
            "target_names": self.target_names,
            "load_info": self.load_info,
            "version": self.version,
            "format_version": FORMAT_VERSION,
        }

    def _target_stats(self) -> dict[str, Any]:
        t = self.targets
        if not t:
            return {}
        measured = self.rows(None, include_augmented=False)
        if t.task != "regression":
            codes = t.versions["category"][measured, 0]
            counts = np.bincount(codes, minlength=len(t.classes))
            return {t.names[0]: {"classes": {str(c): int(k) for c, k in zip(t.classes, counts)}}}
        num = t.versions["regression"][measured]
        out = {}
        for j, nm in enumerate(t.names):
            col = num[:, j]
            out[nm] = {
                "min": float(col.min()),
                "max": float(col.max()),
                "mean": float(col.mean()),
                "std": float(col.std(ddof=1)) if col.size > 1 else 0.0,
            }
        return out

    def _file_identity(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = self._files_identity() if self.files else self._arrays_identity()
        return self._identity

    def _files_identity(self) -> dict[str, Any]:
        # the file or folder it was loaded from, hashed as the workspace registry hashes it
        # (nirs_core.data.identity), so that both name a dataset by the same sha256
        missing = [f for f in self.files if not Path(f).exists()]
        if missing:
            raise DataError(f"{missing[0]}: file not found while hashing dataset {self.name!r}.")
        source = Path(self.path) if self.path is not None and Path(self.path).exists() else None
        if source is None:
            parents = {Path(f).parent for f in self.files}
            source = self.files[0] if len(self.files) == 1 else (parents.pop() if len(parents) == 1 else None)
        if source is None:
            raise DataError(
                f"dataset {self.name!r}: its files {[str(f) for f in self.files]} are in several folders "
                "and it has no path; expected one file or one folder to hash."
            )
        found = identity(source)
        return {
            "sha256": found["sha256"],
            "file_size": int(found["size"]),
            "quick_hash": found["quick_hash"],
            "hash_of": found["kind"],
        }

    def _arrays_identity(self) -> dict[str, Any]:
        h = hashlib.sha256()
        for s in self.features.sources:
            h.update(s.name.encode())
            h.update(_buffer(s.data))
        if self.targets:
            h.update(self.targets.raw.write_ipc(None).getvalue())
        digest = h.hexdigest()
        return {"sha256": digest, "file_size": 0, "quick_hash": digest[:16], "hash_of": "arrays"}

    def content_hash(self) -> str:
        """sha256 of the current arrays, targets and index (changes with every write; the
        ``regression`` version is hashed under its format-1 name, so hashes stay those of
        datasets saved before)."""
        h = hashlib.sha256()
        for s in self.features.sources:
            h.update(json.dumps([s.name, s.processings, s.axis.values.tolist()]).encode())
            h.update(_buffer(s.data))
        legacy = {v: k for k, v in LEGACY_VERSIONS.items()}
        for key, values in sorted((legacy.get(k, k), v) for k, v in self.targets.versions.items()):
            h.update(key.encode())
            h.update(_buffer(values))
        h.update(self.index.drop("processing").write_ipc(None).getvalue())
        return h.hexdigest()

    # ------------------------------------------------------------------ display
    def summary(self) -> str:
        """The text :meth:`print_summary` prints."""
        md = self.get_metadata()
        lines = [f"SpectroDataset {self.name!r}"]
        if self.path is not None:
            lines.append(f"  path: {self.path}")
        if md["hash_of"] != "arrays":  # a file or a folder
            lines.append(
                f"  sha256: {md['sha256'][:16]}…  size: {md['file_size']} bytes  quick hash: {md['quick_hash'][:12]}…"
            )
        else:
            lines.append(f"  sha256 (of the arrays; built in memory): {md['sha256'][:16]}…")
        parts = ", ".join(f"{k} {v}" for k, v in md["partitions"].items())
        lines.append(f"  samples: {md['n_samples']} measured, {md['n_rows']} rows ({parts})")
        for s in md["sources"]:
            lines.append(
                f"  source {s['name']!r}: {s['n_features']} features, {s['wavelength_min']:g}–{s['wavelength_max']:g} "
                f"{s['unit']} ({s['unit_source']}), processings {s['processings']}, {s['dtype']}"
            )
        if self.targets:
            lines.append(f"  task: {md['task']} ({md['task_source']})")
            for nm, st in md["targets"].items():
                if "classes" in st:
                    lines.append(f"  target {nm!r}: classes {st['classes']}")
                else:
                    lines.append(
                        f"  target {nm!r}: min {st['min']:.4g}, max {st['max']:.4g}, mean {st['mean']:.4g}, std {st['std']:.4g}"
                    )
        groups = self.index["group"].drop_nulls().n_unique()
        if groups:
            lines.append(f"  groups: {groups}")
        if self.metadata.table.width:
            lines.append(f"  metadata columns: {self.metadata.columns}")
        if self.folds.n_folds:
            lines.append(f"  folds: {self.folds.n_folds} ({self.folds.info.get('splitter')})")
        if len(self.predictions):
            lines.append(f"  predictions: {len(self.predictions)} blocks")
        if self.load_info:
            lines.append("  loading (what was inferred):")
            lines.extend(f"    {k}: {v}" for k, v in self.load_info.items())
        return "\n".join(lines)

    def print_summary(self) -> None:
        print(self.summary())

    def __repr__(self) -> str:
        return (
            f"SpectroDataset(name={self.name!r}, rows={self.n_rows}, sources={self.source_names}, "
            f"features={self.n_features}, targets={self.target_names})"
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, *, compression: str = "zstd") -> Path:
        """Write the dataset to a folder (see :mod:`nirs_core.data.storage`): one uncompressed
        ``.npy`` per source, so that :meth:`load` memory-maps it without a copy, and parquet
        tables compressed with ``compression`` (one of :data:`COMPRESSIONS`). The folder
        appears whole or not at all."""
        dest = storage.save(self, path, compression=compression)
        logger.info(
            "%s: save: %d rows, %d sources to %s (parquet %s)",
            self.name,
            self.n_rows,
            self.n_sources,
            dest,
            compression,
        )
        return dest

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True) -> SpectroDataset:
        """Read a folder written by :meth:`save` (this format or format 1); the spectra are
        memory-mapped read-only (``mmap=False`` reads them into memory)."""
        ds = storage.load(cls, path, mmap=mmap)
        logger.info("%s: load: %d rows, %d sources from %s", ds.name, ds.n_rows, ds.n_sources, path)
        return ds


def _check_sources(sources: list) -> int:
    if not sources:
        raise DataError("SpectroDataset.from_arrays: expected at least one source array; got none.")
    n = None
    for k, arr in enumerate(sources):
        shape = np.shape(arr)
        if len(shape) != 2:
            raise DataError(
                f"SpectroDataset.from_arrays: source {k} must be 2-D (rows × features); got shape {shape}."
            )
        if n is None:
            n = shape[0]
        elif shape[0] != n:
            raise DataError(
                f"SpectroDataset.from_arrays: source {k} has {shape[0]} rows; expected {n} like source 0."
            )
    return int(n)


def _per_source(value, n_sources: int, what: str, is_array: bool = False) -> list:
    """One entry per source: ``None`` and a string apply to every source; a single 1-D axis
    is accepted for a single source."""
    if value is None:
        return [None] * n_sources
    if isinstance(value, str):
        return [value] * n_sources
    single_axis = is_array and (
        (isinstance(value, np.ndarray) and value.ndim == 1)
        or (isinstance(value, (list, tuple)) and len(value) > 0 and np.isscalar(value[0]))
    )
    if single_axis:
        if n_sources != 1:
            raise DataError(
                f"SpectroDataset.from_arrays: {n_sources} sources need a list of {what}, one per source; "
                "got a single axis."
            )
        return [np.asarray(value)]
    values = list(value)
    if len(values) != n_sources:
        raise DataError(
            f"SpectroDataset.from_arrays: expected {n_sources} {what} (one per source); got {len(values)}."
        )
    return values


def _buffer(arr: np.ndarray) -> memoryview:
    """The bytes of an array for hashing, without copying a C-contiguous (or memory-mapped) one."""
    return memoryview(np.ascontiguousarray(arr)).cast("B")
