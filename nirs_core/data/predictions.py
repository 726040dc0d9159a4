"""Predictions kept with a SpectroDataset: :class:`PredictionBlock`, one row per model × fold ×
repeat × partition block, in the target processing it was made in.

Columns of :attr:`PredictionBlock.table`: ``sample`` (the sample ids, a list; null when not
given), ``model``, ``fold``, ``repeat``, ``partition``, ``processing`` (the target version the
values are in), ``seed``, ``preds`` (a list of rows), ``preds_raw`` (the values brought back
to the raw target scale by :meth:`PredictionBlock.inverse_transform_prediction`; null
before), and any further key of the ``meta`` dict given to ``add_prediction`` (``y_true``,
scores…).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from nirs_core.errors import DataError

__all__ = ["PREDICTION_SCHEMA", "PredictionBlock"]

logger = logging.getLogger("nirs_core.data")

PREDICTION_SCHEMA = {
    "sample": pl.List(pl.Int64),
    "model": pl.String,
    "fold": pl.String,
    "repeat": pl.Int64,
    "partition": pl.String,
    "processing": pl.String,
    "seed": pl.Int64,
    "preds": pl.List(pl.List(pl.Float64)),
    "preds_raw": pl.List(pl.List(pl.Float64)),
}
_REQUIRED = ("model", "fold", "partition")


class PredictionBlock:
    """Prediction blocks of a dataset (see the module docstring)."""

    def __init__(self, name: str = "dataset", on_change=None) -> None:
        self.name = name
        self._on_change = on_change or (lambda: None)
        self._rows: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self._rows)

    def add_prediction(self, values: Any, meta: Mapping[str, Any]) -> None:
        """Record one block: ``values`` (n × targets; 1-D is one target) and ``meta`` with
        ``model``, ``fold``, ``partition`` (required), ``repeat`` (default 0), ``processing``
        (default ``regression``), ``seed``, ``sample`` (ids, one per value row) and any
        further metadata (kept as columns)."""
        missing = [k for k in _REQUIRED if k not in meta]
        if missing:
            raise DataError(f"{self.name}: add_prediction: meta lacks {missing}; got keys {sorted(meta)}.")
        preds = np.asarray(values, dtype=np.float64)
        preds = preds.reshape(preds.shape[0], -1) if preds.ndim else preds.reshape(1, 1)
        sample = meta.get("sample")
        if sample is not None and len(sample) != preds.shape[0]:
            raise DataError(
                f"{self.name}: add_prediction got {preds.shape[0]} predictions for {len(sample)} samples."
            )
        row = {k: _plain(v) for k, v in meta.items() if k not in PREDICTION_SCHEMA}
        row.update(
            sample=None if sample is None else [int(s) for s in sample],
            model=str(meta["model"]),
            fold=str(meta["fold"]),
            repeat=int(meta.get("repeat", 0)),
            partition=str(meta["partition"]),
            processing=str(meta.get("processing", "regression")),
            seed=None if meta.get("seed") is None else int(meta["seed"]),
            preds=preds.tolist(),
            preds_raw=preds.tolist() if meta.get("processing") == "raw" else None,
        )
        self._rows.append(row)
        self._on_change()
        logger.info(
            "%s: add_prediction: %d rows, model %r, fold %s, partition %s, processing %r",
            self.name,
            preds.shape[0],
            row["model"],
            row["fold"],
            row["partition"],
            row["processing"],
        )

    @property
    def table(self) -> pl.DataFrame:
        """The blocks as a polars table (columns in the module docstring)."""
        extra = sorted({k for r in self._rows for k in r} - set(PREDICTION_SCHEMA))
        base = pl.DataFrame(
            [{k: r.get(k) for k in PREDICTION_SCHEMA} for r in self._rows], schema=PREDICTION_SCHEMA
        )
        if not extra:
            return base
        more = pl.DataFrame([{k: r.get(k) for k in extra} for r in self._rows], infer_schema_length=None)
        return pl.concat([base, more], how="horizontal")

    def load_table(self, table: pl.DataFrame) -> None:
        """Replace the blocks with those of a saved table."""
        self._rows = table.to_dicts()

    def _select(self, filter: Any) -> list[int]:
        table = self.table
        if filter is None:
            return list(range(len(self._rows)))
        if isinstance(filter, pl.Expr):
            hit = table.with_row_index("_i").filter(filter)["_i"].to_list()
            return [int(i) for i in hit]
        if not isinstance(filter, Mapping):
            raise DataError(
                f"{self.name}: a prediction filter is a dict of columns or a polars expression; "
                f"got {type(filter).__name__}."
            )
        unknown = [k for k in filter if k not in table.columns]
        if unknown:
            raise DataError(
                f"{self.name}: cannot filter predictions on {unknown}; columns are {table.columns}."
            )
        out = []
        for i, r in enumerate(self._rows):
            ok = True
            for k, wanted in filter.items():
                values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
                ok &= r.get(k) in values or str(r.get(k)) in [str(v) for v in values]
            if ok:
                out.append(i)
        return out

    def prediction(self, filter: Any = None, processed: bool = True) -> list[np.ndarray]:
        """The values of the blocks ``filter`` selects (a dict of column equalities or a polars
        expression over :attr:`table`), one read-only 2-D array per block: in the processing
        they were made in (``processed=True``) or on the raw target scale (``processed=False``,
        after :meth:`inverse_transform_prediction`)."""
        key = "preds" if processed else "preds_raw"
        out = []
        for i in self._select(filter):
            values = self._rows[i][key]
            if values is None:
                raise DataError(
                    f"{self.name}: prediction block {i} ({self._rows[i]['model']}, fold {self._rows[i]['fold']}) has no "
                    "raw-scale values; call inverse_transform_prediction(transformers) first."
                )
            arr = np.asarray(values, dtype=np.float64)
            arr.flags.writeable = False
            out.append(arr)
        logger.debug("%s: prediction: %d blocks", self.name, len(out))
        return out

    def inverse_transform_prediction(self, transformers: Sequence[Any] | Any, filter: Any = None) -> int:
        """Bring the values of every selected block not already raw back to the raw target
        scale: each fitted transformer's ``inverse_transform``, last one first (the order a
        y_processing chain was applied in). Returns the number of blocks transformed."""
        chain = list(transformers) if isinstance(transformers, (list, tuple)) else [transformers]
        done = 0
        for i in self._select(filter):
            row = self._rows[i]
            values = np.asarray(row["preds"], dtype=np.float64)
            if row["processing"] != "raw":
                for t in reversed(chain):
                    values = np.asarray(t.inverse_transform(values), dtype=np.float64).reshape(
                        values.shape[0], -1
                    )
                done += 1
            row["preds_raw"] = values.tolist()
        self._on_change()
        logger.info(
            "%s: inverse_transform_prediction: %d blocks through %d transformers", self.name, done, len(chain)
        )
        return done


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
