"""Per-dataset assets over all its configs: ``leaderboard``, ``datasheet``, ``model_bundle`` (which
also registers each bundle as a new version of the dataset's model in the workspace registry).

The datasheet and the bundle are files in the engine's workspace, built from the stored result
(:func:`nirs_core.store.bundle.parts_from_workspace`: manifest, runtime graph, artefacts,
prediction rows and the verbatim template its engine run stored):
``datasheets/<dataset>/datasheet.md`` (with ``plots/*.png`` beside it) and ``datasheet.json``,
and ``bundles/<dataset>.n4b.zip``. The assets hold references to them (:mod:`nirs_dagster.records`).
"""

import base64
import math
import re
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from nirs_core.data import SpectroDataset
from nirs_core.errors import DataError
from nirs_core.metrics import badness
from nirs_core.names import POOLED_FOLD, REFIT_FOLD
from nirs_core.store._atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, synced_together
from nirs_dagster._display import table_markdown
from nirs_dagster.assets.modelling import domain_metadata
from nirs_dagster.partitions import ConfigCatalogue, dataset_partitions, split_result_key
from nirs_dagster.records import (
    BundleRecord,
    DatasheetRecord,
    PredictionsRecord,
    ResultRecord,
    prediction_tables,
)
from nirs_dagster.resources import NirsResource

__all__ = ["LEADERBOARD_SCHEMA", "best_result", "datasheet", "leaderboard", "model_bundle"]

_AUTOMATION = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
_ALL_CONFIGS = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="dataset")
LEADERBOARD_SCHEMA = {
    "config_id": pl.String,
    "config_name": pl.String,
    "config": pl.String,
    "metric": pl.String,
    "cv_score": pl.Float64,
    "test_score": pl.Float64,
    "run_id": pl.String,
    # ISO 12099 statistics of the test predictions (regression; None otherwise)
    "rmsep_over_rmsecv": pl.Float64,
    "test_bias": pl.Float64,
    "test_sep": pl.Float64,
    "test_r2": pl.Float64,
    "test_rpd": pl.Float64,
    "test_bias_test": pl.String,
    "test_slope_test": pl.String,
}
_NO_TEST = dict.fromkeys(
    ("rmsep_over_rmsecv", "test_bias", "test_sep", "test_r2", "test_rpd", "test_bias_test", "test_slope_test")
)


def test_statistics(table: pl.DataFrame) -> dict[str, Any]:
    """The leaderboard's validation columns of a result's prediction rows
    (:func:`nirs_core.validation.regression_statistics` of the refit's test predictions, first
    target), all None without a test partition or for classification."""
    from nirs_core.validation import regression_statistics

    rows = table.filter((pl.col("fold") == REFIT_FOLD) & (pl.col("partition") == "test"))
    if rows.height == 0 or rows["metric"][0] != "rmse" or rows["n_samples"][0] < 3:
        return dict(_NO_TEST)
    q = int(rows["n_targets"][0])
    t = np.asarray(rows["y_true"][0], dtype=np.float64).reshape(-1, q)[:, 0]
    p = np.asarray(rows["y_pred"][0], dtype=np.float64).reshape(-1, q)[:, 0]
    stats = regression_statistics(t, p, kind="test")
    cv = score_of(table, POOLED_FOLD, "val")
    return {
        "rmsep_over_rmsecv": stats["rmsep"] / cv if cv else None,
        "test_bias": stats["bias"],
        "test_sep": stats["sep"],
        "test_r2": stats["r2"],
        "test_rpd": stats["rpd"],
        "test_bias_test": stats["tests"]["bias"]["verdict"],
        "test_slope_test": stats["tests"]["slope"]["verdict"],
    }


def score_of(table: pl.DataFrame, fold: int, partition: str) -> float | None:
    """The selection-metric score of the aggregate row ``fold`` × ``partition`` of a result's
    prediction rows (``None`` when the result has no such row, e.g. no test partition)."""
    rows = table.filter((pl.col("fold") == fold) & (pl.col("partition") == partition))
    if rows.height == 0:
        return None
    metric = rows["metric"][0]
    value = rows["score"][0] if "score" in rows.columns and rows["score"][0] is not None else rows[metric][0]
    return None if value is None else float(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="nirs",
    automation_condition=_AUTOMATION,
    ins={
        "predictions": dg.AssetIn(partition_mapping=_ALL_CONFIGS, metadata={"allow_missing_partitions": True})
    },
    kinds={"polars"},
)
def leaderboard(
    context: dg.AssetExecutionContext, nirs: NirsResource, predictions: dict[str, PredictionsRecord]
) -> pl.DataFrame:
    """One row per config of the dataset: ``config_id``, ``config`` (canonical JSON),
    ``cv_score`` (pooled cross-validation), ``test_score``, the engine ``run_id`` of the result,
    best first by the metric's direction."""
    catalogue = ConfigCatalogue(nirs.dagster_path())
    tables = prediction_tables(predictions)  # the results' rows, one read per engine run
    rows = []
    for key, record in predictions.items():
        _, config_id = split_result_key(key)
        config = catalogue.get(config_id)
        manifest = record.result.manifest()
        rows.append(
            {
                "config_id": config_id,
                "config_name": config.name,
                "config": config.canonical_json(),
                "metric": manifest["metric"],
                "cv_score": _float(manifest.get("cv_score")),
                "test_score": _float(manifest.get("test_score")),
                "run_id": record.result.run_id,
                **test_statistics(tables[key]),
            }
        )
    if not rows:
        raise DataError(
            f"leaderboard {context.partition_key}: no config of this dataset has predictions yet."
        )
    board = pl.DataFrame(rows, schema=LEADERBOARD_SCHEMA)
    distance = [
        badness(m, math.nan if s is None else s) for m, s in board.select("metric", "cv_score").iter_rows()
    ]
    board = board.with_columns(pl.Series("_badness", distance)).sort("_badness", "config_id").drop("_badness")
    best = board.row(0, named=True)
    expected = len(context.instance.get_dynamic_partitions("config"))
    context.add_output_metadata(
        {
            "best_config": best["config_name"],
            "best_config_id": best["config_id"],
            "best_cv_score": dg.MetadataValue.float(
                best["cv_score"] if best["cv_score"] is not None else math.nan
            ),
            "best_test_score": dg.MetadataValue.float(
                best["test_score"] if best["test_score"] is not None else math.nan
            ),
            "metric": best["metric"],
            "configs_scored": f"{board.height} of {expected}",
            "leaderboard": dg.MetadataValue.md(table_markdown(board.drop("config"))),
            "dagster/row_count": board.height,
        }
    )
    return board


def best_result(board: pl.DataFrame, fitted: dict[str, ResultRecord], dataset: str) -> ResultRecord:
    """The result of the leaderboard's first config, among the loaded fitted pipelines."""
    best_id = board["config_id"][0]
    for result in fitted.values():
        if result.config_id == best_id:
            return result
    raise DataError(f"{dataset}: the best config {best_id} has no fitted pipeline; materialise it first.")


_FITTED_INS = {
    "fitted_pipeline": dg.AssetIn(partition_mapping=_ALL_CONFIGS, metadata={"allow_missing_partitions": True})
}


def _inline_images(markdown: str, plots: dict[str, bytes]) -> str:
    """The datasheet's Markdown with its ``plots/<name>.png`` links replaced by inline images."""

    def swap(match: re.Match[str]) -> str:
        name = match.group(2).removeprefix("plots/")
        if name not in plots:
            return match.group(0)
        return f"![{match.group(1)}](data:image/png;base64,{base64.b64encode(plots[name]).decode('ascii')})"

    return re.sub(r"!\[([^\]]*)\]\(([^)]+\.png)\)", swap, markdown)


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="nirs",
    automation_condition=_AUTOMATION,
    ins=_FITTED_INS,
    kinds={"markdown"},
)
def datasheet(
    context: dg.AssetExecutionContext,
    nirs: NirsResource,
    leaderboard: pl.DataFrame,
    fitted_pipeline: dict[str, ResultRecord],
    spectra: SpectroDataset,
) -> DatasheetRecord:
    """The model card of the best config (dataset identity and statistics, the config and the
    template it came from, its scores, lineage hashes and plots) as files a person can open:
    ``datasheets/<dataset>/datasheet.md``, ``datasheet.json`` and ``plots/*.png``."""
    from nirs_core.reports.datasheet import build_datasheet

    result = best_result(leaderboard, fitted_pipeline, context.partition_key)
    parts = result.parts()
    sheet = build_datasheet(parts, dataset=spectra, template=parts.get("template_text"))
    root = nirs.workspace_path()
    folder = root / "datasheets" / context.partition_key
    plots = dict(sheet.get("plots", {}))
    with synced_together(root):
        for name, png in sorted(plots.items()):
            atomic_write_bytes(folder / "plots" / name, png)
        atomic_write_json(folder / "datasheet.json", sheet["json"])
        atomic_write_text(folder / "datasheet.md", sheet["markdown"])
    record = DatasheetRecord(root, folder.relative_to(root).as_posix(), result, tuple(sorted(plots)))
    context.add_output_metadata(
        {
            "config": parts.get("config_name"),
            "engine_run_id": result.run_id,
            "markdown": dg.MetadataValue.path(str(record.markdown_path)),
            "json": dg.MetadataValue.path(str(record.json_path)),
            "plots": dg.MetadataValue.json([str(p) for p in record.plot_paths]),
            "datasheet": dg.MetadataValue.md(_inline_images(sheet["markdown"], plots)),
        }
    )
    return record


@dg.asset(
    partitions_def=dataset_partitions,
    group_name="nirs",
    automation_condition=_AUTOMATION,
    ins=_FITTED_INS,
    kinds={"zip"},
)
def model_bundle(
    context: dg.AssetExecutionContext,
    nirs: NirsResource,
    leaderboard: pl.DataFrame,
    fitted_pipeline: dict[str, ResultRecord],
    spectra: SpectroDataset,
) -> BundleRecord:
    """The signed bundle of the best config, ``<workspace>/bundles/<dataset>.n4b.zip``, built from
    the stored result with the template text its engine run stored, and registered as a new
    version of the model named after the dataset (``nirs models list <workspace>``), traced to
    that engine run."""
    from nirs_core.app.models import history_markdown, register_bundle
    from nirs_core.app.train import write_bundle
    from nirs_core.store.models import ModelRegistry

    result = best_result(leaderboard, fitted_pipeline, context.partition_key)
    parts = result.parts()
    key_file = nirs.bundle_key_path()
    root = nirs.workspace_path()
    path = write_bundle(
        parts,
        root / "bundles" / f"{context.partition_key}.n4b.zip",
        key_file=key_file,
        dataset=spectra,
        template=parts.get("template_text"),
    )
    name = context.partition_key
    version = register_bundle(
        root,
        name,
        path,
        predictions=result.rows().to_dicts(),
        run_id=result.run_id,
        training={
            "dagster_run_id": context.run.run_id,
            "dagster_partition": name,
            "config_id": result.config_id,
        },
        key_file=key_file,
    )
    record = BundleRecord(
        root, path.resolve().relative_to(root).as_posix(), result, model=name, version=version.version
    )
    context.add_output_metadata(
        {
            "bundle": dg.MetadataValue.path(str(path)),
            "config": parts.get("config_name"),
            "engine_run_id": result.run_id,
            "bytes": path.stat().st_size,
            "signed_with": str(key_file) if key_file else "$NIRS_BUNDLE_KEY",
            **domain_metadata(parts),
            "model_version": version.version,
            "registry": dg.MetadataValue.md(history_markdown(ModelRegistry(root).read(name))),
        }
    )
    return record
