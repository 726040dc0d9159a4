"""The predictions file of a dataset, ``predictions/<dataset>.parquet``.

One row per model × fold × partition. ``fold`` is the CV fold index (0, 1, …) or one of two
aggregate folds: :data:`REFIT_FOLD` (−1), the model refit on the whole calibration set
(partitions ``train`` and ``test``), and :data:`POOLED_FOLD` (−2), the pooled out-of-fold
predictions of all CV folds (partition ``val``; its ``rmse`` is RMSECV).

Arrays are stored flat, row-major, in ``list<float64>`` columns: ``y_true``/``y_pred`` hold
``n_samples × n_targets`` values, ``y_proba`` (optional) ``n_samples × n_classes``;
:func:`prediction_arrays` gives them back as 2-D numpy arrays. Class labels are stored as
numbers (the pipeline encodes string labels before it predicts).

The parquet footer's key-value metadata holds, under :data:`SUMMARY_KEY`, a JSON summary:
row counts per partition, config, fold, run, model and dataset; facets (distinct values);
per metric and partition the count, min, max, sum and mean of the finite scores; and per metric
and partition the top-k configs. Only aggregate rows (``fold < 0``) are ranked, so a config is
ranked by its RMSECV (pooled val) or its test/refit score, never by one lucky fold; each config
appears once (its best row), ordered by :func:`nirs_core.metrics.badness`.

The summary is maintained incrementally: :func:`append_predictions` merges the summary of
the new rows into the footer's summary; it never recomputes it from the old rows (it still
rewrites the file once: parquet cannot be appended to in place). :func:`read_summary` reads
the footer alone. :func:`rebuild_summary` recomputes it from the rows. Every write is atomic
and made under the file's lock (:func:`nirs_core.store.lock.file_lock`), so concurrent writers
lose nothing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nirs_core.errors import DataError
from nirs_core.metrics import METRICS, badness
from nirs_core.names import PARTITIONS, POOLED_FOLD, REFIT_FOLD
from nirs_core.store._atomic import atomic_path
from nirs_core.store.lock import DEFAULT_TIMEOUT, file_lock

__all__ = [
    "DEFAULT_TOP_K",
    "SCHEMA",
    "SUMMARY_KEY",
    "append_predictions",
    "merge_summaries",
    "prediction_arrays",
    "prediction_table",
    "read_predictions",
    "read_summary",
    "rebuild_summary",
    "summarize",
]

SUMMARY_KEY = b"nirs.predictions.summary"
SUMMARY_FORMAT = "nirs.predictions.summary/1"
DEFAULT_TOP_K = 10
SCORE_COLUMNS = tuple(METRICS)

SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("config_id", pa.string(), nullable=False),
        pa.field("config_name", pa.string(), nullable=False),
        pa.field("template_id", pa.string()),
        pa.field("model", pa.string(), nullable=False),
        pa.field("fold", pa.int32(), nullable=False),
        pa.field("partition", pa.string(), nullable=False),
        pa.field("n_samples", pa.int64(), nullable=False),
        pa.field("n_targets", pa.int32(), nullable=False),
        pa.field("sample", pa.list_(pa.int64()), nullable=False),
        pa.field("y_true", pa.list_(pa.float64()), nullable=False),
        pa.field("y_pred", pa.list_(pa.float64()), nullable=False),
        pa.field("n_classes", pa.int32()),
        pa.field("y_proba", pa.list_(pa.float64())),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("score", pa.float64()),
        *(pa.field(name, pa.float64()) for name in SCORE_COLUMNS),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
_REQUIRED = ("run_id", "dataset", "config_id", "config_name", "model", "fold", "partition", "metric")
_ARRAY_COLUMNS = ("sample", "y_true", "y_pred", "y_proba")
_GROUPS = {
    "partition": "partition",
    "config": "config_id",
    "fold": "fold",
    "run": "run_id",
    "model": "model",
    "dataset": "dataset",
}


# ----------------------------------------------------------------------------- building rows


def _flat(value: Any, where: str, column: str) -> tuple[np.ndarray, int | None]:
    """A 1-D or 2-D array-like as a flat float64 array and its second dimension (None when 1-D)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1:
        return arr, None
    if arr.ndim == 2:
        return arr.reshape(-1), int(arr.shape[1])
    raise DataError(f"{where}: column {column!r} must be a 1-D or 2-D array; got shape {arr.shape}.")


def _list_column(parts: list[np.ndarray | None], field: pa.Field, where: str) -> pa.Array:
    """One list column from each row's flat numpy array (None: a null list). Built from the
    concatenated values and their offsets: converting every array to a Python list and back
    (what ``pa.array(list_of_lists)`` needs) cost most of the time of storing prediction rows;
    the values and their bits are the same."""
    lengths = np.fromiter((0 if a is None else a.size for a in parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] > np.iinfo(np.int32).max:  # beyond a list column's 32-bit offsets: Arrow's own path
        return _column([None if a is None else a.tolist() for a in parts], field, where)
    present = [a for a in parts if a is not None]
    values = np.concatenate(present) if present else np.empty(0, dtype=np.float64)
    try:
        flat = pa.array(values).cast(field.type.value_type)  # a safe cast: 2.5 is no sample index
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise DataError(
            f"{where}: column {field.name!r}: expected values of type {field.type}; {exc}"
        ) from None
    mask = None
    if len(present) < len(parts):
        mask = pa.array([a is None for a in parts], type=pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat, type=field.type, mask=mask)


def _rows_to_table(rows: Sequence[Mapping[str, Any]], where: str) -> pa.Table:
    known = set(SCHEMA.names)
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    now = datetime.now(UTC)
    for i, row in enumerate(rows):
        at = f"{where}: row {i}"
        unknown = sorted(set(row) - known)
        if unknown:
            raise DataError(f"{at}: unknown column(s) {unknown}; expected names among {SCHEMA.names}.")
        missing = [name for name in (*_REQUIRED, "sample", "y_true", "y_pred") if row.get(name) is None]
        if missing:
            raise DataError(f"{at}: missing required column(s) {missing}.")
        sample = np.asarray(row["sample"]).reshape(-1)
        y_true, t_true = _flat(row["y_true"], at, "y_true")
        y_pred, t_pred = _flat(row["y_pred"], at, "y_pred")
        n_targets = row.get("n_targets")
        if n_targets is None:
            n_targets = t_true or t_pred or 1
        y_proba, n_classes = None, row.get("n_classes")
        if row.get("y_proba") is not None:
            y_proba, c = _flat(row["y_proba"], at, "y_proba")
            n_classes = c if n_classes is None else n_classes
        values = dict(row)
        values.update(
            sample=sample,
            y_true=y_true,
            y_pred=y_pred,
            y_proba=y_proba,
            n_targets=n_targets,
            n_classes=n_classes,
            n_samples=row.get("n_samples", len(sample)),
            created_at=row.get("created_at") or now,
        )
        for name in SCHEMA.names:
            columns[name].append(values.get(name))
    return pa.Table.from_arrays(
        [
            _list_column(columns[f.name], f, where)
            if f.name in _ARRAY_COLUMNS
            else _column(columns[f.name], f, where)
            for f in SCHEMA
        ],
        schema=SCHEMA,
    )


def _column(values: Any, field: pa.Field, where: str) -> pa.Array | pa.ChunkedArray:
    """``values`` (a list or an Arrow column) as an Arrow column of ``field``'s type."""
    try:
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            return values.cast(field.type)
        return pa.array(values, type=field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise DataError(
            f"{where}: column {field.name!r}: expected values of type {field.type}; {exc}"
        ) from None


def _as_table(rows: Any, where: str) -> pa.Table:
    if isinstance(rows, pl.DataFrame):
        rows = rows.to_arrow()
    if isinstance(rows, pa.Table):
        unknown = sorted(set(rows.column_names) - set(SCHEMA.names))
        if unknown:
            raise DataError(f"{where}: unknown column(s) {unknown}; expected names among {SCHEMA.names}.")
        n = rows.num_rows
        defaults = {"created_at": pa.array([datetime.now(UTC)] * n, SCHEMA.field("created_at").type)}
        defaults["n_targets"] = pa.array([1] * n, pa.int32())
        if "sample" in rows.column_names:
            defaults["n_samples"] = pc.list_value_length(rows["sample"]).cast(pa.int64())
        for name, default in defaults.items():
            if name not in rows.column_names:
                rows = rows.append_column(name, default)
        missing = [f.name for f in SCHEMA if f.name not in rows.column_names and not f.nullable]
        if missing:
            raise DataError(f"{where}: missing required column(s) {missing}.")
        arrays = [
            _column(rows[f.name], f, where) if f.name in rows.column_names else pa.nulls(n, f.type)
            for f in SCHEMA
        ]
        return pa.Table.from_arrays(arrays, schema=SCHEMA)
    if isinstance(rows, Mapping):
        rows = [rows]
    return _rows_to_table(list(rows), where)


def prediction_table(
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Any] | pl.DataFrame | pa.Table, where: str
) -> pa.Table:
    """``rows`` (as :func:`append_predictions` takes them) as a checked Arrow table of
    :data:`SCHEMA`; errors name ``where``. What a Dask worker builds for the driver to append,
    so that the driver only concatenates tables."""
    return _fill_and_check_scores(_as_table(rows, where), where)


def _fill_and_check_scores(table: pa.Table, where: str) -> pa.Table:
    """Validate the rows and make ``score`` and the column of each row's ``metric`` agree."""
    n = table.num_rows
    for name in (*_REQUIRED, "n_samples", "n_targets", "sample", "y_true", "y_pred", "created_at"):
        nulls = table[name].null_count
        if nulls:
            first = table[name].is_null().to_pylist().index(True)
            raise DataError(f"{where}: row {first}: column {name!r} is null; expected a value in every row.")
    bad = pc.invert(pc.is_in(table["partition"], pa.array(PARTITIONS)))
    if pc.any(bad).as_py():
        i = bad.to_pylist().index(True)
        raise DataError(
            f"{where}: row {i}: column 'partition' must be one of {list(PARTITIONS)}; got {table['partition'][i].as_py()!r}."
        )
    bad = pc.invert(pc.is_in(table["metric"], pa.array(SCORE_COLUMNS)))
    if pc.any(bad).as_py():
        i = bad.to_pylist().index(True)
        raise DataError(
            f"{where}: row {i}: column 'metric' must be one of {list(SCORE_COLUMNS)}; got {table['metric'][i].as_py()!r}."
        )
    bad = pc.less(table["fold"], POOLED_FOLD)
    if pc.any(bad).as_py():
        i = bad.to_pylist().index(True)
        raise DataError(
            f"{where}: row {i}: column 'fold' must be a fold index >= 0, {REFIT_FOLD} (refit) or "
            f"{POOLED_FOLD} (pooled out-of-fold); got {table['fold'][i].as_py()}."
        )
    n_samples = table["n_samples"].to_numpy()
    n_targets = table["n_targets"].to_numpy()
    for name, values in (("n_samples", n_samples), ("n_targets", n_targets)):
        wrong = np.flatnonzero(values < (1 if name == "n_targets" else 0))
        if wrong.size:
            i = int(wrong[0])
            raise DataError(
                f"{where}: row {i}: column {name!r} must be >= {int(name == 'n_targets')}; got {values[i]}."
            )
    for name, expected, label in (
        ("sample", n_samples, "n_samples"),
        ("y_true", n_samples * n_targets, "n_samples × n_targets"),
        ("y_pred", n_samples * n_targets, "n_samples × n_targets"),
    ):
        lengths = pc.list_value_length(table[name]).to_numpy(zero_copy_only=False)
        wrong = np.flatnonzero(lengths != expected)
        if wrong.size:
            i = int(wrong[0])
            raise DataError(
                f"{where}: row {i}: column {name!r} has {lengths[i]} values; expected {label} = {expected[i]}."
            )
    if table["y_proba"].null_count < n:
        has = pc.invert(table["y_proba"].is_null()).to_numpy(zero_copy_only=False)
        lengths = pc.list_value_length(table["y_proba"]).fill_null(0).to_numpy(zero_copy_only=False)
        classes = table["n_classes"].fill_null(0).to_numpy(zero_copy_only=False)
        wrong = np.flatnonzero(has & ((classes < 1) | (lengths != n_samples * classes)))
        if wrong.size:
            i = int(wrong[0])
            raise DataError(
                f"{where}: row {i}: column 'y_proba' has {lengths[i]} values; expected n_samples × n_classes "
                f"= {n_samples[i]} × {classes[i]} with n_classes >= 1."
            )
    # score <-> metric column
    metrics = table["metric"].to_pylist()
    score = table["score"].to_pylist()
    by_metric = {name: table[name].to_pylist() for name in SCORE_COLUMNS}
    for i, metric in enumerate(metrics):
        s, m = score[i], by_metric[metric][i]
        if s is None:
            score[i] = m
        elif m is None:
            by_metric[metric][i] = s
        elif not (s == m or (math.isnan(s) and math.isnan(m))):
            raise DataError(
                f"{where}: row {i}: column 'score' ({s!r}) must equal column {metric!r} ({m!r}), "
                f"the row's metric."
            )
    table = table.set_column(
        table.schema.get_field_index("score"), SCHEMA.field("score"), pa.array(score, pa.float64())
    )
    for name in SCORE_COLUMNS:
        table = table.set_column(
            table.schema.get_field_index(name), SCHEMA.field(name), pa.array(by_metric[name], pa.float64())
        )
    return table


# ----------------------------------------------------------------------------- summaries


def _empty_summary(top_k: int) -> dict[str, Any]:
    return {
        "format": SUMMARY_FORMAT,
        "n_rows": 0,
        "counts": {group: {} for group in _GROUPS},
        "facets": {},
        "configs": {},
        "scores": {},
        "top_k": {"k": top_k, "rankings": {}},
    }


def _entry_order(metric: str, entry: Mapping[str, Any]) -> tuple:
    return (
        badness(metric, entry["score"]),
        entry["config_id"],
        entry["run_id"],
        entry["model"],
        entry["fold"],
    )


def _top(metric: str, entries: Iterable[Mapping[str, Any]], k: int) -> list[dict[str, Any]]:
    """The best entry of each config, best first, at most ``k``."""
    best: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        current = best.get(entry["config_id"])
        if current is None or _entry_order(metric, entry) < _entry_order(metric, current):
            best[entry["config_id"]] = entry
    return [dict(e) for e in sorted(best.values(), key=lambda e: _entry_order(metric, e))[:k]]


def _finalize(summary: dict[str, Any]) -> dict[str, Any]:
    """Derive the redundant fields (facets, means) and put every mapping in sorted order, so
    that two summaries of the same rows are equal however they were built."""
    counts = summary["counts"]
    for group in counts:
        counts[group] = dict(sorted(counts[group].items(), key=lambda kv: _sort_key(group, kv[0])))
    summary["facets"] = {
        "datasets": list(counts["dataset"]),
        "runs": list(counts["run"]),
        "models": list(counts["model"]),
        "configs": list(counts["config"]),
        "partitions": [p for p in PARTITIONS if p in counts["partition"]],
        "folds": [int(f) for f in counts["fold"]],
        "metrics": sorted(summary["facets"].get("metrics", [])),
    }
    summary["configs"] = dict(sorted(summary["configs"].items()))
    scores = {}
    for metric in sorted(summary["scores"]):
        scores[metric] = {}
        for partition in PARTITIONS:
            stats = summary["scores"][metric].get(partition)
            if stats is None:
                continue
            stats["mean"] = stats["sum"] / stats["count"] if stats["count"] else None
            scores[metric][partition] = {
                key: stats[key] for key in ("count", "n_nonfinite", "min", "max", "sum", "mean")
            }
    summary["scores"] = scores
    rankings = summary["top_k"]["rankings"]
    summary["top_k"]["rankings"] = {
        metric: {p: rankings[metric][p] for p in PARTITIONS if p in rankings[metric]}
        for metric in sorted(rankings)
    }
    return summary


def _sort_key(group: str, key: str) -> tuple:
    return (int(key), "") if group == "fold" else (0, key)


def summarize(table: pa.Table | pl.DataFrame, *, top_k: int = DEFAULT_TOP_K) -> dict[str, Any]:
    """The summary of ``table``'s rows (the JSON object stored in the footer)."""
    frame = (
        pl.from_arrow(table.select([c for c in table.column_names if c not in _ARRAY_COLUMNS]))
        if isinstance(table, pa.Table)
        else table.drop([c for c in _ARRAY_COLUMNS if c in table.columns])
    )
    summary = _empty_summary(top_k)
    summary["n_rows"] = frame.height
    if frame.height == 0:
        return _finalize(summary)
    for group, column in _GROUPS.items():
        counted = frame.group_by(column).len()
        summary["counts"][group] = {str(k): int(v) for k, v in zip(counted[column], counted["len"])}
    summary["facets"]["metrics"] = sorted(frame["metric"].unique().to_list())
    names = frame.select("config_id", "config_name").unique(subset="config_id", keep="first")
    summary["configs"] = dict(zip(names["config_id"], names["config_name"]))
    # every metric's statistics in one query, and the refit rows read once for the rankings
    # (a query per metric and per statistic cost more than the rows themselves)
    aggs = []
    for metric in SCORE_COLUMNS:
        col = pl.col(metric)
        finite = col.filter(col.is_finite())
        aggs += [
            col.is_not_null().sum().alias(f"{metric}\0present"),
            col.is_finite().sum().alias(f"{metric}\0count"),
            (col.is_not_null() & ~col.is_finite()).sum().alias(f"{metric}\0n_nonfinite"),
            finite.min().alias(f"{metric}\0min"),
            finite.max().alias(f"{metric}\0max"),
            finite.sum().alias(f"{metric}\0sum"),
        ]
    for row in frame.group_by("partition").agg(aggs).iter_rows(named=True):
        for metric in SCORE_COLUMNS:
            if not row[f"{metric}\0present"]:
                continue
            count = int(row[f"{metric}\0count"])
            summary["scores"].setdefault(metric, {})[row["partition"]] = {
                "count": count,
                "n_nonfinite": int(row[f"{metric}\0n_nonfinite"]),
                "min": row[f"{metric}\0min"],
                "max": row[f"{metric}\0max"],
                "sum": float(row[f"{metric}\0sum"]) if count else 0.0,
            }
    refits = frame.filter(pl.col("fold") < 0).select(
        "partition", "config_id", "config_name", "run_id", "model", "fold", *SCORE_COLUMNS
    )
    per_metric: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in refits.iter_rows(named=True):
        for metric in SCORE_COLUMNS:
            value = row[metric]
            if value is None or not math.isfinite(value):
                continue
            per_metric.setdefault(metric, {}).setdefault(row["partition"], []).append(
                {
                    "config_id": row["config_id"],
                    "config_name": row["config_name"],
                    "run_id": row["run_id"],
                    "model": row["model"],
                    "fold": int(row["fold"]),
                    "score": float(value),
                }
            )
    for metric, per_partition in per_metric.items():
        summary["top_k"]["rankings"][metric] = {p: _top(metric, e, top_k) for p, e in per_partition.items()}
    return _finalize(summary)


def merge_summaries(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of the union of two sets of rows, from their two summaries alone (uses the
    ``k`` of ``old``). Exact for counts, facets, min, max and top-k; sums and means equal the
    recomputed ones up to float rounding."""
    k = int(old["top_k"]["k"])
    merged = _empty_summary(k)
    merged["n_rows"] = old["n_rows"] + new["n_rows"]
    for group in _GROUPS:
        counts = dict(old["counts"].get(group, {}))
        for key, value in new["counts"].get(group, {}).items():
            counts[key] = counts.get(key, 0) + value
        merged["counts"][group] = counts
    merged["facets"]["metrics"] = sorted(
        set(old["facets"].get("metrics", [])) | set(new["facets"].get("metrics", []))
    )
    merged["configs"] = {**new["configs"], **old["configs"]}
    for metric in set(old["scores"]) | set(new["scores"]):
        merged["scores"][metric] = {}
        for partition in PARTITIONS:
            a = old["scores"].get(metric, {}).get(partition)
            b = new["scores"].get(metric, {}).get(partition)
            if a is None or b is None:
                if a is not None or b is not None:
                    merged["scores"][metric][partition] = dict(a or b)
                continue
            merged["scores"][metric][partition] = {
                "count": a["count"] + b["count"],
                "n_nonfinite": a["n_nonfinite"] + b["n_nonfinite"],
                "min": _opt(min, a["min"], b["min"]),
                "max": _opt(max, a["max"], b["max"]),
                "sum": a["sum"] + b["sum"],
            }
    old_r, new_r = old["top_k"]["rankings"], new["top_k"]["rankings"]
    for metric in set(old_r) | set(new_r):
        merged["top_k"]["rankings"][metric] = {}
        for partition in PARTITIONS:
            entries = old_r.get(metric, {}).get(partition, []) + new_r.get(metric, {}).get(partition, [])
            if entries:
                merged["top_k"]["rankings"][metric][partition] = _top(metric, entries, k)
    return _finalize(merged)


def _opt(pick, a, b):
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)


# ----------------------------------------------------------------------------- files


def _write(path: Path, table: pa.Table, summary: Mapping[str, Any]) -> None:
    text = json.dumps(summary, separators=(",", ":"), allow_nan=False)
    with atomic_path(path) as tmp:
        # store_schema=False: the Arrow schema would repeat any schema metadata in the footer;
        # every column type here round-trips through parquet's own logical types.
        with pq.ParquetWriter(tmp, SCHEMA, compression="zstd", store_schema=False) as writer:
            writer.write_table(table, row_group_size=65_536)
            writer.add_key_value_metadata({SUMMARY_KEY: text.encode("utf-8")})


def _read_table(path: Path) -> pa.Table:
    table = pq.read_table(path, memory_map=True)
    if set(table.column_names) != set(SCHEMA.names):
        raise DataError(
            f"{path}: expected the predictions columns {SCHEMA.names}; got {table.column_names}. "
            "Was it written by another program?"
        )
    return table.select(SCHEMA.names).cast(SCHEMA).replace_schema_metadata(None)


def append_predictions(
    path: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Any] | pl.DataFrame | pa.Table,
    *,
    top_k: int = DEFAULT_TOP_K,
    lock_timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """Append prediction rows to the file ``path`` (created when absent) and return its new
    summary.

    ``rows`` is a list of mappings (arrays may be numpy; 2-D ``y_true``/``y_pred`` set
    ``n_targets``, a 2-D ``y_proba`` sets ``n_classes``; ``n_samples`` defaults to
    ``len(sample)``, ``score`` to the value of the row's metric column and vice versa), a polars
    DataFrame or an Arrow table with the columns of :data:`SCHEMA`. ``top_k`` applies when the
    file is created; an existing file keeps its own.
    """
    target = Path(path)
    new = prediction_table(rows, str(target))
    with file_lock(target, timeout=lock_timeout):
        if target.exists() and new.num_rows == 0:
            return read_summary(target)
        if target.exists():
            old_summary = read_summary(target)
            summary = merge_summaries(old_summary, summarize(new, top_k=old_summary["top_k"]["k"]))
            table = pa.concat_tables([_read_table(target), new])
        else:
            summary, table = summarize(new, top_k=top_k), new
        _write(target, table, summary)
    return summary


def read_summary(source: str | os.PathLike[str] | BinaryIO) -> dict[str, Any]:
    """The JSON summary in the footer of a predictions file (a path or a seekable binary file
    object). Reads the footer only: no row group is read or decoded."""
    name = getattr(source, "name", source)
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise FileNotFoundError(f"read_summary: expected a predictions parquet file at {source}; found none.")
    try:
        metadata = pq.read_metadata(source)
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"{name}: expected a parquet file; pyarrow could not read its footer ({exc})."
        ) from None
    kv = metadata.metadata or {}
    raw = kv.get(SUMMARY_KEY)
    if raw is None:
        raise DataError(
            f"{name}: expected the key {SUMMARY_KEY.decode()!r} in the parquet footer; found keys "
            f"{sorted(k.decode(errors='replace') for k in kv)}. Run `nirs workspace rebuild-summaries`."
        )
    try:
        summary = json.loads(raw)
    except ValueError as exc:
        raise DataError(f"{name}: the footer summary is not valid JSON ({exc}).") from None
    if not isinstance(summary, dict) or summary.get("format") != SUMMARY_FORMAT:
        found = summary.get("format") if isinstance(summary, dict) else type(summary).__name__
        raise DataError(f"{name}: expected a footer summary of format {SUMMARY_FORMAT!r}; got {found!r}.")
    return summary


def rebuild_summary(
    path: str | os.PathLike[str], *, top_k: int | None = None, lock_timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Any]:
    """Recompute the summary of ``path`` from its rows, rewrite the file with it and return it
    (``top_k`` defaults to the file's own ``k``, or :data:`DEFAULT_TOP_K` when the footer has
    no readable summary)."""
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(
            f"rebuild_summary: expected a predictions parquet file at {target}; found none."
        )
    with file_lock(target, timeout=lock_timeout):
        if top_k is None:
            try:
                top_k = int(read_summary(target)["top_k"]["k"])
            except DataError:
                top_k = DEFAULT_TOP_K
        table = _read_table(target)
        summary = summarize(table, top_k=top_k)
        _write(target, table, summary)
    return summary


def _isin(column: str, value: Any) -> pc.Expression:
    values = [value] if isinstance(value, (str, int)) else list(value)
    return pc.field(column).isin(values)


def read_predictions(
    path: str | os.PathLike[str],
    *,
    run_id: str | Iterable[str] | None = None,
    dataset: str | Iterable[str] | None = None,
    config_id: str | Iterable[str] | None = None,
    model: str | Iterable[str] | None = None,
    fold: int | Iterable[int] | None = None,
    partition: str | Iterable[str] | None = None,
    metric: str | Iterable[str] | None = None,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Rows of a predictions file as a polars DataFrame; each filter keeps the rows whose column
    equals the value (or one of the values); ``columns`` selects columns (skip the arrays to read
    fast)."""
    target = Path(path)
    if not target.is_file():
        raise FileNotFoundError(
            f"read_predictions: expected a predictions parquet file at {target}; found none."
        )
    if columns is not None:
        unknown = sorted(set(columns) - set(SCHEMA.names))
        if unknown:
            raise DataError(f"{target}: unknown column(s) {unknown}; expected names among {SCHEMA.names}.")
    filters = {
        "run_id": run_id,
        "dataset": dataset,
        "config_id": config_id,
        "model": model,
        "fold": fold,
        "partition": partition,
        "metric": metric,
    }
    expression = None
    for column, value in filters.items():
        if value is not None:
            term = _isin(column, value)
            expression = term if expression is None else expression & term
    table = pq.read_table(
        target, columns=list(columns) if columns else None, filters=expression, memory_map=True
    )
    return pl.from_arrow(table.replace_schema_metadata(None))


def prediction_arrays(row: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of one row (a mapping, e.g. from ``DataFrame.iter_rows(named=True)``) in their
    natural shape: ``sample`` (n,), ``y_true``/``y_pred`` (n,) for one target or
    (n, n_targets), ``y_proba`` (n, n_classes) when present."""
    n, t = int(row["n_samples"]), int(row["n_targets"])
    shape = (n,) if t == 1 else (n, t)
    out = {
        "sample": np.asarray(row["sample"], dtype=np.int64),
        "y_true": np.asarray(row["y_true"], dtype=np.float64).reshape(shape),
        "y_pred": np.asarray(row["y_pred"], dtype=np.float64).reshape(shape),
    }
    if row.get("y_proba") is not None:
        out["y_proba"] = np.asarray(row["y_proba"], dtype=np.float64).reshape(n, int(row["n_classes"]))
    return out
