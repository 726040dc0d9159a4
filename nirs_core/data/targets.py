"""The targets of a SpectroDataset: :class:`TargetBlock`, one row per index row, in versions.

Reserved versions: ``raw`` (the values as given, a polars DataFrame), ``regression``
(float64, n × targets; the class codes as floats for classification), ``category`` (int64
class codes) and ``ohe`` (one-hot). :meth:`TargetBlock.update_y` adds processed versions
(a y_processing scaler's output) beside them; ``y(processed=True)`` reads the newest one.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl

from nirs_core.data.features import FeatureBlock, read_only
from nirs_core.data.filters import as_slice
from nirs_core.errors import DataError

__all__ = ["RESERVED_VERSIONS", "TargetBlock", "infer_task"]

logger = logging.getLogger("nirs_core.data")

RESERVED_VERSIONS = ("raw", "regression", "category", "ohe")
LEGACY_VERSIONS = {"numeric": "regression"}  # names in folders of format 1 and in content hashes


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


def _as_frame(y: Any, target_names) -> pl.DataFrame:
    if isinstance(y, pl.Series):
        y = y.to_frame()
    if isinstance(y, pl.DataFrame):
        return y if target_names is None else y.rename(dict(zip(y.columns, target_names, strict=True)))
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
    return pl.DataFrame({nm: arr[:, j] for j, nm in enumerate(names)})


class TargetBlock:
    """Target versions aligned with the index rows of a :class:`FeatureBlock`."""

    def __init__(self, features: FeatureBlock, on_change=None) -> None:
        self._features = features
        self._on_change = on_change or (lambda: None)
        self.names: list[str] = []
        self.raw: pl.DataFrame | None = None
        self.task: str | None = None
        self.task_source: str | None = None
        self.classes: list[Any] = []
        self.versions: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return self._features.name

    def __bool__(self) -> bool:
        return self.raw is not None

    # ------------------------------------------------------------------ writes
    def add_targets(self, y: Any, target_names=None, task: str | None = None) -> None:
        """Set the targets (one row per index row): a polars DataFrame or Series, or a 1-D/2-D
        array; ``task`` is inferred from the first column when None."""
        raw = _as_frame(y, target_names)
        n = self._features.n_rows
        if raw.height != n:
            raise DataError(f"SpectroDataset: y has {raw.height} rows; the spectra have {n}.")
        first = raw.get_column(raw.columns[0])
        if task is None:
            task, reason = infer_task(first)
            reason = f"inferred: {reason}"
        elif task not in ("regression", "binary", "multiclass"):
            raise DataError(f"SpectroDataset: task must be regression, binary or multiclass; got {task!r}.")
        else:
            reason = "given"
        versions = _regression_versions(raw) if task == "regression" else self._class_versions(raw, first)
        self.names, self.raw, self.task, self.task_source = list(raw.columns), raw, task, reason
        self.versions = versions
        self._on_change()
        logger.info(
            "%s: add_targets: %d rows, %d targets, task %s, processing 'raw'", self.name, n, raw.width, task
        )

    def _class_versions(self, raw: pl.DataFrame, first: pl.Series) -> dict[str, np.ndarray]:
        if len(raw.columns) != 1:
            raise DataError(f"SpectroDataset: classification takes one target column; got {raw.columns}.")
        values = first.to_list()
        if any(v is None for v in values):
            raise DataError(f"SpectroDataset: target {raw.columns[0]!r} has missing labels.")
        classes = sorted(set(values), key=lambda v: (str(type(v)), v))
        lookup = {c: i for i, c in enumerate(classes)}
        codes = np.array([lookup[v] for v in values], dtype=np.int64)
        ohe = np.zeros((codes.size, len(classes)), dtype=np.float64)
        ohe[np.arange(codes.size), codes] = 1.0
        self.classes = classes
        return {"category": codes[:, None], "regression": codes[:, None].astype(np.float64), "ohe": ohe}

    def update_y(self, new_values: Any, indexes: Any = None, processing_id: str = "") -> None:
        """Store a processed version ``processing_id`` (e.g. scaled by a y_processing step)
        beside the others; with ``indexes``, overwrite those rows of an existing version."""
        self._require()
        version = processing_id
        if not version or version in ("raw", "category", "ohe"):
            raise DataError(
                f"{self.name}: update_y: processing_id must name a processed version; got {processing_id!r} "
                "('raw', 'category' and 'ohe' are derived from the raw labels and read-only)."
            )
        arr = np.asarray(new_values, dtype=np.float64)
        arr = arr[:, None] if arr.ndim == 1 else arr
        pos = self._features.positions(indexes)
        if version in self.versions and indexes is not None:
            target = np.array(self.versions[version])
            target[pos] = arr
        else:
            if arr.shape[0] != self._features.n_rows:
                raise DataError(
                    f"{self.name}: new target version {version!r} needs {self._features.n_rows} rows; got {arr.shape[0]}."
                )
            target = np.ascontiguousarray(arr)
        self.versions[version] = target
        self._on_change()
        logger.info("%s: update_y: %d rows, processing %r", self.name, pos.size, version)

    def grow(self, parent_pos: np.ndarray) -> None:
        """Rows appended to the index: each new row takes its parent's targets."""
        if self.raw is None:
            return
        self.raw = pl.concat([self.raw, self.raw[parent_pos]])
        self.versions = {k: np.concatenate([v, v[parent_pos]], axis=0) for k, v in self.versions.items()}

    # ------------------------------------------------------------------ reads
    def _require(self) -> None:
        if self.raw is None:
            raise DataError(f"{self.name}: the dataset has no targets.")

    def default_version(self) -> str:
        """The newest processed version, else ``regression`` (class codes as floats for
        classification; ``version="category"`` gives them as integers)."""
        processed = [k for k in self.versions if k not in RESERVED_VERSIONS]
        return processed[-1] if processed else "regression"

    def y(
        self,
        filter: Any = None,
        processed: bool = True,
        *,
        version: str | None = None,
        include_augmented: bool = True,
    ):
        """Targets of the selected rows (read-only; contiguous selections are views).

        ``version`` names one (:data:`RESERVED_VERSIONS` or one added by :meth:`update_y`);
        without it, ``processed=True`` gives :meth:`default_version` as a 2-D array and
        ``processed=False`` the raw values (a polars DataFrame, as given)."""
        if not isinstance(processed, bool):
            raise DataError(
                f"{self.name}: y: processed must be True or False; got {processed!r} (name a version with version=)."
            )
        self._require()
        pos = as_slice(self._features.positions(filter, include_augmented=include_augmented))
        name = version if version is not None else (self.default_version() if processed else "raw")
        logger.debug("%s: y: version %r", self.name, name)
        if name == "raw":
            return self.raw[pos]
        if name not in self.versions:
            raise DataError(
                f"{self.name}: no target version {name!r}; versions are {['raw', *self.versions]}."
            )
        return read_only(self.versions[name][pos])

    def get_indexed_targets(self, filter: Any = None, processed: bool = True, **kwargs: Any):
        """(the targets as :meth:`y` gives them, the index rows of the same selection)."""
        pos = self._features.positions(filter)
        return self.y(pos, processed, **kwargs), self._features.index_df[as_slice(pos)]

    @property
    def table(self) -> pl.DataFrame:
        """Every numeric version in one long table: ``sample``, ``targets`` (a list per row)
        and ``processing`` (the version name)."""
        schema = {"sample": pl.Int64, "targets": pl.List(pl.Float64), "processing": pl.String}
        if self.raw is None:
            return pl.DataFrame(schema=schema)
        samples = self._features.index_df["sample"]
        frames = [
            pl.DataFrame(
                {"sample": samples, "targets": v.astype(np.float64).tolist(), "processing": [k] * v.shape[0]},
                schema=schema,
            )
            for k, v in self.versions.items()
        ]
        return pl.concat(frames)


def _regression_versions(raw: pl.DataFrame) -> dict[str, np.ndarray]:
    try:
        numeric = raw.select(pl.all().cast(pl.Float64)).to_numpy()
    except pl.exceptions.InvalidOperationError as exc:
        raise DataError(f"SpectroDataset: regression targets must be numeric: {exc}") from exc
    if not np.all(np.isfinite(numeric)):
        r, c = np.argwhere(~np.isfinite(numeric))[0]
        raise DataError(
            f"SpectroDataset: target {raw.columns[c]!r}, row {r + 1}: expected a finite number; got {numeric[r, c]}."
        )
    return {"regression": np.ascontiguousarray(numeric)}
