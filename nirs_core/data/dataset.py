"""SpectroDataset: aligned feature sources, an index table, targets, metadata, folds and
predictions, with views instead of copies wherever numpy allows.

Storage
-------
Each source holds one C-contiguous 3-D array ``(rows, processings, features)``: the raw
spectra are processing ``"raw"``; :meth:`SpectroDataset.update_x` adds a processing version
beside the old ones. With that layout a contiguous selection of rows is a view in every
layout except ``2d_interlaced`` (see :meth:`SpectroDataset.x`).

The index table (polars) has one row per physical row of the arrays, with the columns
``row, sample, origin, partition, group, branch, processing``: ``sample`` is the sample id,
``origin`` the sample it was derived from (itself for measured samples, the parent for
augmented ones), ``processing`` the processing versions the row holds.

Writes are explicit (``update_x``, ``update_y``, ``augment_samples``, ``update_indexes``,
``merge_sources``, ``split_source``); getters never modify anything.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nirs_core.data.identity import identity
from nirs_core.data.wavelengths import Axis, infer_unit, normalise_unit, validate_axis
from nirs_core.errors import DataError

__all__ = ["FORMAT_VERSION", "LAYOUTS", "SpectroDataset"]

FORMAT_VERSION = 1
LAYOUTS = ("2d", "2d_interlaced", "3d", "3d_transpose")
RAW = "raw"


@dataclass
class _Source:
    name: str
    data: np.ndarray  # (rows, processings, features), C-contiguous
    processings: list[str]
    axis: Axis

    @property
    def n_features(self) -> int:
        return int(self.data.shape[2])


@dataclass
class _Targets:
    """Target versions. ``raw`` holds the values as given (a polars DataFrame); ``numeric``
    float64 (n, t) for regression; ``category`` int64 codes and ``ohe`` one-hot for
    classification; any other name is a processed version added by ``update_y``."""

    names: list[str]
    raw: pl.DataFrame
    task: str
    task_source: str
    classes: list[Any] = field(default_factory=list)
    versions: dict[str, np.ndarray] = field(default_factory=dict)


def _as_rows_array(values, n: int, what: str, dtype=None) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(f"SpectroDataset: {what} must have one value per row ({n}); got shape {arr.shape}.")
    return arr


def infer_task(values: pl.Series) -> tuple[str, str]:
    """(task, reason): ``regression``, ``binary`` or ``multiclass`` from a target column."""
    dtype = values.dtype
    non_null = values.drop_nulls()
    n_unique = non_null.n_unique()
    if dtype in (pl.String, pl.Categorical, pl.Enum, pl.Boolean) or not dtype.is_numeric():
        task = "binary" if n_unique == 2 else "multiclass"
        return task, f"non-numeric target ({dtype}) with {n_unique} classes"
    as_float = non_null.cast(pl.Float64).to_numpy()
    integral = bool(np.all(np.isfinite(as_float)) and np.all(as_float == np.round(as_float)))
    if integral and n_unique == 2:
        return "binary", "integer target with 2 distinct values"
    if integral and 2 < n_unique <= 10 and n_unique <= max(2, len(as_float) // 3):
        return "multiclass", f"integer target with {n_unique} distinct values (≤ 10)"
    return "regression", f"numeric target with {n_unique} distinct values"


class SpectroDataset:
    """Spectra from one or more aligned sources with their index, targets and metadata.

    Build one with :meth:`from_arrays` or :func:`nirs_core.data.load`; save it with
    :meth:`save` and read it back (memory-mapped) with :meth:`load`.
    """

    def __init__(self, name: str = "dataset") -> None:
        self.name = name
        self._sources: list[_Source] = []
        self._index = pl.DataFrame(
            schema={
                "row": pl.Int64,
                "sample": pl.Int64,
                "origin": pl.Int64,
                "partition": pl.String,
                "group": pl.String,
                "branch": pl.Int64,
                "processing": pl.List(pl.String),
            }
        )
        self._targets: _Targets | None = None
        self._metadata = pl.DataFrame()
        self._folds: list[tuple[list[int], list[int]]] = []
        self._fold_info: dict[str, Any] = {}
        self._predictions: list[dict[str, Any]] = []
        self.path: Path | None = None
        self.files: list[Path] = []
        self.load_info: dict[str, Any] = {}
        self.version = 0
        self._identity: dict[str, Any] | None = None

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

        The arrays are taken as they are when already float and C-contiguous (no copy);
        otherwise converted once to float64.
        """
        ds = cls(name=name)
        sources = [X] if isinstance(X, np.ndarray) else list(X)
        if not sources:
            raise DataError("SpectroDataset.from_arrays: expected at least one source array; got none.")
        n = None
        for k, arr in enumerate(sources):
            a = np.asarray(arr)
            if a.ndim != 2:
                raise DataError(
                    f"SpectroDataset.from_arrays: source {k} must be 2-D (rows × features); got shape {a.shape}."
                )
            if n is None:
                n = a.shape[0]
            elif a.shape[0] != n:
                raise DataError(
                    f"SpectroDataset.from_arrays: source {k} has {a.shape[0]} rows; expected {n} like source 0."
                )
        assert n is not None
        wl_list = _per_source(wavelengths, len(sources), "wavelengths", is_array=True)
        unit_list = _per_source(units, len(sources), "units")
        names = (
            list(source_names) if source_names is not None else [f"source_{k}" for k in range(len(sources))]
        )
        if len(names) != len(sources) or len(set(names)) != len(names):
            raise DataError(
                f"SpectroDataset.from_arrays: expected {len(sources)} distinct source names; got {names}."
            )
        for k, arr in enumerate(sources):
            ds._add_source(np.asarray(arr), names[k], wl_list[k], unit_list[k])
        part = (
            np.full(n, "train", dtype=object)
            if partition is None
            else _as_rows_array(partition, n, "partition", object)
        )
        grp = None if group is None else _as_rows_array(group, n, "group", object)
        ids = (
            np.arange(n, dtype=np.int64) if sample is None else _as_rows_array(sample, n, "sample", np.int64)
        )
        if len(np.unique(ids)) != n:
            raise DataError("SpectroDataset.from_arrays: sample ids must be unique; got duplicates.")
        ds._index = pl.DataFrame(
            {
                "row": np.arange(n, dtype=np.int64),
                "sample": ids,
                "origin": ids,
                "partition": [str(p) for p in part],
                "group": None if grp is None else [None if g is None else str(g) for g in grp],
                "branch": np.zeros(n, dtype=np.int64),
                "processing": [[RAW]] * n,
            },
            schema=ds._index.schema,
        )
        if y is not None:
            ds._set_targets(y, target_names, task)
        if metadata is not None:
            if metadata.height != n:
                raise DataError(
                    f"SpectroDataset.from_arrays: metadata has {metadata.height} rows; expected {n}."
                )
            ds._metadata = metadata
        ds.files = [Path(f) for f in files]
        ds.path = Path(path) if path is not None else None
        ds.load_info = dict(load_info or {})
        return ds

    def _add_source(self, arr: np.ndarray, name: str, wavelengths, unit: str | None) -> None:
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            r, c = np.argwhere(~np.isfinite(arr))[0]
            raise DataError(
                f"source {name!r}: row {r + 1}, column {c + 1}: expected a finite number; got {arr[r, c]}."
            )
        p = arr.shape[1]
        axis_values = (
            np.arange(p, dtype=np.float64)
            if wavelengths is None
            else validate_axis(wavelengths, p, f"source {name!r}")
        )
        if unit is None:
            unit_value, reason = infer_unit(None if wavelengths is None else axis_values)
            unit_source = f"inferred: {reason}"
        else:
            unit_value, unit_source = normalise_unit(unit, f"source {name!r}: unit"), "given"
        data = arr[:, None, :]  # a view: (rows, 1, features)
        if not data.flags.c_contiguous:
            data = np.ascontiguousarray(data)
        self._sources.append(_Source(name, data, [RAW], Axis(axis_values, unit_value, unit_source)))

    def _set_targets(self, y, target_names, task: str | None) -> None:
        n = self.n_rows
        if isinstance(y, pl.Series):
            y = y.to_frame()
        if isinstance(y, pl.DataFrame):
            raw = y
            if target_names is not None:
                raw = raw.rename(dict(zip(raw.columns, target_names, strict=True)))
        else:
            arr = np.asarray(y)
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.ndim != 2:
                raise DataError(f"SpectroDataset: y must be 1-D or 2-D; got shape {arr.shape}.")
            names = (
                list(target_names)
                if target_names is not None
                else (["y"] if arr.shape[1] == 1 else [f"y{j}" for j in range(arr.shape[1])])
            )
            if len(names) != arr.shape[1]:
                raise DataError(
                    f"SpectroDataset: {arr.shape[1]} target columns but {len(names)} target names {names}."
                )
            raw = pl.DataFrame({nm: arr[:, j] for j, nm in enumerate(names)})
        if raw.height != n:
            raise DataError(f"SpectroDataset: y has {raw.height} rows; the spectra have {n}.")
        first = raw.get_column(raw.columns[0])
        if task is None:
            task, reason = infer_task(first)
            reason = f"inferred: {reason}"
        else:
            if task not in ("regression", "binary", "multiclass"):
                raise DataError(
                    f"SpectroDataset: task must be regression, binary or multiclass; got {task!r}."
                )
            reason = "given"
        targets = _Targets(names=list(raw.columns), raw=raw, task=task, task_source=reason)
        if task == "regression":
            try:
                numeric = raw.select(pl.all().cast(pl.Float64)).to_numpy()
            except pl.exceptions.InvalidOperationError as exc:
                raise DataError(f"SpectroDataset: regression targets must be numeric: {exc}") from exc
            if not np.all(np.isfinite(numeric)):
                r, c = np.argwhere(~np.isfinite(numeric))[0]
                raise DataError(
                    f"SpectroDataset: target {raw.columns[c]!r}, row {r + 1}: expected a finite number; got {numeric[r, c]}."
                )
            targets.versions["numeric"] = np.ascontiguousarray(numeric)
        else:
            if len(raw.columns) != 1:
                raise DataError(f"SpectroDataset: classification takes one target column; got {raw.columns}.")
            values = first.to_list()
            if any(v is None for v in values):
                raise DataError(f"SpectroDataset: target {raw.columns[0]!r} has missing labels.")
            classes = sorted(set(values), key=lambda v: (str(type(v)), v))
            lookup = {c: i for i, c in enumerate(classes)}
            codes = np.array([lookup[v] for v in values], dtype=np.int64)
            targets.classes = classes
            targets.versions["category"] = codes[:, None]
            targets.versions["numeric"] = codes[:, None].astype(np.float64)
            ohe = np.zeros((n, len(classes)), dtype=np.float64)
            ohe[np.arange(n), codes] = 1.0
            targets.versions["ohe"] = ohe
        self._targets = targets

    # ------------------------------------------------------------------ shape and axes
    @property
    def n_rows(self) -> int:
        """Physical rows, augmented ones included."""
        return int(self._sources[0].data.shape[0]) if self._sources else 0

    @property
    def n_samples(self) -> int:
        """Measured (non-augmented) samples."""
        return int((self._index["sample"] == self._index["origin"]).sum())

    @property
    def n_sources(self) -> int:
        return len(self._sources)

    @property
    def n_features(self) -> list[int]:
        return [s.n_features for s in self._sources]

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self._sources]

    def processings(self, source: int | str = 0) -> list[str]:
        return list(self._source(source).processings)

    def wavelengths(self, source: int | str = 0) -> np.ndarray:
        """The source's axis values (read-only view)."""
        v = self._source(source).axis.values.view()
        v.flags.writeable = False
        return v

    def unit(self, source: int | str = 0) -> str:
        return self._source(source).axis.unit

    def set_wavelengths(self, values, unit: str | None = None, source: int | str = 0) -> None:
        """Override a source's axis and/or unit (recorded as given)."""
        src = self._source(source)
        v = validate_axis(values, src.n_features, f"source {src.name!r}")
        u = normalise_unit(unit, f"source {src.name!r}: unit") if unit is not None else src.axis.unit
        src.axis = Axis(v, u, "given" if unit is not None else src.axis.unit_source)
        self._touch()

    def set_unit(self, unit: str, source: int | str = 0) -> None:
        src = self._source(source)
        src.axis = Axis(src.axis.values, normalise_unit(unit, f"source {src.name!r}: unit"), "given")
        self._touch()

    @property
    def index(self) -> pl.DataFrame:
        """The index table (a polars DataFrame; polars frames are immutable)."""
        return self._index

    @property
    def task(self) -> str | None:
        return None if self._targets is None else self._targets.task

    @property
    def target_names(self) -> list[str]:
        return [] if self._targets is None else list(self._targets.names)

    @property
    def classes(self) -> list[Any]:
        return [] if self._targets is None else list(self._targets.classes)

    def _source(self, source: int | str) -> _Source:
        if isinstance(source, str):
            for s in self._sources:
                if s.name == source:
                    return s
            raise DataError(f"{self.name}: no source named {source!r}; sources are {self.source_names}.")
        if not -len(self._sources) <= source < len(self._sources):
            raise DataError(
                f"{self.name}: source {source} does not exist; the dataset has {len(self._sources)}."
            )
        return self._sources[source]

    def _touch(self) -> None:
        self.version += 1

    # ------------------------------------------------------------------ selection
    def rows(self, filter: Any = None, *, include_augmented: bool = True) -> np.ndarray | slice:
        """Physical row positions selected by ``filter``: a slice when they are contiguous.

        ``filter`` is None (all rows), a dict of index columns to a value or a list of values
        (``{"partition": "train", "group": ["1", "2"]}``), a boolean mask, an integer array of
        positions or a slice.
        """
        n = self.n_rows
        if isinstance(filter, slice):
            positions = np.arange(n)[filter]
        elif filter is None:
            positions = np.arange(n)
        elif isinstance(filter, Mapping):
            mask = np.ones(n, dtype=bool)
            for key, wanted in filter.items():
                if key not in self._index.columns or key == "processing":
                    raise DataError(
                        f"{self.name}: cannot filter on {key!r}; expected one of "
                        f"{[c for c in self._index.columns if c != 'processing']}."
                    )
                col = self._index[key]
                values = wanted if isinstance(wanted, (list, tuple, set, np.ndarray)) else [wanted]
                if key == "group":
                    values = [None if v is None else str(v) for v in values]
                mask &= col.is_in(list(values)).fill_null(False).to_numpy() | (
                    col.is_null().to_numpy() & (None in values)
                )
            positions = np.flatnonzero(mask)
        else:
            arr = np.asarray(filter)
            if arr.dtype == bool:
                if arr.shape != (n,):
                    raise DataError(
                        f"{self.name}: boolean filter must have {n} values; got shape {arr.shape}."
                    )
                positions = np.flatnonzero(arr)
            elif np.issubdtype(arr.dtype, np.integer):
                positions = arr.ravel().astype(np.int64)
                if positions.size and (positions.min() < -n or positions.max() >= n):
                    raise DataError(
                        f"{self.name}: row positions must lie in [-{n}, {n}); got {positions.min()}..{positions.max()}."
                    )
                positions = np.where(positions < 0, positions + n, positions)
            else:
                raise DataError(f"{self.name}: unsupported filter of type {type(filter).__name__}.")
        if not include_augmented:
            measured = (self._index["sample"] == self._index["origin"]).to_numpy()
            positions = positions[measured[positions]]
        return _as_slice(positions)

    def _axis_arrays(self, rows, source: _Source, processings: Sequence[str] | None) -> np.ndarray:
        data = source.data
        if processings is not None:
            missing = [p for p in processings if p not in source.processings]
            if missing:
                raise DataError(
                    f"{self.name}: source {source.name!r} has no processing {missing}; it has {source.processings}."
                )
            idx = [source.processings.index(p) for p in processings]
            pslice = _as_slice(np.asarray(idx))
            data = data[:, pslice]
        return data[rows]

    def x(
        self,
        filter: Any = None,
        layout: str = "2d",
        src_concat: bool = True,
        *,
        processings: Sequence[str] | None = None,
        include_augmented: bool = True,
        source: int | str | None = None,
    ) -> np.ndarray | list[np.ndarray]:
        """Spectra of the selected rows.

        Layouts, for ``n`` rows, ``k`` processings and ``p`` features:
        ``2d`` (n, k·p) with the processings side by side; ``2d_interlaced`` (n, p·k) with
        the processings interleaved feature by feature; ``3d`` (n, k, p);
        ``3d_transpose`` (n, p, k).

        Views, not copies: when the selected rows are contiguous (a slice, a partition written
        in one block, all rows), ``2d``, ``3d`` and ``3d_transpose`` are views of the stored
        array. Numpy cannot give a view for a fancy (non-contiguous) row selection, nor for
        ``2d_interlaced`` with more than one processing: those are copied once.
        ``src_concat=True`` joins several sources along the feature axis (one copy when there
        are two or more); ``src_concat=False`` returns one array per source. ``source``
        selects a single source.
        """
        if layout not in LAYOUTS:
            raise DataError(f"{self.name}: layout must be one of {LAYOUTS}; got {layout!r}.")
        rows = self.rows(filter, include_augmented=include_augmented)
        sources = self._sources if source is None else [self._source(source)]
        blocks = []
        for src in sources:
            block = self._axis_arrays(rows, src, processings)
            n, k, p = block.shape
            if layout == "2d":
                block = block.reshape(n, k * p)
            elif layout == "2d_interlaced":
                block = block.transpose(0, 2, 1).reshape(n, p * k)
            elif layout == "3d_transpose":
                block = block.transpose(0, 2, 1)
            blocks.append(block)
        if len(blocks) == 1:
            return blocks[0]
        if not src_concat:
            return blocks
        if layout in ("2d", "2d_interlaced"):
            return np.concatenate(blocks, axis=1)
        ks = {b.shape[1 if layout == "3d" else 2] for b in blocks}
        if len(ks) != 1:
            raise DataError(
                f"{self.name}: sources have different processing counts {sorted(ks)}; "
                "a 3-D concatenation needs equal counts (use src_concat=False)."
            )
        return np.concatenate(blocks, axis=2 if layout == "3d" else 1)

    def get_indexed_features(
        self, filter: Any = None, layout: str = "2d", **kwargs: Any
    ) -> tuple[pl.DataFrame, np.ndarray | list[np.ndarray]]:
        """The index rows and the spectra of the same selection, aligned."""
        rows = self.rows(filter, include_augmented=kwargs.pop("include_augmented", True))
        return self._index[rows], self.x(rows, layout, **kwargs)

    def y(self, filter: Any = None, version: str = "numeric", *, include_augmented: bool = True):
        """Targets of the selected rows. Versions: ``raw`` (a polars DataFrame as given),
        ``numeric`` (float64, n × targets; class codes for classification), ``category``
        (int64 codes), ``ohe`` (one-hot) and any version added with :meth:`update_y`.
        A 2-D array is returned; contiguous selections are views."""
        if self._targets is None:
            raise DataError(f"{self.name}: the dataset has no targets.")
        rows = self.rows(filter, include_augmented=include_augmented)
        if version == "raw":
            return self._targets.raw[rows]
        if version not in self._targets.versions:
            raise DataError(
                f"{self.name}: no target version {version!r}; versions are {['raw', *self._targets.versions]}."
            )
        return self._targets.versions[version][rows]

    def meta(self, filter: Any = None, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """Metadata columns of the selected rows (a polars DataFrame)."""
        rows = self.rows(filter)
        frame = self._metadata
        if columns is not None:
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise DataError(f"{self.name}: no metadata column {missing}; columns are {frame.columns}.")
            frame = frame.select(columns)
        if frame.width == 0:
            return pl.DataFrame(schema={})
        return frame[rows]

    # ------------------------------------------------------------------ explicit writes
    def update_x(
        self,
        new: np.ndarray,
        indexes: Any = None,
        processing_id: str = RAW,
        *,
        source: int | str = 0,
        replace: bool = False,
        wavelengths=None,
    ) -> None:
        """Write a processing version of one source.

        - ``processing_id`` new, ``replace=False``: adds it beside the old versions; ``new``
          must cover every row (``indexes`` None) with the source's number of features.
        - ``processing_id`` existing: overwrites the rows selected by ``indexes``.
        - ``replace=True``: the source keeps only this version, whose width and axis may
          differ (crop, resample): pass ``wavelengths`` when they do.
        """
        src = self._source(source)
        arr = np.asarray(new)
        if arr.ndim != 2:
            raise DataError(
                f"{self.name}: update_x expects a 2-D array (rows × features); got shape {arr.shape}."
            )
        rows = self.rows(indexes)
        n_sel = len(range(self.n_rows)[rows]) if isinstance(rows, slice) else len(rows)
        if arr.shape[0] != n_sel:
            raise DataError(f"{self.name}: update_x got {arr.shape[0]} rows for a selection of {n_sel}.")
        if replace:
            if n_sel != self.n_rows:
                raise DataError(
                    f"{self.name}: update_x(replace=True) must cover every row ({self.n_rows}); got {n_sel}."
                )
            if wavelengths is None and arr.shape[1] != src.n_features:
                raise DataError(
                    f"{self.name}: update_x changes the width from {src.n_features} to {arr.shape[1]}; pass wavelengths."
                )
            axis_values = (
                src.axis.values
                if wavelengths is None
                else validate_axis(wavelengths, arr.shape[1], f"source {src.name!r}")
            )
            src.data = np.ascontiguousarray(arr, dtype=np.result_type(arr.dtype, np.float32))[:, None, :]
            src.processings = [processing_id]
            src.axis = Axis(axis_values, src.axis.unit, src.axis.unit_source)
            self._index = self._index.with_columns(pl.Series("processing", [[processing_id]] * self.n_rows))
        elif processing_id in src.processings:
            if arr.shape[1] != src.n_features:
                raise DataError(
                    f"{self.name}: update_x expects {src.n_features} features; got {arr.shape[1]}."
                )
            if not src.data.flags.writeable:
                src.data = np.array(src.data)  # copy-on-write of a read-only memory map
            src.data[rows, src.processings.index(processing_id)] = arr
        else:
            if n_sel != self.n_rows:
                raise DataError(
                    f"{self.name}: a new processing {processing_id!r} must cover every row ({self.n_rows}); got {n_sel}."
                )
            if arr.shape[1] != src.n_features:
                raise DataError(
                    f"{self.name}: processing {processing_id!r} has {arr.shape[1]} features; source {src.name!r} has "
                    f"{src.n_features} (use replace=True with wavelengths for a change of axis)."
                )
            dtype = np.result_type(src.data.dtype, arr.dtype)
            grown = np.empty((self.n_rows, len(src.processings) + 1, src.n_features), dtype=dtype)
            grown[:, :-1] = src.data
            grown[:, -1] = arr
            src.data = grown
            src.processings.append(processing_id)
            self._index = self._index.with_columns(
                pl.col("processing").list.concat(pl.lit([processing_id], dtype=pl.List(pl.String)))
            )
        self._touch()

    def update_y(self, values: np.ndarray, version: str, indexes: Any = None) -> None:
        """Store a processed target version (e.g. scaled by y_processing) beside the others."""
        if self._targets is None:
            raise DataError(f"{self.name}: the dataset has no targets to update.")
        if version in ("raw", "category", "ohe"):
            raise DataError(
                f"{self.name}: target version {version!r} is derived from the raw labels and read-only."
            )
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        rows = self.rows(indexes)
        if version in self._targets.versions and indexes is not None:
            target = np.array(self._targets.versions[version])
            target[rows] = arr
        else:
            if arr.shape[0] != self.n_rows:
                raise DataError(
                    f"{self.name}: new target version {version!r} needs {self.n_rows} rows; got {arr.shape[0]}."
                )
            target = np.ascontiguousarray(arr)
        self._targets.versions[version] = target
        self._touch()

    def augment_samples(
        self,
        x: np.ndarray | Sequence[np.ndarray],
        origins: Sequence[int] | np.ndarray,
        y: np.ndarray | None = None,
    ) -> np.ndarray:
        """Append augmented rows derived from ``origins`` (sample ids). Each new row gets a new
        sample id, ``origin`` = its parent, and the parent's partition, group and branch, so
        it follows its origin into the same fold. ``x`` gives each source's new rows as
        (m, features) — one processing — or (m, processings, features). Targets default to
        the parent's. Returns the new sample ids."""
        parts = [x] if isinstance(x, np.ndarray) else list(x)
        if len(parts) != self.n_sources:
            raise DataError(
                f"{self.name}: augment_samples expects {self.n_sources} source arrays; got {len(parts)}."
            )
        origins = np.asarray(origins, dtype=np.int64).ravel()
        m = origins.size
        sample_col = self._index["sample"].to_numpy()
        pos_of = {int(s): i for i, s in enumerate(sample_col)}
        missing = [int(o) for o in origins if int(o) not in pos_of]
        if missing:
            raise DataError(f"{self.name}: augment_samples: unknown origin sample ids {missing[:5]}.")
        parent_rows = np.array([pos_of[int(o)] for o in origins], dtype=np.int64)
        blocks = []
        for src, part in zip(self._sources, parts, strict=True):
            a = np.asarray(part)
            if a.ndim == 2:
                a = a[:, None, :]
            if a.shape != (m, len(src.processings), src.n_features):
                raise DataError(
                    f"{self.name}: augment_samples for source {src.name!r} expects shape "
                    f"({m}, {len(src.processings)}, {src.n_features}); got {a.shape}."
                )
            blocks.append(a)
        start = int(sample_col.max()) + 1 if sample_col.size else 0
        new_ids = np.arange(start, start + m, dtype=np.int64)
        for src, a in zip(self._sources, blocks, strict=True):
            src.data = np.concatenate([src.data, a.astype(src.data.dtype, copy=False)], axis=0)
        parents = self._index[parent_rows]
        added = parents.with_columns(
            pl.Series("row", np.arange(self.n_rows - m, self.n_rows, dtype=np.int64)),
            pl.Series("sample", new_ids),
            pl.Series("origin", parents["origin"]),
        )
        self._index = pl.concat([self._index, added])
        if self._targets is not None:
            t = self._targets
            t.raw = pl.concat([t.raw, t.raw[parent_rows]])
            for key, val in list(t.versions.items()):
                extra = val[parent_rows]
                if y is not None and key == "numeric":
                    extra = np.asarray(y, dtype=np.float64).reshape(m, -1)
                t.versions[key] = np.concatenate([val, extra], axis=0)
        if self._metadata.width:
            self._metadata = pl.concat([self._metadata, self._metadata[parent_rows]])
        self._touch()
        return new_ids

    def update_indexes(self, filter: Any = None, **columns: Any) -> None:
        """Set ``partition``, ``group`` or ``branch`` of the selected rows."""
        allowed = {"partition", "group", "branch"}
        unknown = set(columns) - allowed
        if unknown:
            raise DataError(f"{self.name}: update_indexes can set {sorted(allowed)}; got {sorted(unknown)}.")
        rows = self.rows(filter)
        mask = np.zeros(self.n_rows, dtype=bool)
        mask[rows] = True
        mask_s = pl.Series(mask)
        exprs = []
        for key, value in columns.items():
            if isinstance(value, (list, tuple, np.ndarray)):
                full = self._index[key].to_list()
                for pos, v in zip(np.flatnonzero(mask), value, strict=True):
                    full[pos] = None if v is None else (str(v) if key != "branch" else int(v))
                exprs.append(pl.Series(key, full, dtype=self._index.schema[key]))
            else:
                v = None if value is None else (str(value) if key != "branch" else int(value))
                exprs.append(
                    pl.when(mask_s)
                    .then(pl.lit(v, dtype=self._index.schema[key]))
                    .otherwise(pl.col(key))
                    .alias(key)
                )
        self._index = self._index.with_columns(exprs)
        self._touch()

    def merge_sources(self, sources: Sequence[int | str] | None = None, name: str = "merged") -> None:
        """Join sources side by side along the feature axis into one (a copy). Their axes are
        concatenated; the unit is kept when all agree, else the axis becomes the index."""
        chosen = [self._source(s) for s in (sources if sources is not None else range(self.n_sources))]
        if len(chosen) < 2:
            raise DataError(f"{self.name}: merge_sources needs at least two sources; got {len(chosen)}.")
        procs = {tuple(s.processings) for s in chosen}
        if len(procs) != 1:
            raise DataError(
                f"{self.name}: merge_sources needs the same processings in each source; got {sorted(procs)}."
            )
        data = np.concatenate([s.data for s in chosen], axis=2)
        units = {s.axis.unit for s in chosen}
        if len(units) == 1:
            axis = Axis(np.concatenate([s.axis.values for s in chosen]), units.pop(), "merged")
        else:
            axis = Axis(
                np.arange(data.shape[2], dtype=np.float64), "index", f"merged from units {sorted(units)}"
            )
        merged = _Source(name, np.ascontiguousarray(data), list(chosen[0].processings), axis)
        first = self._sources.index(chosen[0])
        self._sources = [s for s in self._sources if s not in chosen]
        self._sources.insert(first, merged)
        self._touch()

    def split_source(
        self, source: int | str, at: Sequence[float], names: Sequence[str] | None = None
    ) -> None:
        """Cut one source into several at the given wavelengths (each cut starts a new part)."""
        src = self._source(source)
        wl = src.axis.values
        ascending = wl.size < 2 or wl[1] > wl[0]
        cuts = sorted(at, reverse=not ascending)
        positions = [int(np.searchsorted(wl if ascending else -wl, c if ascending else -c)) for c in cuts]
        bounds = [0, *positions, src.n_features]
        if any(b1 <= b0 for b0, b1 in itertools.pairwise(bounds)):
            raise DataError(
                f"{self.name}: split_source at {list(at)} would leave an empty part of source {src.name!r} "
                f"(axis {wl[0]:g}–{wl[-1]:g})."
            )
        names = list(names) if names is not None else [f"{src.name}_{i}" for i in range(len(bounds) - 1)]
        if len(names) != len(bounds) - 1:
            raise DataError(
                f"{self.name}: split_source makes {len(bounds) - 1} parts; got {len(names)} names."
            )
        parts = [
            _Source(
                nm,
                np.ascontiguousarray(src.data[:, :, b0:b1]),
                list(src.processings),
                Axis(wl[b0:b1].copy(), src.axis.unit, src.axis.unit_source),
            )
            for nm, b0, b1 in zip(names, bounds, bounds[1:])
        ]
        k = self._sources.index(src)
        self._sources[k : k + 1] = parts
        self._touch()

    # ------------------------------------------------------------------ folds
    def set_folds(
        self,
        splitter: Any,
        filter: Any = None,
        *,
        groups: str | None = None,
        y_version: str = "numeric",
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Make folds over the measured rows of ``filter`` (default: partition ``train``).

        ``splitter`` is any scikit-learn splitter (``split(X, y, groups)``) or a list of
        (train, validation) position pairs relative to the selection. Folds are stored as
        sample ids, so augmented rows follow their origin. ``groups`` names an index or
        metadata column passed as ``groups=`` (``"group"``, ``"origin"``…).
        """
        filter = {"partition": "train"} if filter is None else filter
        rows = self.rows(filter, include_augmented=False)
        positions = np.arange(self.n_rows)[rows]
        if isinstance(splitter, Sequence) and not hasattr(splitter, "split"):
            pairs = [(np.asarray(a), np.asarray(b)) for a, b in splitter]
            how = "explicit"
        else:
            X = self.x(positions)
            y = None
            if self._targets is not None:
                yv = self.y(positions, y_version)
                y = yv[:, 0] if yv.shape[1] == 1 else yv
            g = None
            if groups is not None:
                if groups in self._index.columns:
                    g = self._index[groups].to_numpy()[positions]
                elif groups in self._metadata.columns:
                    g = self._metadata[groups].to_numpy()[positions]
                else:
                    raise DataError(f"{self.name}: no index or metadata column {groups!r} to group folds by.")
            pairs = [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, y, g)]
            how = repr(splitter)
        samples = self._index["sample"].to_numpy()[positions]
        self._folds = [(samples[a].tolist(), samples[b].tolist()) for a, b in pairs]
        self._fold_info = {"splitter": how, "groups": groups, "filter": _jsonable_filter(filter)}
        self._touch()
        return [(positions[a], positions[b]) for a, b in pairs]

    @property
    def n_folds(self) -> int:
        return len(self._folds)

    def fold_generator(self, *, include_augmented: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(train positions, validation positions) per fold. Training positions include the
        augmented rows whose origin is in the fold's training samples; validation positions
        never include augmented rows."""
        origin = self._index["origin"].to_numpy()
        sample = self._index["sample"].to_numpy()
        measured = sample == origin
        for train_ids, val_ids in self._folds:
            tr = np.isin(origin, train_ids)
            if not include_augmented:
                tr &= measured
            va = np.isin(sample, val_ids) & measured
            yield np.flatnonzero(tr), np.flatnonzero(va)

    def get_data(
        self, fold: int, *, layout: str = "2d", y_version: str = "numeric", include_augmented: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(X_train, y_train, X_val, y_val) of one fold."""
        if not 0 <= fold < len(self._folds):
            raise DataError(f"{self.name}: fold {fold} does not exist; set_folds made {len(self._folds)}.")
        tr, va = list(self.fold_generator(include_augmented=include_augmented))[fold]
        return (self.x(tr, layout), self.y(tr, y_version), self.x(va, layout), self.y(va, y_version))

    # ------------------------------------------------------------------ predictions
    def add_prediction(
        self,
        *,
        model: str,
        fold: int | str,
        partition: str,
        sample: Sequence[int],
        y_pred: np.ndarray,
        y_true: np.ndarray | None = None,
        **scores: float,
    ) -> None:
        """Record one model × fold × partition prediction block."""
        y_pred = np.asarray(y_pred, dtype=np.float64)
        sample = [int(s) for s in sample]
        if y_pred.shape[0] != len(sample):
            raise DataError(
                f"{self.name}: add_prediction got {y_pred.shape[0]} predictions for {len(sample)} samples."
            )
        self._predictions.append(
            {
                "model": str(model),
                "fold": str(fold),
                "partition": str(partition),
                "sample": sample,
                "y_pred": y_pred.reshape(len(sample), -1).tolist(),
                "y_true": None
                if y_true is None
                else np.asarray(y_true, dtype=np.float64).reshape(len(sample), -1).tolist(),
                "scores": json.dumps({k: float(v) for k, v in sorted(scores.items())}),
            }
        )
        self._touch()

    def predictions(self) -> pl.DataFrame:
        """The prediction blocks as a table, one row per model × fold × partition."""
        schema = {
            "model": pl.String,
            "fold": pl.String,
            "partition": pl.String,
            "sample": pl.List(pl.Int64),
            "y_pred": pl.List(pl.List(pl.Float64)),
            "y_true": pl.List(pl.List(pl.Float64)),
            "scores": pl.String,
        }
        return pl.DataFrame(self._predictions, schema=schema)

    # ------------------------------------------------------------------ identity
    def get_metadata(self) -> dict[str, Any]:
        """Dataset identity and statistics (seed "Core Concepts", Dataset Metadata).

        ``sha256`` is the file's own digest for one file; for several files, the sha256 of
        the lines ``<name> <sha256>`` of each file, sorted by name. Without files (a dataset
        built in memory) it hashes the arrays, targets and index. ``quick_hash`` reads only the
        first and last 64 KiB of each file.
        """
        ident = self._file_identity()
        targets: dict[str, Any] = {}
        measured = self.rows(None, include_augmented=False)
        if self._targets is not None:
            t = self._targets
            if t.task == "regression":
                num = t.versions["numeric"][measured]
                for j, nm in enumerate(t.names):
                    col = num[:, j]
                    targets[nm] = {
                        "min": float(col.min()),
                        "max": float(col.max()),
                        "mean": float(col.mean()),
                        "std": float(col.std(ddof=1)) if col.size > 1 else 0.0,
                    }
            else:
                codes = t.versions["category"][measured, 0]
                counts = np.bincount(codes, minlength=len(t.classes))
                targets[t.names[0]] = {"classes": {str(c): int(k) for c, k in zip(t.classes, counts)}}
        parts = self._index.group_by("partition").len().sort("partition")
        return {
            "name": self.name,
            "path": None if self.path is None else str(self.path),
            "files": [str(f) for f in self.files],
            **ident,
            "task": self.task,
            "task_source": None if self._targets is None else self._targets.task_source,
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
                for s in self._sources
            ],
            "wavelength_range": [
                float(self._sources[0].axis.values.min()),
                float(self._sources[0].axis.values.max()),
            ],
            "wavelength_unit": self._sources[0].axis.unit,
            "targets": targets,
            "target_names": self.target_names,
            "load_info": self.load_info,
            "version": self.version,
            "format_version": FORMAT_VERSION,
        }

    def _file_identity(self) -> dict[str, Any]:
        if self._identity is not None:
            return self._identity
        if self.files:
            # the file or folder it was loaded from, hashed as the workspace registry hashes it
            # (nirs_core.data.identity), so that both name a dataset by the same sha256
            missing = [f for f in self.files if not Path(f).exists()]
            if missing:
                raise DataError(f"{missing[0]}: file not found while hashing dataset {self.name!r}.")
            source = Path(self.path) if self.path is not None and Path(self.path).exists() else None
            if source is None:
                parents = {Path(f).parent for f in self.files}
                source = (
                    self.files[0] if len(self.files) == 1 else (parents.pop() if len(parents) == 1 else None)
                )
            if source is None:
                raise DataError(
                    f"dataset {self.name!r}: its files {[str(f) for f in self.files]} are in several folders "
                    "and it has no path; expected one file or one folder to hash."
                )
            found = identity(source)
            self._identity = {
                "sha256": found["sha256"],
                "file_size": int(found["size"]),
                "quick_hash": found["quick_hash"],
                "hash_of": found["kind"],
            }
        else:
            h = hashlib.sha256()
            for s in self._sources:
                h.update(s.name.encode())
                h.update(_buffer(s.data))
            if self._targets is not None:
                h.update(self._targets.raw.write_ipc(None).getvalue())
            digest = h.hexdigest()
            self._identity = {
                "sha256": digest,
                "file_size": 0,
                "quick_hash": digest[:16],
                "hash_of": "arrays",
            }
        return self._identity

    def content_hash(self) -> str:
        """sha256 of the current arrays and targets (changes with every write)."""
        h = hashlib.sha256()
        for s in self._sources:
            h.update(json.dumps([s.name, s.processings, s.axis.values.tolist()]).encode())
            h.update(_buffer(s.data))
        if self._targets is not None:
            for key in sorted(self._targets.versions):
                h.update(key.encode())
                h.update(_buffer(self._targets.versions[key]))
        h.update(self._index.drop("processing").write_ipc(None).getvalue())
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
        if self._targets is not None:
            lines.append(f"  task: {md['task']} ({md['task_source']})")
            for nm, st in md["targets"].items():
                if "classes" in st:
                    lines.append(f"  target {nm!r}: classes {st['classes']}")
                else:
                    lines.append(
                        f"  target {nm!r}: min {st['min']:.4g}, max {st['max']:.4g}, mean {st['mean']:.4g}, std {st['std']:.4g}"
                    )
        groups = self._index["group"].drop_nulls().n_unique()
        if groups:
            lines.append(f"  groups: {groups}")
        if self._metadata.width:
            lines.append(f"  metadata columns: {self._metadata.columns}")
        if self._folds:
            lines.append(f"  folds: {len(self._folds)} ({self._fold_info.get('splitter')})")
        if self._predictions:
            lines.append(f"  predictions: {len(self._predictions)} blocks")
        if self.load_info:
            lines.append("  loading (what was inferred):")
            for k, v in self.load_info.items():
                lines.append(f"    {k}: {v}")
        return "\n".join(lines)

    def print_summary(self) -> None:
        print(self.summary())

    def __repr__(self) -> str:
        return (
            f"SpectroDataset(name={self.name!r}, rows={self.n_rows}, sources={self.source_names}, "
            f"features={self.n_features}, targets={self.target_names})"
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the dataset to a folder: one ``.npy`` per source, parquet tables, ``folds.json``
        and ``dataset.json``. The folder appears whole or not at all (written beside, renamed)."""
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            sources_meta = []
            for k, s in enumerate(self._sources):
                fname = f"source_{k}.npy"
                np.save(tmp / fname, np.ascontiguousarray(s.data), allow_pickle=False)
                sources_meta.append(
                    {"file": fname, "name": s.name, "processings": s.processings, "axis": s.axis.to_dict()}
                )
            self._index.write_parquet(tmp / "index.parquet")
            targets_meta = None
            if self._targets is not None:
                t = self._targets
                t.raw.write_parquet(tmp / "targets.parquet")
                np.savez(tmp / "target_versions.npz", **t.versions)
                targets_meta = {
                    "names": t.names,
                    "task": t.task,
                    "task_source": t.task_source,
                    "classes": t.classes,
                    "versions": list(t.versions),
                }
            if self._metadata.width:
                self._metadata.write_parquet(tmp / "metadata.parquet")
            self.predictions().write_parquet(tmp / "predictions.parquet")
            (tmp / "folds.json").write_text(json.dumps({"folds": self._folds, "info": self._fold_info}))
            info = {
                "format_version": FORMAT_VERSION,
                "name": self.name,
                "path": None if self.path is None else str(self.path),
                "files": [str(f) for f in self.files],
                "identity": self._file_identity(),
                "load_info": self.load_info,
                "version": self.version,
                "sources": sources_meta,
                "targets": targets_meta,
            }
            (tmp / "dataset.json").write_text(json.dumps(info, indent=1, default=str))
            for f in tmp.iterdir():
                with f.open("rb") as fh:
                    os.fsync(fh.fileno())
            if dest.exists():
                old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
                os.replace(dest, old)
                os.replace(tmp, dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True) -> SpectroDataset:
        """Read a folder written by :meth:`save`; source arrays are memory-mapped read-only
        (``mmap=False`` reads them into memory)."""
        root = Path(path)
        info_file = root / "dataset.json"
        if not info_file.is_file():
            raise DataError(f"{root}: not a saved SpectroDataset (no dataset.json).")
        info = json.loads(info_file.read_text())
        if info.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"{info_file}: format_version {info.get('format_version')!r}; this version reads {FORMAT_VERSION}."
            )
        ds = cls(name=info["name"])
        for sm in info["sources"]:
            data = np.load(root / sm["file"], mmap_mode="r" if mmap else None, allow_pickle=False)
            ds._sources.append(_Source(sm["name"], data, list(sm["processings"]), Axis.from_dict(sm["axis"])))
        ds._index = pl.read_parquet(root / "index.parquet")
        if info["targets"] is not None:
            tm = info["targets"]
            with np.load(root / "target_versions.npz", allow_pickle=False) as z:
                versions = {k: z[k] for k in tm["versions"]}
            ds._targets = _Targets(
                names=tm["names"],
                raw=pl.read_parquet(root / "targets.parquet"),
                task=tm["task"],
                task_source=tm["task_source"],
                classes=tm["classes"],
                versions=versions,
            )
        if (root / "metadata.parquet").exists():
            ds._metadata = pl.read_parquet(root / "metadata.parquet")
        preds = pl.read_parquet(root / "predictions.parquet")
        ds._predictions = preds.to_dicts()
        folds = json.loads((root / "folds.json").read_text())
        ds._folds = [(list(a), list(b)) for a, b in folds["folds"]]
        ds._fold_info = folds["info"]
        ds.path = None if info["path"] is None else Path(info["path"])
        ds.files = [Path(f) for f in info["files"]]
        ds._identity = info["identity"]
        ds.load_info = info["load_info"]
        ds.version = info["version"]
        return ds


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


def _as_slice(positions: np.ndarray) -> np.ndarray | slice:
    """A slice when the positions are increasing and contiguous (so indexing gives a view)."""
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size == 0:
        return slice(0, 0)
    if positions.size == 1 or np.all(np.diff(positions) == 1):
        start = int(positions[0])
        return slice(start, start + positions.size)
    return positions


def _jsonable_filter(filter: Any) -> Any:
    if filter is None or isinstance(filter, (str, int, float)):
        return filter
    if isinstance(filter, Mapping):
        return {
            k: (list(v) if isinstance(v, (list, tuple, set, np.ndarray)) else v) for k, v in filter.items()
        }
    return "custom"
