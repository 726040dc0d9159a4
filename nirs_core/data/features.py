"""The spectra of a SpectroDataset: :class:`FeatureSource` (one aligned source, e.g. NIR or
MIR) and :class:`FeatureBlock` (the sources with their index table).

Storage. Each source holds one 3-D array ``(physical rows, processings, features)``; the raw
spectra are processing ``"raw"`` and :meth:`FeatureBlock.update_x` adds versions beside them.
The index table has one row per sample with the columns ``row, sample, origin, partition,
group, branch, processing``: ``row`` is the physical row of the arrays that holds the
sample's spectra, so an augmented sample can reference its parent's row until something is
written to it (copy on write). ``origin`` is the measured sample a row derives from (itself
for measured samples).

Views. Everything handed out is read-only (``writeable=False``); a contiguous selection of
rows is a view of the stored array in every layout except ``2d_interlaced`` with several
processings. Writes go through ``update_x``, ``update_indexes`` and the augmentation helpers.
An array given by the caller is referenced, never written: the first write copies it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from nirs_core.data.filters import as_slice, select
from nirs_core.data.wavelengths import Axis, infer_unit, normalise_unit, validate_axis
from nirs_core.errors import DataError

__all__ = ["INDEX_SCHEMA", "LAYOUTS", "RAW", "FeatureBlock", "FeatureSource", "read_only"]

logger = logging.getLogger("nirs_core.data")

LAYOUTS = ("2d", "2d_interlaced", "3d", "3d_transpose")
RAW = "raw"
INDEX_SCHEMA = {
    "row": pl.Int64,
    "sample": pl.Int64,
    "origin": pl.Int64,
    "partition": pl.String,
    "group": pl.String,
    "branch": pl.Int64,
    "processing": pl.List(pl.String),
}
_UPDATABLE = ("partition", "group", "branch")


def read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only view of ``arr`` (the array itself stays writable for its owner)."""
    view = arr.view()
    view.flags.writeable = False
    return view


@dataclass
class FeatureSource:
    """One source: a name, its stored spectra ``(physical rows, processings, features)``, the
    processing ids in storage order and the spectral axis. ``array`` is read-only."""

    name: str
    data: np.ndarray
    processings: list[str]
    axis: Axis
    owned: bool = False  # False while ``data`` is the caller's array or a read-only memory map

    @property
    def array(self) -> np.ndarray:
        """The stored spectra ``(physical rows, processings, features)``, read-only."""
        return read_only(self.data)

    @property
    def n_features(self) -> int:
        return int(self.data.shape[2])

    def writable(self) -> np.ndarray:
        """The stored array, copied first unless this source owns a writable one."""
        if not (self.owned and self.data.flags.writeable):
            self.data = np.array(self.data)
            self.owned = True
        return self.data


def make_source(arr: np.ndarray, name: str, wavelengths, unit: str | None) -> FeatureSource:
    """A source from a 2-D array (referenced when it is float and C-contiguous)."""
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
    return FeatureSource(name, data, [RAW], Axis(axis_values, unit_value, unit_source))


def empty_index() -> pl.DataFrame:
    return pl.DataFrame(schema=INDEX_SCHEMA)


def new_index_rows(first_row: int, samples: np.ndarray, partition, group) -> pl.DataFrame:
    n = samples.size
    return pl.DataFrame(
        {
            "row": np.arange(first_row, first_row + n, dtype=np.int64),
            "sample": samples,
            "origin": samples,
            "partition": partition,
            "group": group,
            "branch": np.zeros(n, dtype=np.int64),
            "processing": [[RAW]] * n,
        },
        schema=INDEX_SCHEMA,
    )


class FeatureBlock:
    """The feature sources of a dataset and its index table (see the module docstring).

    ``followers`` are the blocks aligned with the index rows (targets, metadata): they are
    told when augmentation appends rows, with the parent position of each new row.
    """

    def __init__(self, name: str = "dataset", on_change: Callable[[], None] | None = None) -> None:
        self.name = name
        self._sources: list[FeatureSource] = []
        self._rows = np.zeros(0, dtype=np.int64)  # physical row of each index row
        self._identity = True  # _rows == arange(n): selections map to rows directly
        self._install(empty_index())
        self._on_change = on_change or (lambda: None)
        self.followers: list[Any] = []

    # ------------------------------------------------------------------ shape
    @property
    def sources(self) -> tuple[FeatureSource, ...]:
        return tuple(self._sources)

    @property
    def n_rows(self) -> int:
        """Index rows (samples), augmented ones included."""
        return self._index.height

    def n_samples(self, *, include_augmented: bool = True) -> int:
        """Samples in the index; ``include_augmented=False`` counts measured ones only."""
        return self._index.height if include_augmented else int(self._measured.sum())

    @property
    def index_df(self) -> pl.DataFrame:
        """The index table (polars frames are immutable; assign a new one to change it)."""
        return self._index

    @index_df.setter
    def index_df(self, frame: pl.DataFrame) -> None:
        self._set_index(frame)
        self._on_change()
        logger.info("%s: index_df assigned: %d rows", self.name, frame.height)

    def _set_index(self, frame: pl.DataFrame) -> None:
        missing = [c for c in INDEX_SCHEMA if c not in frame.columns]
        if missing:
            raise DataError(
                f"{self.name}: index_df lacks the columns {missing}; expected {list(INDEX_SCHEMA)}."
            )
        extra = [c for c in frame.columns if c not in INDEX_SCHEMA]
        if extra:
            raise DataError(
                f"{self.name}: index_df has the columns {extra} beyond {list(INDEX_SCHEMA)}; "
                "other per-sample columns belong in the metadata (add_meta)."
            )
        try:
            frame = frame.select([pl.col(c).cast(t, strict=True) for c, t in INDEX_SCHEMA.items()])
        except pl.exceptions.InvalidOperationError as exc:
            raise DataError(f"{self.name}: index_df columns must cast to {INDEX_SCHEMA}: {exc}") from exc
        if frame.height != self._index.height or not frame["sample"].equals(self._index["sample"]):
            raise DataError(
                f"{self.name}: an assigned index_df must keep the {self._index.height} samples in their order "
                f"(column 'sample'); got {frame.height} rows. Use the augmentation helpers to add rows."
            )
        rows = frame["row"].to_numpy()
        n_phys = int(self._sources[0].data.shape[0]) if self._sources else 0
        if rows.size and (rows.min() < 0 or rows.max() >= n_phys):
            raise DataError(
                f"{self.name}: index_df column 'row' must lie in [0, {n_phys}); got {rows.min()}..{rows.max()}."
            )
        self._install(frame)

    def _install(self, frame: pl.DataFrame) -> None:
        self._index = frame
        self._selections: dict[Any, np.ndarray] = {}  # dict filters already resolved on this index
        self._measured = (frame["sample"] == frame["origin"]).to_numpy()
        self._rows = frame["row"].to_numpy().astype(np.int64, copy=False)
        n_phys = int(self._sources[0].data.shape[0]) if self._sources else 0
        self._identity = self._rows.size == n_phys and bool(
            np.array_equal(self._rows, np.arange(n_phys, dtype=np.int64))
        )

    def source(self, source: int | str) -> FeatureSource:
        if isinstance(source, str):
            for s in self._sources:
                if s.name == source:
                    return s
            raise DataError(
                f"{self.name}: no source named {source!r}; sources are {[s.name for s in self._sources]}."
            )
        if not -len(self._sources) <= source < len(self._sources):
            raise DataError(
                f"{self.name}: source {source} does not exist; the dataset has {len(self._sources)}."
            )
        return self._sources[source]

    # ------------------------------------------------------------------ construction
    def add_features(
        self,
        x_list: np.ndarray | Sequence[np.ndarray],
        *,
        names: Sequence[str] | None = None,
        wavelengths: Sequence[Any] | None = None,
        units: Sequence[str | None] | None = None,
        partition: Any = "train",
        group: Any = "0",
        sample: np.ndarray | None = None,
    ) -> pl.DataFrame:
        """Add rows: one 2-D array per source (rows aligned). The first call creates the
        sources (arrays referenced, not copied); later calls append rows to each source.
        New rows get ``sample = row``, ``origin = sample``, partition ``train``, group
        ``"0"``, branch 0 and processing ``raw`` (``partition``, ``group`` and ``sample`` give
        other values, one or one per row). Returns the new index rows."""
        arrays = [x_list] if isinstance(x_list, np.ndarray) else list(x_list)
        shapes = [np.shape(a) for a in arrays]
        if not arrays or any(len(s) != 2 for s in shapes) or len({s[0] for s in shapes}) != 1:
            raise DataError(
                f"{self.name}: add_features expects one 2-D array (rows × features) per source, all with the "
                f"same number of rows; got shapes {shapes}."
            )
        n = shapes[0][0]
        first = self._index.height
        start = int(self._index["sample"].max()) + 1 if first else 0
        samples = (
            np.arange(start, start + n, dtype=np.int64) if sample is None else np.asarray(sample, np.int64)
        )
        if samples.shape != (n,) or np.isin(samples, self._index["sample"].to_numpy()).any():
            raise DataError(
                f"{self.name}: add_features: sample ids must be {n} new ids, one per row; got {samples.tolist()[:5]}…"
            )
        if self._sources:
            self._append_rows(arrays)
        else:
            names = list(names) if names is not None else [f"source_{k}" for k in range(len(arrays))]
            if len(names) != len(arrays) or len(set(names)) != len(names):
                raise DataError(f"{self.name}: expected {len(arrays)} distinct source names; got {names}.")
            wl = list(wavelengths) if wavelengths is not None else [None] * len(arrays)
            un = list(units) if units is not None else [None] * len(arrays)
            self._sources = [
                make_source(np.asarray(a), nm, w, u) for a, nm, w, u in zip(arrays, names, wl, un)
            ]
        part = [str(partition)] * n if isinstance(partition, str) else [str(p) for p in partition]
        grp = (
            [group] * n
            if group is None or isinstance(group, str)
            else [None if g is None else str(g) for g in group]
        )
        added = new_index_rows(first, samples, part, grp)
        if first:
            phys0 = int(self._sources[0].data.shape[0]) - n
            added = added.with_columns(pl.Series("row", np.arange(phys0, phys0 + n, dtype=np.int64)))
        self._install(pl.concat([self._index, added]))
        self._on_change()
        logger.info("%s: add_features: %d rows, %d sources, processing %r", self.name, n, len(arrays), RAW)
        return added

    def _append_rows(self, arrays: list[np.ndarray]) -> None:
        if len(arrays) != len(self._sources):
            raise DataError(
                f"{self.name}: add_features expects {len(self._sources)} source arrays; got {len(arrays)}."
            )
        for src, a in zip(self._sources, arrays):  # every source checked before any grows
            if np.shape(a)[1] != src.n_features or len(src.processings) != 1:
                raise DataError(
                    f"{self.name}: add_features to source {src.name!r} expects {src.n_features} features and a "
                    f"source holding only 'raw'; got {np.shape(a)[1]} features, processings {src.processings}."
                )
        blocks = [
            make_source(np.asarray(a), src.name, None, "index").data for src, a in zip(self._sources, arrays)
        ]
        for src, block in zip(self._sources, blocks):
            src.data = np.concatenate([src.data, block.astype(src.data.dtype, copy=False)], axis=0)
            src.owned = True

    # ------------------------------------------------------------------ selection
    def positions(self, filter: Any = None, *, include_augmented: bool = True) -> np.ndarray:
        """Index positions chosen by ``filter`` (see :mod:`nirs_core.data.filters`); read-only
        (a dict filter's are resolved once per index table: the executor asks often)."""
        key = _cache_key(filter, include_augmented)
        if key is not None and key in self._selections:
            return self._selections[key]
        pos = select(self._index, filter, self.name)
        if not include_augmented:
            pos = pos[self._measured[pos]]
        if key is not None:
            pos.flags.writeable = False
            self._selections[key] = pos
        return pos

    def rows(self, filter: Any = None, *, include_augmented: bool = True) -> np.ndarray | slice:
        """Index positions chosen by ``filter``: a slice when they are contiguous."""
        return as_slice(self.positions(filter, include_augmented=include_augmented))

    def x_exists(self, filter: Any = None) -> bool:
        """Whether ``filter`` selects at least one row."""
        found = bool(self._sources) and self.positions(filter).size > 0
        logger.debug("%s: x_exists: %s", self.name, found)
        return found

    def _physical(self, positions: np.ndarray) -> np.ndarray | slice:
        return as_slice(positions if self._identity else self._rows[positions])

    def _take(self, src: FeatureSource, phys, processings: Sequence[str] | None) -> np.ndarray:
        data = src.data
        if processings is not None:
            missing = [p for p in processings if p not in src.processings]
            if missing:
                raise DataError(
                    f"{self.name}: source {src.name!r} has no processing {missing}; it has {src.processings}."
                )
            data = data[:, as_slice(np.asarray([src.processings.index(p) for p in processings]))]
        return data[phys]

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
        """Spectra of the selected rows: a tuple of one read-only array per source (or one
        concatenated array in a 1-tuple with ``src_concat=True``; ``source`` picks one).

        Layouts, for ``n`` rows, ``k`` processings and ``p`` features: ``2d`` (n, k·p) with
        the processings side by side; ``2d_interlaced`` (n, p·k) interleaved feature by
        feature; ``3d`` (n, k, p); ``3d_transpose`` (n, p, k). A contiguous selection of
        rows is a view in ``2d``, ``3d`` and ``3d_transpose`` (and ``2d_interlaced`` with one
        processing); numpy copies a fancy selection, an interleave of several processings and
        a concatenation of several sources once.
        """
        if layout not in LAYOUTS:
            raise DataError(f"{self.name}: layout must be one of {LAYOUTS}; got {layout!r}.")
        phys = self._physical(self.positions(filter, include_augmented=include_augmented))
        chosen = self._sources if source is None else [self.source(source)]
        blocks = [_shape(self._take(src, phys, processings), layout) for src in chosen]
        if src_concat and len(blocks) > 1:
            blocks = [self._concat(blocks, layout)]
        logger.debug(
            "%s: x: %d rows, %d arrays, layout %s",
            self.name,
            blocks[0].shape[0] if blocks else 0,
            len(blocks),
            layout,
        )
        return tuple(read_only(b) for b in blocks)

    def _concat(self, blocks: list[np.ndarray], layout: str) -> np.ndarray:
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
        self, filter: Any = None, layout: str = "2d", src_concat: bool = False, **kwargs: Any
    ) -> tuple[tuple[np.ndarray, ...], pl.DataFrame]:
        """(the spectra as :meth:`x` gives them, the index rows of the same selection)."""
        pos = self.positions(filter, include_augmented=kwargs.pop("include_augmented", True))
        return self.x(pos, layout, src_concat, **kwargs), self._index[as_slice(pos)]

    # ------------------------------------------------------------------ writes
    def update_x(
        self,
        new_data: np.ndarray | Sequence[np.ndarray],
        indexes: Any = None,
        processing_id: str = RAW,
        *,
        source: int | str | None = None,
        replace: bool = False,
        wavelengths: Any = None,
    ) -> None:
        """Write a processing version: ``new_data`` holds one 2-D array (rows × features) per
        source (a bare array for a single source or with ``source=``); ``indexes`` selects the
        rows (a filter or the index rows from :meth:`get_indexed_features`, in that order).

        - a new ``processing_id``: added beside the old versions; it must cover every row;
        - an existing one: the selected rows are overwritten (an augmented row that shares its
          parent's physical row gets its own first);
        - ``replace=True``: the source keeps only this version, whose width and axis may change
          (crop, resample): pass ``wavelengths`` when they do.
        """
        if source is not None:
            chosen = [self.source(source)]
        else:
            chosen = list(self._sources)
        arrays = [new_data] if isinstance(new_data, np.ndarray) else list(new_data)
        if len(arrays) != len(chosen):
            raise DataError(
                f"{self.name}: update_x expects {len(chosen)} arrays (one per source); got {len(arrays)}."
            )
        pos = self.positions(indexes)
        arrays = [np.asarray(a) for a in arrays]
        # every source checked before any is written: a refused update changes nothing
        axes = [
            self._check_update(src, a, pos, processing_id, replace, wavelengths)
            for src, a in zip(chosen, arrays)
        ]
        added = False
        for src, arr, axis_values in zip(chosen, arrays, axes):
            if replace:
                self._replace(src, arr, pos, processing_id, axis_values)
            elif processing_id in src.processings:
                self._own_rows(pos)
                src.writable()[self._physical(pos), src.processings.index(processing_id)] = arr
            else:
                self._add_processing(src, arr, pos, processing_id)
                added = True
        if added:  # the index lists a processing once, however many sources gained it
            self._install(
                self._index.with_columns(
                    pl.col("processing").list.concat(pl.lit([processing_id], dtype=pl.List(pl.String)))
                )
            )
        self._on_change()
        logger.info(
            "%s: update_x: %d rows, %d sources, processing %r%s",
            self.name,
            pos.size,
            len(chosen),
            processing_id,
            " (replace)" if replace else "",
        )

    def _check_update(self, src, arr, pos, processing_id, replace, wavelengths) -> np.ndarray:
        """Raise unless ``arr`` can be written as ``processing_id`` of ``src`` at ``pos``;
        returns the source's axis after the write."""
        if arr.ndim != 2:
            raise DataError(
                f"{self.name}: update_x expects a 2-D array (rows × features); got shape {arr.shape}."
            )
        if arr.shape[0] != pos.size:
            raise DataError(f"{self.name}: update_x got {arr.shape[0]} rows for a selection of {pos.size}.")
        full = pos.size == self.n_rows
        if replace:
            if not full:
                raise DataError(
                    f"{self.name}: update_x(replace=True) must cover every row ({self.n_rows}); got {pos.size}."
                )
            if wavelengths is None and arr.shape[1] != src.n_features:
                raise DataError(
                    f"{self.name}: update_x changes the width from {src.n_features} to {arr.shape[1]}; pass wavelengths."
                )
            if len(self._sources) > 1 and not self._identity:
                raise DataError(
                    f"{self.name}: update_x(replace=True) on one source of several needs every sample to own its "
                    "physical row; write the augmented rows first."
                )
            if wavelengths is not None:
                return validate_axis(wavelengths, arr.shape[1], f"source {src.name!r}")
        elif processing_id in src.processings:
            if arr.shape[1] != src.n_features:
                raise DataError(
                    f"{self.name}: update_x expects {src.n_features} features; got {arr.shape[1]}."
                )
        elif not full:
            raise DataError(
                f"{self.name}: a new processing {processing_id!r} must cover every row ({self.n_rows}); got {pos.size}."
            )
        elif arr.shape[1] != src.n_features:
            raise DataError(
                f"{self.name}: processing {processing_id!r} has {arr.shape[1]} features; source {src.name!r} has "
                f"{src.n_features} (use replace=True with wavelengths for a change of axis)."
            )
        return src.axis.values

    def _add_processing(self, src, arr, pos, processing_id) -> None:
        self._own_rows(pos)
        phys = self._physical(pos)
        grown = np.empty(
            (src.data.shape[0], len(src.processings) + 1, src.n_features),
            dtype=np.result_type(src.data.dtype, arr.dtype),
        )
        grown[:, :-1] = src.data
        if not (isinstance(phys, slice) and phys == slice(0, src.data.shape[0])):
            grown[:, -1] = 0.0  # physical rows no index row references (deterministic bytes)
        grown[phys, -1] = arr
        src.data, src.owned = grown, True
        src.processings.append(processing_id)

    def _replace(self, src, arr, pos, processing_id, axis_values) -> None:
        order = np.empty_like(pos)
        order[pos] = np.arange(pos.size)  # index order, whatever order the caller gave
        values = np.ascontiguousarray(arr[order] if not np.array_equal(pos, np.arange(pos.size)) else arr)
        src.data = values.astype(np.result_type(values.dtype, np.float32), copy=False)[:, None, :]
        src.owned = not np.may_share_memory(src.data, arr)
        src.processings = [processing_id]
        src.axis = Axis(axis_values, src.axis.unit, src.axis.unit_source)
        frame = self._index.with_columns(pl.Series("processing", [[processing_id]] * self.n_rows))
        if len(self._sources) == 1:
            frame = frame.with_columns(pl.Series("row", np.arange(self.n_rows, dtype=np.int64)))
        self._install(frame)

    def _own_rows(self, pos: np.ndarray) -> None:
        """Give each row of ``pos`` whose physical row other index rows share a row of its own
        (a copy of the shared one), so a write reaches that sample alone."""
        if self._identity or pos.size == 0:
            return
        counts = np.bincount(self._rows, minlength=int(self._sources[0].data.shape[0]))
        shared = pos[counts[self._rows[pos]] > 1]
        if shared.size == 0:
            return
        start = int(self._sources[0].data.shape[0])
        for src in self._sources:
            src.data = np.concatenate([src.data, src.data[self._rows[shared]]], axis=0)
            src.owned = True
        rows = self._rows.copy()
        rows[shared] = np.arange(start, start + shared.size, dtype=np.int64)
        self._install(self._index.with_columns(pl.Series("row", rows)))
        logger.debug("%s: %d augmented rows now own their spectra", self.name, shared.size)

    def augment_samples_x(self, spec: Sequence[tuple[int, int]]) -> pl.DataFrame:
        """Add ``n_copies`` augmented samples of each ``(sample, n_copies)``: new sample ids
        (increasing from the largest one), ``origin`` = the parent's origin (the parent for a
        measured sample), the parent's partition, group and branch, and ``row`` = the parent's
        physical row: the spectra are referenced, not copied, until :meth:`update_x` writes
        the new rows. Targets and metadata follow the parent. Returns the new index rows."""
        pairs = [(int(s), int(k)) for s, k in spec]
        if any(k < 0 for _, k in pairs):
            raise DataError(f"{self.name}: augment_samples_x: n_copies must be ≥ 0; got {pairs}.")
        parents = self.positions(pl.DataFrame({"sample": [s for s, _ in pairs]}, schema={"sample": pl.Int64}))
        parent_pos = np.repeat(parents, [k for _, k in pairs])
        added = self._append_index(parent_pos, self._rows[parent_pos])
        self._on_change()
        logger.info(
            "%s: augment_samples_x: %d rows from %d parents (spectra referenced)",
            self.name,
            parent_pos.size,
            len(pairs),
        )
        return added

    def augment_samples(
        self, x: np.ndarray | Sequence[np.ndarray], origins: Sequence[int] | np.ndarray
    ) -> np.ndarray:
        """Append augmented rows with their spectra given: ``x`` holds each source's new rows,
        (m, features) for one processing or (m, processings, features); ``origins`` the parent
        sample ids. Returns the parent positions (for the followers) after appending."""
        parts = [x] if isinstance(x, np.ndarray) else list(x)
        if len(parts) != len(self._sources):
            raise DataError(
                f"{self.name}: augment_samples expects {len(self._sources)} source arrays; got {len(parts)}."
            )
        origins = np.asarray(origins, dtype=np.int64).ravel()
        sample_col = self._index["sample"].to_numpy()
        known = set(sample_col.tolist())
        missing = [int(o) for o in origins if int(o) not in known]
        if missing:
            raise DataError(f"{self.name}: augment_samples: unknown origin sample ids {missing[:5]}.")
        parent_pos = self.positions(pl.DataFrame({"sample": origins}, schema={"sample": pl.Int64}))
        blocks = []
        for src, part in zip(self._sources, parts):
            a = np.asarray(part)
            a = a[:, None, :] if a.ndim == 2 else a
            if a.shape != (origins.size, len(src.processings), src.n_features):
                raise DataError(
                    f"{self.name}: augment_samples for source {src.name!r} expects shape "
                    f"({origins.size}, {len(src.processings)}, {src.n_features}); got {a.shape}."
                )
            blocks.append(a)
        start = int(self._sources[0].data.shape[0])
        for src, a in zip(self._sources, blocks):
            src.data = np.concatenate([src.data, a.astype(src.data.dtype, copy=False)], axis=0)
            src.owned = True
        added = self._append_index(parent_pos, np.arange(start, start + origins.size, dtype=np.int64))
        self._on_change()
        logger.info("%s: augment_samples: %d rows with their spectra", self.name, origins.size)
        return added

    def _append_index(self, parent_pos: np.ndarray, rows: np.ndarray) -> pl.DataFrame:
        m = parent_pos.size
        samples = self._index["sample"].to_numpy()
        start = int(samples.max()) + 1 if samples.size else 0
        parents = self._index[parent_pos]
        added = parents.with_columns(
            pl.Series("row", rows, dtype=pl.Int64),
            pl.Series("sample", np.arange(start, start + m, dtype=np.int64)),
            pl.Series("origin", parents["origin"]),
        )
        self._install(pl.concat([self._index, added]))
        for follower in self.followers:
            follower.grow(parent_pos)
        return added

    def augment_features_x(self, copies_per_sample: int, *, processing: str | None = None) -> list[str]:
        """Add ``copies_per_sample`` processing versions to every source, each a copy of
        ``processing`` (default: each source's last one), named ``<processing>_copy<i>``, for
        a feature augmentation to overwrite with :meth:`update_x`. Returns the new ids."""
        if copies_per_sample < 1:
            raise DataError(
                f"{self.name}: augment_features_x: copies_per_sample must be ≥ 1; got {copies_per_sample}."
            )
        plan = []  # every source checked before any grows
        for src in self._sources:
            base = processing if processing is not None else src.processings[-1]
            if base not in src.processings:
                raise DataError(
                    f"{self.name}: source {src.name!r} has no processing {base!r}; it has {src.processings}."
                )
            ids = [f"{base}_copy{i}" for i in range(1, copies_per_sample + 1)]
            clash = [i for i in ids if i in src.processings]
            if clash:
                raise DataError(f"{self.name}: source {src.name!r} already has the processings {clash}.")
            plan.append((src, src.processings.index(base), ids))
        for src, k, ids in plan:
            copies = np.repeat(src.data[:, k : k + 1], copies_per_sample, axis=1)
            src.data, src.owned = np.concatenate([src.data, copies], axis=1), True
            src.processings.extend(ids)
        new_ids = list(dict.fromkeys(i for _, _, ids in plan for i in ids))
        added = pl.lit(new_ids, dtype=pl.List(pl.String))
        self._install(self._index.with_columns(pl.col("processing").list.concat(added)))
        self._on_change()
        logger.info(
            "%s: augment_features_x: %d rows, %d sources, processings %s",
            self.name,
            self.n_rows,
            len(self._sources),
            new_ids,
        )
        return new_ids

    def update_indexes(
        self, indexes: Any = None, updates: dict[str, Any] | None = None, **columns: Any
    ) -> None:
        """Set ``partition``, ``group`` or ``branch`` of the selected rows: ``updates`` (or
        keywords) maps a column to one value or one value per selected row."""
        columns = {**(updates or {}), **columns}
        unknown = set(columns) - set(_UPDATABLE)
        if unknown:
            raise DataError(
                f"{self.name}: update_indexes can set {sorted(_UPDATABLE)}; got {sorted(unknown)}."
            )
        pos = self.positions(indexes)
        mask = np.zeros(self.n_rows, dtype=bool)
        mask[pos] = True
        exprs = []
        for key, value in columns.items():
            cast = (
                (lambda v: None if v is None else int(v))
                if key == "branch"
                else (lambda v: None if v is None else str(v))
            )
            if isinstance(value, (list, tuple, np.ndarray)):
                full = self._index[key].to_list()
                for p, v in zip(pos, value, strict=True):
                    full[p] = cast(v)
                exprs.append(pl.Series(key, full, dtype=INDEX_SCHEMA[key]))
            else:
                lit = pl.lit(cast(value), dtype=INDEX_SCHEMA[key])
                exprs.append(pl.when(pl.Series(mask)).then(lit).otherwise(pl.col(key)).alias(key))
        self._install(self._index.with_columns(exprs))
        self._on_change()
        logger.info("%s: update_indexes: %d rows, columns %s", self.name, pos.size, sorted(columns))

    def merge(self, sources: Sequence[int | str] | None = None, name: str = "merged") -> None:
        """Join sources side by side along the feature axis into one (a copy). Their axes are
        concatenated; the unit is kept when all agree, else the axis becomes the index."""
        chosen = [self.source(s) for s in (sources if sources is not None else range(len(self._sources)))]
        if len(chosen) < 2:
            raise DataError(f"{self.name}: merge needs at least two sources; got {len(chosen)}.")
        procs = {tuple(s.processings) for s in chosen}
        if len(procs) != 1:
            raise DataError(
                f"{self.name}: merge needs the same processings in each source; got {sorted(procs)}."
            )
        data = np.concatenate([s.data for s in chosen], axis=2)
        units = {s.axis.unit for s in chosen}
        if len(units) == 1:
            axis = Axis(np.concatenate([s.axis.values for s in chosen]), units.pop(), "merged")
        else:
            axis = Axis(
                np.arange(data.shape[2], dtype=np.float64), "index", f"merged from units {sorted(units)}"
            )
        merged = FeatureSource(
            name, np.ascontiguousarray(data), list(chosen[0].processings), axis, owned=True
        )
        first = self._sources.index(chosen[0])
        self._sources = [s for s in self._sources if s not in chosen]
        self._sources.insert(first, merged)
        self._on_change()
        logger.info(
            "%s: merge: %d rows, sources %s into %r", self.name, self.n_rows, [s.name for s in chosen], name
        )

    def split(
        self, ranges: Sequence[tuple[int, int]], *, source: int | str = 0, names: Sequence[str] | None = None
    ) -> None:
        """Cut one source into several: ``ranges`` are ``(start, stop)`` feature positions
        (``stop`` excluded), one new source each, in place of the old one."""
        src = self.source(source)
        bounds = [(int(a), int(b)) for a, b in ranges]
        bad = [(a, b) for a, b in bounds if not 0 <= a < b <= src.n_features]
        if not bounds or bad:
            raise DataError(
                f"{self.name}: split ranges must be (start, stop) with 0 ≤ start < stop ≤ {src.n_features} for "
                f"source {src.name!r}; got {list(ranges)}."
            )
        names = list(names) if names is not None else [f"{src.name}_{i}" for i in range(len(bounds))]
        if len(names) != len(bounds):
            raise DataError(f"{self.name}: split makes {len(bounds)} parts; got {len(names)} names.")
        wl = src.axis.values
        parts = [
            FeatureSource(
                nm,
                np.ascontiguousarray(src.data[:, :, a:b]),
                list(src.processings),
                Axis(wl[a:b].copy(), src.axis.unit, src.axis.unit_source),
                owned=True,
            )
            for nm, (a, b) in zip(names, bounds)
        ]
        k = self._sources.index(src)
        self._sources[k : k + 1] = parts
        self._on_change()
        logger.info("%s: split: %d rows, source %r into %s", self.name, self.n_rows, src.name, names)


def _cache_key(filter: Any, include_augmented: bool) -> Any:
    """A hashable key for a dict filter of scalars or lists of scalars; None for any other."""
    if filter is None:
        return (include_augmented,)
    if not isinstance(filter, dict):
        return None
    try:
        key = tuple((k, tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in sorted(filter.items()))
        hash(key)
    except TypeError:
        return None
    return (include_augmented, key)


def _shape(block: np.ndarray, layout: str) -> np.ndarray:
    n, k, p = block.shape
    if layout == "2d":
        return block.reshape(n, k * p)
    if layout == "2d_interlaced":
        return block.transpose(0, 2, 1).reshape(n, p * k)
    if layout == "3d_transpose":
        return block.transpose(0, 2, 1)
    return block
