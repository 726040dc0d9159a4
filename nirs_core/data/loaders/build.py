"""Assembling what :mod:`~nirs_core.data.loaders.read` read into a
:class:`~nirs_core.data.dataset.SpectroDataset`: the target, partition, group, sample and
metadata columns chosen (given or inferred, each choice recorded in ``load_info``), the units
of each source, and the errors that name the file, row and column of a bad cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nirs_core.data._csv import HEADER_ROW, row_where
from nirs_core.data.dataset import SpectroDataset
from nirs_core.data.loaders.read import ROW, Options, Parts, auto_partition_column
from nirs_core.data.wavelengths import infer_unit, normalise_unit
from nirs_core.errors import DataError

__all__ = ["build"]


def build(root: Path, parts: Parts, opts: Options, *, unit, name, task) -> SpectroDataset:
    """The dataset of ``parts``, with what was chosen and inferred in ``load_info``."""
    info = parts.info
    targets = _targets(parts, opts)
    side = pl.concat([b.side for b in parts.blocks], how="diagonal_relaxed").drop(ROW)
    X = [
        np.concatenate([b.X[k] for b in parts.blocks], axis=0)
        if len(parts.blocks) > 1
        else parts.blocks[0].X[k]
        for k in range(len(parts.source_names))
    ]
    y = _target_values(parts, side, targets)
    partition, partition_col = _partition(parts, side, opts, targets, X[0].shape[0])
    group = _group(parts, side, opts)
    sample = _sample(parts, side, opts)
    # ---- metadata: every remaining side column
    used = set(targets) | {c for c in (opts.group, opts.sample, partition_col) if c is not None}
    meta_cols = [c for c in side.columns if c not in used]
    info["metadata"] = {
        "columns": meta_cols,
        "how": "non-spectral columns not used as target, group, sample or partition",
    }
    units = _units(unit, parts)
    info["sources"] = [
        _source_info(nm, X[k], parts.axes[k], units[k][1]) for k, nm in enumerate(parts.source_names)
    ]
    info["unit"] = [u[1]["unit"] for u in units]
    return SpectroDataset.from_arrays(
        X if len(X) > 1 else X[0],
        y,
        name=name or (root.stem if root.is_file() else root.name),
        wavelengths=parts.axes,
        units=[u[0] for u in units],
        source_names=parts.source_names,
        partition=partition,
        group=group,
        sample=sample,
        metadata=side.select(meta_cols) if meta_cols else None,
        files=parts.files,
        path=root,
        load_info=info,
        task=task,
    )


def _targets(parts: Parts, opts: Options) -> list[str]:
    """The target columns (given or the layout's default), every option's column checked present."""
    given = opts.target is not None
    targets = list(opts.target) if given else list(parts.default_target)
    for t in targets:
        _require_column(parts, t, "target")
    how = "given" if given else f"inferred: {parts.default_target_reason}"
    parts.info["target"] = {"columns": targets, "how": how}
    for nm, what in ((opts.group, "group"), (opts.sample, "sample"), (opts.partition, "partition")):
        if nm is not None:
            _require_column(parts, nm, what)
    for nm in opts.metadata:
        if all(nm not in b.side.columns for b in parts.blocks):
            _require_column(parts, nm, "metadata")
    return targets


def _target_values(parts: Parts, side: pl.DataFrame, targets: list[str]) -> pl.DataFrame | None:
    if not targets:
        return None
    for t in targets:
        col = side.get_column(t)
        missing = np.flatnonzero(col.is_null().to_numpy())
        if col.dtype != pl.String:
            vals = col.cast(pl.Float64).to_numpy()
            missing = np.flatnonzero(col.is_null().to_numpy() | ~np.isfinite(np.nan_to_num(vals, nan=np.inf)))
        if missing.size:
            r = int(missing[0])
            found = "an empty cell" if col[r] is None else repr(col[r])
            raise DataError(f"{_where_column(parts, t, r)}: expected a target value; found {found}.")
    return side.select(targets)


def _partition(parts: Parts, side: pl.DataFrame, opts: Options, targets: list[str], n: int):
    """(partition per row or None, the column it came from or None), recorded in ``load_info``."""
    info = parts.info
    partition_col = opts.partition
    if partition_col is None and all(b.partition is None for b in parts.blocks):
        partition_col = auto_partition_column(side)
        if partition_col is not None and partition_col in targets:
            partition_col = None
        if partition_col is not None:
            info["partition_column_detected"] = f"{partition_col!r}: a text column named like a partition"
    if partition_col is not None:
        labels = side.get_column(partition_col).cast(pl.String)
        if labels.null_count():
            r = int(np.flatnonzero(labels.is_null().to_numpy())[0])
            raise DataError(
                f"{_where_column(parts, partition_col, r)}: expected a partition label; found an empty cell."
            )
        values = labels.to_list()
        mapping = {
            v: opts.partition_map.get(str(v).strip().lower(), str(v).strip()) for v in dict.fromkeys(values)
        }
        partition = np.array([mapping[v] for v in values], dtype=object)
        info["partition"] = {
            "from": f"column {partition_col!r}",
            "mapping": mapping,
            "counts": _counts(partition),
        }
        return partition, partition_col
    if any(b.partition is not None for b in parts.blocks):
        partition = np.concatenate([np.full(b.side.height, b.partition, dtype=object) for b in parts.blocks])
        info["partition"]["counts"] = _counts(partition)
        return partition, None
    info["partition"] = {"from": "default", "mapping": {}, "counts": {"train": n}}
    return None, None


def _counts(partition: np.ndarray) -> dict[str, int]:
    return {p: int(np.sum(partition == p)) for p in dict.fromkeys(partition.tolist())}


def _group(parts: Parts, side: pl.DataFrame, opts: Options) -> np.ndarray | None:
    if opts.group is None:
        return None
    col = side.get_column(opts.group)
    if col.null_count():
        r = int(np.flatnonzero(col.is_null().to_numpy())[0])
        raise DataError(
            f"{_where_column(parts, opts.group, r)}: expected a group label; found an empty cell."
        )
    group = np.array([_label(v) for v in col.to_list()], dtype=object)
    parts.info["group"] = {"column": opts.group, "n_groups": len(set(group.tolist()))}
    return group


def _sample(parts: Parts, side: pl.DataFrame, opts: Options) -> np.ndarray | None:
    if opts.sample is None:
        return None
    col = side.get_column(opts.sample)
    vals = col.cast(pl.Float64, strict=False).to_numpy() if col.dtype != pl.String else None
    if vals is None or not np.all(np.isfinite(vals)) or not np.all(vals == np.round(vals)):
        bad = 0 if vals is None else int(np.flatnonzero(~np.isfinite(vals) | (vals != np.round(vals)))[0])
        raise DataError(
            f"{_where_column(parts, opts.sample, bad)}: expected an integer sample id; found {col[bad]!r}."
        )
    ids = vals.astype(np.int64)
    uniq, counts = np.unique(ids, return_counts=True)
    if np.any(counts > 1):
        dup = int(uniq[np.flatnonzero(counts > 1)[0]])
        rows = np.flatnonzero(ids == dup)
        raise DataError(
            f"{_where_column(parts, opts.sample, int(rows[1]))}: duplicated sample id {dup} "
            f"(also in {_where_column(parts, opts.sample, int(rows[0])).split(': ', 1)[1]}); expected unique ids."
        )
    parts.info["sample"] = {"column": opts.sample}
    return ids


def _source_info(
    name: str, X: np.ndarray, ax: np.ndarray | None, unit_record: dict[str, Any]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "n_features": int(X.shape[1]),
        "wavelength_range": None if ax is None else [float(ax.min()), float(ax.max())],
        "order": None if ax is None or ax.size < 2 else ("ascending" if ax[1] > ax[0] else "descending"),
    }
    entry.update(unit_record)
    return entry


def _where_column(parts: Parts, column: str, row: int | None = None) -> str:
    """``file: row N (file line, 1-based), column 'name' (column j)`` of a side column."""
    offset = 0
    for block in parts.blocks:
        if column in block.side_origin:
            table, nm = block.side_origin[column]
            if row is None:
                return f"{table.path}: {HEADER_ROW}, {table.column_ref(nm)}"
            if offset <= row < offset + block.side.height:
                if table.info.get("format") == "parquet":
                    return (
                        f"{table.path}: row {row - offset + 1} (table row, 1-based), {table.column_ref(nm)}"
                    )
                return f"{table.path}: {row_where(table.line_of(row - offset))}, {table.column_ref(nm)}"
        offset += block.side.height
    return f"column {column!r}"


def _require_column(parts: Parts, column: str, what: str) -> None:
    """Raise unless every block has ``column`` among its non-spectral columns."""
    for b in parts.blocks:
        if column in b.side.columns:
            continue
        available = [c for c in b.side.columns if c != ROW]
        spectral_note = ""
        ax = parts.axes[0]
        if ax is not None:
            spectral_note = f" (plus {ax.size} spectral columns {ax[0]:g}…{ax[-1]:g})"
        header_ref = "column names" if b.main.info.get("format") == "parquet" else HEADER_ROW
        raise DataError(
            f"{b.main.path}: {header_ref}, column {column!r}: {what} column not found; "
            f"available columns: {', '.join(available) or 'none'}{spectral_note}."
        )


def _label(value: Any) -> str:
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _units(unit, parts: Parts) -> list[tuple[str | None, dict[str, Any]]]:
    """Per source: (unit to pass to from_arrays — None lets the dataset infer it with the same
    rule — , what to record)."""
    k = len(parts.source_names)
    if unit is None:
        given: list[str | None] = [None] * k
    elif isinstance(unit, str):
        given = [unit] * k
    else:
        given = list(unit)
        if len(given) != k:
            raise DataError(
                f"load: unit= gives {len(given)} units for {k} sources {parts.source_names}; expected one per source."
            )
    out = []
    for j, u in enumerate(given):
        ax = parts.axes[j]
        if u is not None:
            nu = normalise_unit(u, f"load: unit for source {parts.source_names[j]!r}")
            out.append((nu, {"unit": nu, "unit_how": "given"}))
            continue
        inferred, reason = infer_unit(ax)
        record: dict[str, Any] = {"unit": inferred, "unit_how": f"inferred: {reason}"}
        if ax is not None and inferred in ("nm", "cm-1"):
            lo, hi = float(ax.min()), float(ax.max())
            if 350 <= lo and hi <= 2600:
                steps = np.abs(np.diff(ax)) if ax.size > 1 else np.array([0.0])
                evidence = [
                    "regular steps" if np.allclose(steps, steps[0]) else "uneven steps",
                    "integer values" if np.all(ax == np.round(ax)) else "non-integer values",
                ]
                record["unit_ambiguous"] = (
                    f"{lo:g}–{hi:g} fits both nanometres (NIR) and wavenumbers (mid-IR); decided by "
                    f"{', '.join(evidence)}; pass unit= to override"
                )
        out.append((None, record))
    return out
