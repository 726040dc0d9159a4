"""What the per-result and per-dataset assets hold: references into the engine's workspace,
not copies of what the engine stores.

A Dagster run of ``fitted_pipeline`` is an engine run (:func:`nirs_core.app.run.run`): its
results, manifests, runtime graphs, artefacts and prediction rows are in the workspace like
those of ``nirs run``. The assets' values name them:

- :class:`ResultRecord` (``fitted_pipeline``): one result, ``runs/<run_id>/results/<dataset>/<config_id>/``;
- :class:`PredictionsRecord` (``predictions``): its rows in ``predictions/<dataset>.parquet``;
- :class:`DatasheetRecord` (``datasheet``): ``datasheets/<dataset>/datasheet.{md,json}`` and its plots;
- :class:`BundleRecord` (``model_bundle``): ``bundles/<dataset>.n4b.zip`` and the result it packs.

The IO manager stores a record as a small JSON file (:meth:`to_json`, paths relative to the
workspace) and gives it back bound to the workspace it reads (:func:`record_from_json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nirs_core.errors import DataError
from nirs_core.names import REFIT_FOLD
from nirs_core.store.workspace import Workspace

__all__ = [
    "RECORD_TYPES",
    "BundleRecord",
    "DatasheetRecord",
    "PredictionsRecord",
    "ResultRecord",
    "prediction_tables",
    "record_from_json",
    "record_kind",
]


@dataclass(frozen=True)
class ResultRecord:
    """One stored engine result: ``dataset × config_id`` of the engine run ``run_id``."""

    root: Path
    run_id: str
    dataset: str  # the dataset's name in the workspace registry (not always the partition key)
    config_id: str

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.root)

    @property
    def manifest_path(self) -> Path:
        return self.workspace.manifest_path(self.run_id, self.dataset, self.config_id)

    def manifest(self) -> dict[str, Any]:
        return self.workspace.read_manifest(self.run_id, self.dataset, self.config_id)

    def graph(self) -> Any:
        """The result's runtime graph (its ``graph.json``)."""
        return self.workspace.read_graph(self.run_id, self.dataset, self.config_id)

    def parts(self) -> dict[str, Any]:
        """The result as a bundle takes it, with the verbatim template text the run stored."""
        from nirs_core.store.bundle import parts_from_workspace

        return parts_from_workspace(self.workspace, self.run_id, self.dataset, self.config_id)

    def rows(self, **filters: Any) -> pl.DataFrame:
        """The result's rows of ``predictions/<dataset>.parquet`` (``filters`` as
        :func:`nirs_core.store.predictions.read_predictions`)."""
        return self.workspace.read_predictions(
            self.dataset, run_id=self.run_id, config_id=self.config_id, **filters
        )

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "dataset": self.dataset, "config_id": self.config_id}


@dataclass(frozen=True)
class PredictionsRecord:
    """The prediction rows of a result, one per model × fold × partition (fold −2 is the pooled
    cross-validation, fold −1 the refit), in the engine's ``predictions/<dataset>.parquet``."""

    result: ResultRecord
    rows: int

    @property
    def path(self) -> Path:
        return self.result.workspace.predictions_path(self.result.dataset)

    def table(self, **filters: Any) -> pl.DataFrame:
        table = self.result.rows(**filters)
        if not filters and table.height != self.rows:
            raise DataError(
                f"{self.path}: {table.height} rows of run {self.result.run_id} config {self.result.config_id}; "
                f"expected {self.rows} (the file was rewritten since the predictions were materialised)."
            )
        return table

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result.to_json(), "rows": self.rows}


def prediction_tables(records: Mapping[str, PredictionsRecord]) -> dict[str, pl.DataFrame]:
    """The tables of several records by key, one read of a predictions file per engine run
    (what a check over the configs of a run reads)."""
    groups: dict[tuple[Path, str, str], dict[str, PredictionsRecord]] = {}
    for key, record in records.items():
        r = record.result
        groups.setdefault((r.root, r.dataset, r.run_id), {})[key] = record
    out: dict[str, pl.DataFrame] = {}
    for (root, dataset, run_id), members in groups.items():
        ids = sorted({m.result.config_id for m in members.values()})
        rows = Workspace(root).read_predictions(dataset, run_id=run_id, config_id=ids)
        by_config = rows.partition_by("config_id", as_dict=True, maintain_order=True)
        for key, record in members.items():
            table = by_config.get((record.result.config_id,), rows.clear())
            if table.height != record.rows:
                raise DataError(
                    f"{record.path}: {table.height} rows of run {run_id} config {record.result.config_id}; "
                    f"expected {record.rows} (the file was rewritten since the predictions were materialised)."
                )
            out[key] = table
    return out


@dataclass(frozen=True)
class DatasheetRecord:
    """The datasheet files of a dataset's best result."""

    root: Path
    folder: str  # relative to the workspace
    result: ResultRecord
    plots: tuple[str, ...]

    @property
    def markdown_path(self) -> Path:
        return self.root / self.folder / "datasheet.md"

    @property
    def json_path(self) -> Path:
        return self.root / self.folder / "datasheet.json"

    @property
    def plot_paths(self) -> list[Path]:
        return [self.root / self.folder / "plots" / name for name in self.plots]

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "result": self.result.to_json(), "plots": list(self.plots)}


@dataclass(frozen=True)
class BundleRecord:
    """The signed bundle of a dataset's best result, that result (whose refit predictions on the
    calibration rows the bundle must replay), and the model registry's name and version it was
    registered as."""

    root: Path
    file: str  # relative to the workspace
    result: ResultRecord
    model: str | None = None  # the registry's model name and the version it was registered as
    version: int | None = None

    @property
    def path(self) -> Path:
        return self.root / self.file

    @property
    def config_id(self) -> str:
        return self.result.config_id

    def _refit_train(self) -> dict[str, Any]:
        rows = self.result.rows(fold=REFIT_FOLD, partition="train").to_dicts()
        if len(rows) != 1:
            raise DataError(
                f"{self.result.dataset}/{self.result.config_id} of run {self.result.run_id}: expected one "
                f"refit row on train in {self.result.workspace.predictions_path(self.result.dataset)}; "
                f"got {len(rows)}."
            )
        return rows[0]

    @property
    def train_rows(self) -> np.ndarray:
        return np.asarray(self._refit_train()["sample"], dtype=np.int64)

    @property
    def train_predictions(self) -> np.ndarray:
        return np.asarray(self._refit_train()["y_pred"], dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "result": self.result.to_json(),
            "model": self.model,
            "version": self.version,
        }


RECORD_TYPES: dict[str, type] = {
    "result": ResultRecord,
    "predictions": PredictionsRecord,
    "datasheet": DatasheetRecord,
    "bundle": BundleRecord,
}
_KINDS = {cls: kind for kind, cls in RECORD_TYPES.items()}


def record_kind(value: Any) -> str | None:
    """The kind of a record (``None`` for any other value)."""
    return _KINDS.get(type(value))


def _result(data: dict[str, Any], root: Path) -> ResultRecord:
    return ResultRecord(root, str(data["run_id"]), str(data["dataset"]), str(data["config_id"]))


def record_from_json(kind: str, data: dict[str, Any], root: Path, where: str) -> Any:
    """The record ``kind`` stored as ``data`` (:meth:`to_json`), bound to the workspace ``root``."""
    try:
        if kind == "result":
            return _result(data, root)
        if kind == "predictions":
            return PredictionsRecord(_result(data["result"], root), int(data["rows"]))
        if kind == "datasheet":
            return DatasheetRecord(
                root, str(data["folder"]), _result(data["result"], root), tuple(data["plots"])
            )
        if kind == "bundle":
            model, version = data.get("model"), data.get("version")
            return BundleRecord(
                root,
                str(data["file"]),
                _result(data["result"], root),
                model=None if model is None else str(model),
                version=None if version is None else int(version),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: malformed {kind} record ({type(exc).__name__}: {exc}).") from None
    raise DataError(f"{where}: unknown record kind {kind!r}; expected one of {sorted(RECORD_TYPES)}.")
