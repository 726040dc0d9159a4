"""Per-result assets, partitioned by ``dataset × config``: ``preprocessed``, ``fitted_pipeline``,
``predictions``.

They are requested by :data:`~nirs_dagster.sensors.nirs_results_sensor`, not by declarative
automation: automation requests many partitions as a backfill, which waits for the backfill
daemon's 30 s loop.

Speed: each asset has a single-run backfill policy, so a backfill over many configs of a dataset
is one run, as is each run the sensor requests (a range of configs, with the same run tags). The
body sees every partition of the run at once, calls the engine once per dataset for the whole
batch (``execute_batch`` shares its preprocessing cache and fast PLS cross-validation between
the configs) and returns a mapping partition key → value that the IO manager writes partition by
partition. Metadata is added per partition.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from nirs_core.data import SpectroDataset
from nirs_core.pipeline.generators import PipelineConfig
from nirs_core.pipeline.result import Result
from nirs_core.pipeline.serialize import canonical_json, config_hash
from nirs_dagster._display import graph_markdown
from nirs_dagster.partitions import ConfigCatalogue, result_partitions, split_result_key
from nirs_dagster.resources import NirsResource

__all__ = [
    "by_partition",
    "fitted_pipeline",
    "predictions",
    "preprocessed",
    "preprocessing_chain",
    "run_keys",
]

_POLICY = dg.BackfillPolicy.single_run()
# The engine-calling assets are retried when a step fails (a killed process, a lost Dask
# worker or scheduler): the engine is deterministic, so a retry gives the same values.
_RETRY = dg.RetryPolicy(max_retries=2, delay=1)
# Keyword steps that leave X alone: the preprocessing chain runs through them.
_X_NEUTRAL = {"split", "y_processing"}


def run_keys(context: dg.AssetExecutionContext) -> list[tuple[str, str, str]]:
    """``(partition key, dataset, config id)`` of every partition of the run, in order."""
    keys = context.partition_keys
    return [(str(k), *split_result_key(k)) for k in keys]


def by_partition(value: Any, keys: list[str]) -> dict[str, Any]:
    """An input loaded for ``keys`` as a mapping key → value (the IO manager gives a single
    value for a single partition, a mapping for several)."""
    if len(keys) == 1 and not (isinstance(value, Mapping) and set(map(str, value)) == set(keys)):
        return {keys[0]: value}
    return {str(k): v for k, v in value.items()}


def preprocessing_chain(config: PipelineConfig) -> tuple[list[Any], str]:
    """The config's leading preprocessing operators (built, unfitted) and the canonical JSON of
    their steps: every top-level operator with a ``transform`` before the first step that acts
    on X otherwise (a model, a branch, an augmentation)."""
    chain, steps = [], []
    for canonical, built in zip(config.steps, config.build()):
        if isinstance(built, Mapping):
            if set(built) & _X_NEUTRAL:
                continue
            break
        if not hasattr(built, "transform") or hasattr(built, "predict"):
            break
        chain.append(built)
        steps.append(canonical)
    return chain, canonical_json(steps)


def _spectra_by_dataset(spectra: Any, datasets: list[str]) -> dict[str, SpectroDataset]:
    unique = sorted(set(datasets))
    if isinstance(spectra, SpectroDataset):
        return {unique[0]: spectra}
    return dict(spectra)


def _calibration(ds: SpectroDataset) -> tuple[np.ndarray, np.ndarray | None]:
    (X,) = ds.x({"partition": "train"}, src_concat=True)
    y = ds.y({"partition": "train"}) if ds.target_names else None
    return X, None if y is None else np.asarray(y)


@dg.asset(
    partitions_def=result_partitions,
    group_name="nirs",
    backfill_policy=_POLICY,
    retry_policy=_RETRY,
    kinds={"numpy"},
)
def preprocessed(
    context: dg.AssetExecutionContext, nirs: NirsResource, spectra: Any
) -> dict[str, np.ndarray]:
    """The spectra after the config's preprocessing chain, fitted on the calibration rows and
    applied to every row. Identical chains (the same preprocessing before different models) are
    computed once per run and stored once (content-addressed)."""
    keys = run_keys(context)
    data = _spectra_by_dataset(spectra, [d for _, d, _ in keys])
    catalogue = ConfigCatalogue(nirs.dagster_path())
    computed: dict[tuple[str, str], np.ndarray] = {}
    out = {}
    for key, dataset, config_id in keys:
        chain, chain_json = preprocessing_chain(catalogue.get(config_id))
        if (dataset, chain_json) not in computed:
            ds = data[dataset]
            X_all = np.asarray(ds.x(src_concat=True)[0], dtype=np.float64)
            X_cal, y_cal = _calibration(ds)
            for op in chain:
                op.fit(X_cal, y_cal)
                X_cal, X_all = op.transform(X_cal), op.transform(X_all)
            computed[dataset, chain_json] = np.ascontiguousarray(X_all)
        out[key] = computed[dataset, chain_json]
        context.add_asset_metadata(
            {
                "chain": " → ".join(type(op).__name__ for op in chain) or "none (raw spectra)",
                "chain_hash": config_hash(chain_json)[:12],
                "shape": str(out[key].shape),
            },
            partition_key=key,
        )
    return out


@dg.asset(
    partitions_def=result_partitions,
    group_name="nirs",
    backfill_policy=_POLICY,
    deps=[preprocessed],
    retry_policy=_RETRY,
    kinds={"python"},
)
def fitted_pipeline(context: dg.AssetExecutionContext, nirs: NirsResource, spectra: Any) -> dict[str, Result]:
    """The config cross-validated and refit on the calibration set by the engine: scores,
    prediction rows, the runtime DAG and its fitted artefacts. One engine call per dataset for
    all the configs of the run (on the Dask cluster of ``NirsResource.dask_address`` if set)."""
    keys = run_keys(context)
    data = _spectra_by_dataset(spectra, [d for _, d, _ in keys])
    catalogue = ConfigCatalogue(nirs.dagster_path())
    out: dict[str, Result] = {}
    for dataset in sorted({d for _, d, _ in keys}):
        batch = [(key, catalogue.get(c)) for key, d, c in keys if d == dataset]
        results = nirs.execute_configs(
            [config for _, config in batch], data[dataset], run_id=context.run.run_id
        )
        for (key, config), result in zip(batch, results, strict=True):
            if result.config_id != config.id:
                raise RuntimeError(
                    f"execute_batch returned config {result.config_id!r} where {config.id!r} was expected."
                )
            out[key] = result
            context.add_asset_metadata(
                {
                    "config": config.name,
                    "metric": result.metric,
                    "cv_score": dg.MetadataValue.float(
                        float("nan") if result.cv_score is None else result.cv_score
                    ),
                    "test_score": dg.MetadataValue.float(
                        float("nan") if result.test_score is None else result.test_score
                    ),
                    "nodes": len(result.graph.nodes),
                    "artifacts": len(result.artifacts),
                    "runtime_dag": dg.MetadataValue.md(graph_markdown(result.graph)),
                    **domain_metadata(result),
                },
                partition_key=key,
            )
    return out


@dg.asset(
    partitions_def=result_partitions,
    group_name="nirs",
    backfill_policy=_POLICY,
    kinds={"polars"},
)
def predictions(context: dg.AssetExecutionContext, fitted_pipeline: Any) -> dict[str, pl.DataFrame]:
    """The prediction rows of the result (one per model × fold × partition; fold −2 is the pooled
    cross-validation, fold −1 the refit), in the schema of ``predictions/<dataset>.parquet``."""
    keys = [k for k, _, _ in run_keys(context)]
    results = by_partition(fitted_pipeline, keys)
    out = {}
    for key in keys:
        result: Result = results[key]
        table = prediction_table(result)
        out[key] = table
        context.add_asset_metadata(
            {
                "rows": table.height,
                "metric": result.metric,
                **{
                    f"{part}_{metric}": dg.MetadataValue.float(float(value))
                    for part, scores in sorted(result.scores.items())
                    for metric, value in sorted(scores.items())
                    if value is not None
                },
            },
            partition_key=key,
        )
    return out


def prediction_table(result: Result) -> pl.DataFrame:
    """The result's prediction rows as a table (arrays as list columns)."""
    from nirs_core.store.predictions import SCHEMA

    rows = [{name: row.get(name) for name in SCHEMA.names if name in row} for row in result.predictions]
    return pl.DataFrame(rows, infer_schema_length=None)


def domain_metadata(result: Result) -> dict[str, Any]:
    """What says whether to trust a result's test score: how many test spectra lie outside the
    refit model's domain (T² or Q beyond its 95 % limit), and the ISO 12099 statistics."""
    domain = result.info.get("domain") or {}
    out: dict[str, Any] = {}
    if domain.get("test_n"):
        outside, n = int(domain["test_out_of_domain"]), int(domain["test_n"])
        out["test_out_of_domain"] = f"{outside} of {n}" + (
            " (scores of these are extrapolations)" if outside else ""
        )
    validation = result.info.get("validation") or {}
    if validation:
        out["validation"] = dg.MetadataValue.json(
            {
                k: {m: v for m, v in validation[k].items() if m != "per_class"}
                for k in ("calibration", "cv", "test")
                if k in validation
            }
        )
    return out
