"""Filters of a SpectroDataset: turn what a caller passes as ``filter`` into positions of the
index table (one position per index row, in the index's order, or in the order the caller
gave for explicit positions and index frames).

Accepted everywhere:

- ``None``: every row;
- a dict of index columns to a value or a list of values (``{"partition": "train",
  "group": ["1", "2"]}``); a ``None`` among the values matches a missing (null) cell;
- a polars boolean expression over the index columns (``pl.col("row") < 15``);
- a polars DataFrame holding a ``sample`` column (index rows handed out by
  ``get_indexed_features``): the rows of those samples, in the frame's order;
- a boolean mask with one value per row, an integer array of positions (negative ones count
  from the end) or a slice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from nirs_core.errors import DataError

__all__ = ["as_slice", "jsonable_filter", "select"]


def select(index: pl.DataFrame, filter: Any, owner: str) -> np.ndarray:
    """Index positions (int64) chosen by ``filter``; ``owner`` names the dataset in errors."""
    n = index.height
    if filter is None:
        return np.arange(n, dtype=np.int64)
    if isinstance(filter, np.ndarray):  # the executor's case: checked first
        return _by_array(filter, n, owner, "ndarray")
    if isinstance(filter, slice):
        return np.arange(n, dtype=np.int64)[filter]
    if isinstance(filter, pl.Expr):
        return _by_expression(index, filter, owner)
    if isinstance(filter, pl.DataFrame):
        return _by_frame(index, filter, owner)
    if isinstance(filter, Mapping):
        return _by_columns(index, filter, owner)
    return _by_array(np.asarray(filter), n, owner, type(filter).__name__)


def _by_array(arr: np.ndarray, n: int, owner: str, kind: str) -> np.ndarray:
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise DataError(f"{owner}: boolean filter must have {n} values; got shape {arr.shape}.")
        return np.flatnonzero(arr)
    if np.issubdtype(arr.dtype, np.integer):
        positions = arr.ravel().astype(np.int64, copy=False)
        if positions.size:
            lo, hi = positions.min(), positions.max()
            if lo < -n or hi >= n:
                raise DataError(f"{owner}: row positions must lie in [-{n}, {n}); got {lo}..{hi}.")
            if lo < 0:
                positions = np.where(positions < 0, positions + n, positions)
        return positions
    raise DataError(
        f"{owner}: unsupported filter of type {kind}; expected None, a dict of index "
        "columns, a polars expression, an index DataFrame, a boolean mask, positions or a slice."
    )


def _filterable(index: pl.DataFrame) -> list[str]:
    return [c for c in index.columns if c != "processing"]


def _by_columns(index: pl.DataFrame, filter: Mapping[str, Any], owner: str) -> np.ndarray:
    exprs = []
    for key, wanted in filter.items():
        if key not in index.columns or key == "processing":
            raise DataError(f"{owner}: cannot filter on {key!r}; expected one of {_filterable(index)}.")
        values = list(wanted) if isinstance(wanted, (list, tuple, set, np.ndarray)) else [wanted]
        if index.schema[key] == pl.String:
            values = [None if v is None else str(v) for v in values]
        hit = pl.col(key).is_in([v for v in values if v is not None]).fill_null(False)
        exprs.append(hit | pl.col(key).is_null() if None in values else hit)
    if not exprs:
        return np.arange(index.height, dtype=np.int64)
    mask = index.select(pl.all_horizontal(exprs).alias("_hit")).get_column("_hit").to_numpy()
    return np.flatnonzero(mask)


def _by_expression(index: pl.DataFrame, expr: pl.Expr, owner: str) -> np.ndarray:
    try:
        hit = index.select(expr.alias("_hit")).get_column("_hit")
    except (pl.exceptions.ColumnNotFoundError, pl.exceptions.InvalidOperationError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(
            f"{owner}: could not evaluate the filter expression over the index columns "
            f"{_filterable(index)}: {first}"
        ) from exc
    if hit.dtype != pl.Boolean or hit.len() != index.height:
        raise DataError(
            f"{owner}: a filter expression must give one boolean per index row ({index.height}); "
            f"got {hit.len()} values of type {hit.dtype}."
        )
    return np.flatnonzero(hit.fill_null(False).to_numpy())


def _by_frame(index: pl.DataFrame, frame: pl.DataFrame, owner: str) -> np.ndarray:
    if "sample" not in frame.columns:
        raise DataError(
            f"{owner}: an index DataFrame used as a filter needs a 'sample' column; got columns {frame.columns}."
        )
    samples = index.get_column("sample").to_numpy()
    order = np.argsort(samples, kind="stable")
    wanted = frame.get_column("sample").to_numpy().astype(np.int64)
    at = np.searchsorted(samples, wanted, sorter=order)
    at = np.minimum(at, max(samples.size - 1, 0))
    found = samples.size > 0 and samples[order[at]] == wanted
    if not np.all(found):
        missing = wanted[~np.asarray(found, dtype=bool)] if samples.size else wanted
        raise DataError(f"{owner}: the index DataFrame names unknown sample ids {missing[:5].tolist()}.")
    return order[at].astype(np.int64)


def as_slice(positions: np.ndarray) -> np.ndarray | slice:
    """A slice when the positions are increasing and contiguous (so indexing gives a view)."""
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size == 0:
        return slice(0, 0)
    if positions.size == 1 or (
        positions[-1] - positions[0] == positions.size - 1 and np.all(np.diff(positions) == 1)
    ):
        start = int(positions[0])
        return slice(start, start + positions.size)
    return positions


def jsonable_filter(filter: Any) -> Any:
    """The filter as JSON (for the record of how folds were made)."""
    if filter is None or isinstance(filter, (str, int, float)):
        return filter
    if isinstance(filter, Mapping):
        return {
            k: (list(v) if isinstance(v, (list, tuple, set, np.ndarray)) else v) for k, v in filter.items()
        }
    if isinstance(filter, pl.Expr):
        return str(filter)
    return "custom"
