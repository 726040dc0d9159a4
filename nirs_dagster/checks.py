"""Asset checks, partitioned like their asset and blocking: a failed check stops the assets
downstream of it in the same run, and automation does not build on it.

- ``spectra``: a pandera schema over the spectra (every value finite), the wavelength axis
  (strictly monotonic, no duplicate) and the sample count (at least :data:`MIN_SAMPLES`
  calibration samples), from :mod:`nirs_dagster.validation`. The ``spectra`` asset runs the
  same validation and refuses to store an invalid value: the last good spectra stay in place,
  so no later downstream run reads the bad one.
- ``predictions``: every prediction finite, and the pooled cross-validated predictions better
  than the mean predictor (predicting the calibration mean for every sample), read from the
  engine's ``predictions/<dataset>.parquet``.
- ``model_bundle``: the bundle, opened and verified, replays the training predictions exactly;
  its registered version is no worse than the model's ``champion`` by the promotion policy
  (:func:`nirs_core.app.models.policy_reasons`), which gates ``champion_model``; and (not
  blocking) the control chart of the reference samples in ``NIRS_REFERENCE_DIR/<dataset>``
  (ISO 12099 §11, :mod:`nirs_core.app.monitor`) is in control. The chart's verdict is written to
  ``<workspace>/monitor/<dataset>.json`` (and the chart to ``.png`` beside it), which
  :data:`~nirs_dagster.sensors.nirs_reference_sensor` reads to request retraining.

A failed ``predictions`` or ``model_bundle_replays`` check marks that partition's stored value
unusable (:func:`nirs_dagster.io_managers.mark_unusable`): no later downstream run reads it.
"""

import hashlib
import json
import math
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from nirs_core.data import SpectroDataset
from nirs_core.metrics import badness, compute_metric
from nirs_core.names import POOLED_FOLD
from nirs_dagster.assets.data import spectra
from nirs_dagster.assets.modelling import by_partition, predictions
from nirs_dagster.assets.reporting import model_bundle
from nirs_dagster.io_managers import clear_unusable, mark_unusable
from nirs_dagster.partitions import dataset_partitions, result_partitions
from nirs_dagster.records import BundleRecord, prediction_tables
from nirs_dagster.resources import NirsResource
from nirs_dagster.validation import MIN_SAMPLES, spectra_problems, spectra_schema

__all__ = [
    "MIN_SAMPLES",
    "model_bundle_beats_champion",
    "model_bundle_control_chart",
    "model_bundle_replays",
    "predictions_beat_mean",
    "reference_files",
    "spectra_schema",
    "spectra_valid",
]


@dg.asset_check(asset=spectra, partitions_def=dataset_partitions, blocking=True, name="spectra_valid")
def spectra_valid(spectra: SpectroDataset) -> dg.AssetCheckResult:
    """Spectra finite, wavelengths strictly monotonic and unique, enough calibration samples."""
    problems, metadata = spectra_problems(spectra)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={**metadata, "problems": dg.MetadataValue.json(problems)},
        description="; ".join(problems) if problems else None,
    )


def _pooled_scores(table: pl.DataFrame) -> tuple[str, float, float]:
    """(metric, pooled CV score, score of the mean predictor on the same rows)."""
    from nirs_core.store.predictions import prediction_arrays

    row = table.filter((pl.col("fold") == POOLED_FOLD) & (pl.col("partition") == "val")).row(0, named=True)
    arrays = prediction_arrays(row)
    y_true, y_pred = arrays["y_true"], arrays["y_pred"]
    metric = row["metric"]
    mean = np.broadcast_to(y_true.mean(axis=0), y_true.shape)
    return metric, compute_metric(metric, y_true, y_pred), compute_metric(metric, y_true, mean)


@dg.asset_check(
    asset=predictions, partitions_def=result_partitions, blocking=True, name="predictions_beat_mean"
)
def predictions_beat_mean(
    context: dg.AssetCheckExecutionContext, nirs: NirsResource, predictions: Any
) -> dg.AssetCheckResult:
    """Every prediction finite; the pooled cross-validated score better than the mean predictor's.
    A failed partition's value is marked unusable, so no later downstream run reads it."""
    keys = [str(k) for k in context.op_execution_context.partition_keys]
    tables = prediction_tables(by_partition(predictions, keys))
    failed, details = [], {}
    for key, table in tables.items():
        finite = all(np.isfinite(np.asarray(v, dtype=np.float64)).all() for v in table["y_pred"].to_list())
        metric, score, mean_score = _pooled_scores(table)
        better = badness(metric, score) < badness(metric, mean_score)
        details[key] = {"metric": metric, "cv_score": score, "mean_predictor": mean_score, "finite": finite}
        if not (finite and better):
            failed.append(key)
            why = (
                "predictions not finite"
                if not finite
                else f"cv {score:g} no better than the mean's {mean_score:g}"
            )
            mark_unusable(nirs, dg.AssetKey("predictions"), key, "predictions_beat_mean", why)
        else:
            clear_unusable(nirs, dg.AssetKey("predictions"), key)
    if len(keys) > 1:
        # A run over several partitions records the check once per partition, so that each
        # partition shows its own result and automation downstream sees which ones passed.
        # Dagster 1.13 has no public way to do this: AssetCheckResult has no partition, and an
        # AssetCheckEvaluation counts for a partition's latest materialisation (what
        # AutomationCondition.all_deps_blocking_checks_passed reads) only with its
        # target_materialization_data, whose type is not exported by ``dagster`` (it is the
        # documented type of that public parameter).
        from dagster._core.definitions.asset_checks.asset_check_evaluation import (
            AssetCheckEvaluationTargetMaterializationData,
        )

        instance = context.instance
        for key, detail in details.items():
            (record,) = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("predictions"), asset_partitions=[key]), limit=1
            ).records
            context.op_execution_context.log_event(
                dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey("predictions"),
                    check_name="predictions_beat_mean",
                    passed=key not in failed,
                    partition=key,
                    blocking=True,
                    target_materialization_data=AssetCheckEvaluationTargetMaterializationData(
                        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
                    ),
                    metadata={k: v for k, v in detail.items() if k != "metric"}
                    | {"metric": detail["metric"]},
                )
            )
    worst = max(details.values(), key=lambda d: badness(d["metric"], d["cv_score"]))
    return dg.AssetCheckResult(
        passed=not failed,
        metadata={
            "checked": len(details),
            "failed": dg.MetadataValue.json(failed),
            "worst_cv_score": dg.MetadataValue.float(worst["cv_score"]),
            "mean_predictor_score": dg.MetadataValue.float(worst["mean_predictor"]),
        },
        description=(
            f"{len(failed)} config(s) not finite or no better than the mean predictor: {failed[:5]}"
            if failed
            else None
        ),
    )


@dg.asset_check(
    asset=model_bundle,
    partitions_def=dataset_partitions,
    blocking=True,
    name="model_bundle_replays",
    additional_ins={"spectra": dg.AssetIn("spectra")},
)
def model_bundle_replays(
    context: dg.AssetCheckExecutionContext,
    nirs: NirsResource,
    model_bundle: BundleRecord,
    spectra: SpectroDataset,
) -> dg.AssetCheckResult:
    """The bundle (signature and hashes verified), given the dataset's spectra, predicts the
    calibration rows exactly (bit for bit) as the refit model did during training. A bundle
    that does not is marked unusable."""
    from nirs_core.app.predict import predict

    key_file = nirs.bundle_key_path()
    # The same input as in training (every row at once: a BLAS product over fewer rows may
    # round differently in the last bit), then the calibration rows.
    (X,) = spectra.x(src_concat=True)
    # the bundle this code location wrote a moment ago, from its own workspace: its pickled nodes
    # (third-party estimators) are the ones it fitted, so replaying them runs no foreign code
    replayed = np.asarray(
        predict(model_bundle.path, X, key_file=key_file, allow_pickle=True, values_only=True),
        dtype=np.float64,
    )
    replayed = replayed[model_bundle.train_rows].reshape(-1)
    expected = model_bundle.train_predictions.reshape(-1)
    equal = replayed.shape == expected.shape and bool(np.array_equal(replayed, expected))
    diff = float(np.max(np.abs(replayed - expected))) if replayed.shape == expected.shape else math.inf
    key = context.op_execution_context.partition_key
    if equal:
        clear_unusable(nirs, dg.AssetKey("model_bundle"), key)
    else:
        mark_unusable(
            nirs,
            dg.AssetKey("model_bundle"),
            key,
            "model_bundle_replays",
            f"replay differs (max |Δ| = {diff:g})",
        )
    return dg.AssetCheckResult(
        passed=equal,
        metadata={"samples": len(expected), "max_abs_difference": dg.MetadataValue.float(diff)},
        description=None if equal else f"replay differs from the training predictions (max |Δ| = {diff:g})",
    )


def reference_files(nirs: NirsResource, dataset: str) -> list[Any]:
    """The reference sample files of ``dataset`` (``NIRS_REFERENCE_DIR/<dataset>/*``), by name."""
    root = nirs.reference_path()
    folder = None if root is None else root / dataset
    if folder is None or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _chart_of(nirs: NirsResource, dataset: str, files: list[Any]) -> dict[str, Any]:
    """Evaluate one dataset's chart; write its status JSON and PNG under ``<workspace>/monitor``."""
    from nirs_core.app.monitor import chart_points, evaluate_chart
    from nirs_core.reports.control_chart import control_chart_png
    from nirs_core.store._atomic import atomic_write_bytes, atomic_write_json
    from nirs_core.store.bundle import open_bundle

    path = nirs.workspace_path() / "bundles" / f"{dataset}.n4b.zip"
    # the bundle model_bundle wrote in this workspace: its pickled nodes are our own fits
    bundle = open_bundle(path, key_file=nirs.bundle_key_path(), allow_pickle=True)
    points = [chart_points(bundle, file) for file in files]
    differences = np.concatenate([p["difference"] for p in points])
    in_domain = np.concatenate([p["in_domain"] for p in points])
    chart = evaluate_chart(bundle, differences)
    folder = nirs.workspace_path() / "monitor"
    png = atomic_write_bytes(
        folder / f"{dataset}.png", control_chart_png(differences, chart, title=f"{dataset}:")
    )
    stamp = hashlib.sha256(
        json.dumps([bundle.info.get("config_id"), differences.tolist()]).encode()
    ).hexdigest()
    status = {
        "dataset": dataset,
        "bundle": str(path),
        "config_id": bundle.info.get("config_id"),
        "files": [p.name for p in files],
        "verdict": chart["verdict"],
        "reference_samples": int(differences.size),
        "in_domain": float(in_domain.mean()),
        "mean_difference": chart["mean_difference"],
        "sep": chart["sep"],
        "action_limits": chart["action_limits"],
        "beyond_action": chart["beyond_action"],
        "run_on_one_side": chart["run_on_one_side"],
        "chart": str(png),
        "stamp": stamp[:16],
    }
    atomic_write_json(folder / f"{dataset}.json", status)
    return status


# Not partitioned: Dagster cannot run a partitioned check without materialising its asset, and
# the chart must not rebuild the bundle. The check reads each dataset's bundle from its fixed
# path (<workspace>/bundles/<dataset>.n4b.zip, where model_bundle writes it).
@dg.asset_check(asset=model_bundle, name="model_bundle_control_chart")
def model_bundle_control_chart(
    context: dg.AssetCheckExecutionContext, nirs: NirsResource
) -> dg.AssetCheckResult:
    """The control chart of every dataset's reference samples (each file of
    ``NIRS_REFERENCE_DIR/<dataset>``, in name order) is not out of control."""
    datasets = context.instance.get_dynamic_partitions(dataset_partitions.name)
    charts = {d: _chart_of(nirs, d, files) for d in datasets if (files := reference_files(nirs, d))}
    failed = sorted(d for d, c in charts.items() if c["verdict"] == "out of control")
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "verdicts": dg.MetadataValue.json({d: c["verdict"] for d, c in charts.items()}),
            "reference_samples": sum(c["reference_samples"] for c in charts.values()),
            "charts": dg.MetadataValue.json(
                {d: {k: v for k, v in c.items() if k not in ("stamp", "files")} for d, c in charts.items()}
            ),
        },
        description=(
            f"control chart out of control for {', '.join(failed)}: retraining requested"
            if failed
            else f"{len(charts)} control chart(s), none out of control"
        ),
    )


@dg.asset_check(
    asset=model_bundle, partitions_def=dataset_partitions, blocking=True, name="model_bundle_beats_champion"
)
def model_bundle_beats_champion(nirs: NirsResource, model_bundle: BundleRecord) -> dg.AssetCheckResult:
    """The version ``model_bundle`` registered is not worse than the model's champion (the
    promotion policy: selection metric on CV and test, ISO 12099 tests). Passes when there is no
    champion yet or when the champion is this version."""
    from nirs_core.app.models import DEFAULT_ALIAS, policy_reasons
    from nirs_core.store.models import ModelRegistry

    record = ModelRegistry(nirs.workspace_path()).read(model_bundle.model)
    challenger = record.version(model_bundle.version)
    champion = record.holder(DEFAULT_ALIAS)
    same = champion is None or champion.version == challenger.version
    reasons = [] if same else policy_reasons(champion, challenger)
    return dg.AssetCheckResult(
        passed=not reasons,
        metadata={
            "challenger_version": challenger.version,
            "champion_version": None if champion is None else champion.version,
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in reasons) or "none"),
        },
        description=(
            f"v{challenger.version} is worse than the champion v{champion.version}: " + "; ".join(reasons)
            if reasons
            else None
        ),
    )
