"""Per-result assets, partitioned by ``dataset × config``: ``fitted_pipeline`` and
``predictions``.

A run of these assets is an engine run: ``fitted_pipeline`` calls :func:`nirs_core.app.run.run`
once per dataset of the Dagster run, for exactly the configs of the run
(``config_ids=...``), tagged with the Dagster run id (``tags={"dagster_run_id": ...}``). The
engine stores its results, manifests, runtime graphs, artefacts, prediction rows (with the
parquet footer's summary) and registry entries in the workspace (``NirsResource.workspace``),
where ``nirs workspace summary`` lists them beside the runs of ``nirs run``; the assets hold
references to them (:mod:`nirs_dagster.records`).

The run stores the templates its configs were expanded from as they were when the inbox sensor
registered them (the catalogue keeps each version verbatim), so a bundle and a datasheet
embed the template text of their config, not the file's current text.

There is no separate ``preprocessed`` asset: the engine shares identical preprocessing prefixes
between the configs of a run through its preprocessing cache, so a stored copy of the
preprocessed spectra would feed nothing (the lineage shows only edges along which data flows).

They are requested by :data:`~nirs_dagster.sensors.nirs_results_sensor`, not by declarative
automation: automation requests many partitions as a backfill, which waits for the backfill
daemon's 30 s loop. Each asset has a single-run backfill policy, so a backfill over many
configs of a dataset is one run, as is each run the sensor requests; the body sees every
partition of the run at once and returns a mapping partition key → record that the IO manager
writes partition by partition. Metadata is added per partition.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from nirs_core.data import SpectroDataset
from nirs_core.data.identity import quick_hash
from nirs_core.errors import DataError
from nirs_dagster._display import graph_markdown
from nirs_dagster.partitions import ConfigCatalogue, result_partitions, split_result_key
from nirs_dagster.records import PredictionsRecord, ResultRecord
from nirs_dagster.resources import NirsResource

__all__ = ["DAGSTER_RUN_TAG", "by_partition", "fitted_pipeline", "predictions", "run_keys"]

_POLICY = dg.BackfillPolicy.single_run()
# The engine-calling asset is retried when its step fails (a killed process, a lost Dask
# worker or scheduler): the engine is deterministic, so a retry gives the same values. Each
# attempt is an engine run of its own; a failed attempt stays in the workspace as a failed run.
_RETRY = dg.RetryPolicy(max_retries=2, delay=1)
#: The tag of an engine run that records the Dagster run that made it.
DAGSTER_RUN_TAG = "dagster_run_id"


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


def _score(value: float | None) -> dg.MetadataValue:
    return dg.MetadataValue.float(float("nan") if value is None else float(value))


def _spectra_by_dataset(spectra: Any, datasets: list[str]) -> dict[str, SpectroDataset]:
    unique = sorted(set(datasets))
    if isinstance(spectra, SpectroDataset):
        return {unique[0]: spectra}
    return dict(spectra)


def _identity_read(context: dg.AssetExecutionContext, key: str, ds: SpectroDataset) -> dict[str, str]:
    """``{"path", "sha256", "quick_hash"}`` of the data file as ``spectra`` read it: from the
    metadata of its latest materialisation (a dataset's identity is computed from its files
    when asked, so the stored value alone would describe the file as it is now)."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("spectra"), asset_partitions=[key]), limit=1
    ).records
    md = records[0].asset_materialization.metadata if records and records[0].asset_materialization else {}
    if all(k in md for k in ("source", "sha256", "quick_hash")):
        return {
            "path": str(md["source"].value),
            "sha256": str(md["sha256"].value),
            "quick_hash": str(md["quick_hash"].value),
        }
    current = ds.get_metadata()  # spectra stored by other means: nothing recorded to compare with
    return {k: str(current[k]) for k in ("path", "sha256", "quick_hash")}


def close_killed_engine_runs(context: dg.AssetExecutionContext, nirs: NirsResource, key: str) -> list[str]:
    """Mark failed the engine runs of ``key`` that the Dagster run this one retries left
    ``running`` (its run worker was killed, so they can never finish); their ids.

    The retry makes a new engine run rather than resuming the killed one: the assets' records
    then name one complete run, and the killed one's rows stay under its own run id, which every
    reader filters by. Without this the killed run would stay ``running`` in ``nirs workspace
    summary`` for ever."""
    from nirs_core.store.workspace import RunStatus, Workspace

    parent = context.run.tags.get("dagster/parent_run_id")
    if not parent:
        return []
    ws = Workspace(nirs.workspace_path())
    closed = []
    for record in ws.runs():
        tags = record.tags or {}
        if tags.get(DAGSTER_RUN_TAG) != parent or tags.get("dagster_dataset") != key:
            continue
        if record.status is RunStatus.RUNNING:
            ws.set_run_status(
                record.run_id,
                RunStatus.FAILED,
                error=f"its Dagster run {parent} was killed; Dagster run {context.run.run_id} retries it",
            )
            closed.append(record.run_id)
    return closed


def _engine_run(
    context: dg.AssetExecutionContext, nirs: NirsResource, key: str, ds: SpectroDataset, config_ids: list[str]
):
    """The engine run of ``config_ids`` on the dataset file or folder that ``spectra`` was read
    from, with the templates as they were registered; a dataset whose content changed since
    ``spectra`` read it is refused (the inbox sensor re-reads it, and the results follow)."""
    read = _identity_read(context, key, ds)
    if quick_hash(read["path"]) != read["quick_hash"]:  # cheap: sizes, first and last 64 KiB
        raise DataError(
            f"{read['path']}: its content changed after spectra read it (its size or its first or last "
            "64 KiB differ); the inbox sensor reads it again and the results follow."
        )
    closed = close_killed_engine_runs(context, nirs, key)
    if closed:
        context.log.info(f"engine runs of the killed Dagster run marked failed: {closed}")
    catalogue = ConfigCatalogue(nirs.dagster_path())
    templates = list({t.text: t for t in (catalogue.template_of(c) for c in config_ids)}.values())
    engine = nirs.run_engine(
        templates=templates,
        datasets=[read["path"]],
        name=f"dagster {key}",
        tags={DAGSTER_RUN_TAG: context.run.run_id, "dagster_dataset": key},
        config_ids=config_ids,
        progress=False,
    )
    if engine.failures:  # the engine records a failed config and goes on; this run is one step
        shown = "; ".join(f"{f['config_name']}: {f['error_type']}: {f['error']}" for f in engine.failures[:3])
        more = f" (and {len(engine.failures) - 3} more)" if len(engine.failures) > 3 else ""
        raise DataError(
            f"{key}: {len(engine.failures)} of {len(config_ids)} configs failed in engine run {engine.run_id} "
            f"(recorded in {engine.path}): {shown}{more}."
        )
    (name,) = engine.datasets
    registered = engine.workspace.datasets.get(name).sha256
    if registered != read["sha256"]:  # a change the quick hash cannot see: the run is not recorded
        raise DataError(
            f"{read['path']}: its content changed after spectra read it (sha256 {read['sha256'][:12]}…, now "
            f"{registered[:12]}…); the inbox sensor reads it again and the results follow."
        )
    return engine


@dg.asset(
    partitions_def=result_partitions,
    group_name="nirs",
    backfill_policy=_POLICY,
    retry_policy=_RETRY,
    kinds={"python"},
)
def fitted_pipeline(
    context: dg.AssetExecutionContext, nirs: NirsResource, spectra: Any
) -> dict[str, ResultRecord]:
    """The config cross-validated and refit on the calibration set by the engine, stored in the
    workspace as a result of an engine run: scores, prediction rows, the runtime DAG and its
    fitted artefacts. One engine run per dataset for all the configs of the Dagster run, on the
    data that ``spectra`` read (the same file, the same content); its sweeps on the Dask cluster
    of ``NirsResource.dask_address`` if one is set."""
    keys = run_keys(context)
    data = _spectra_by_dataset(spectra, [d for _, d, _ in keys])
    root = nirs.workspace_path()
    out: dict[str, ResultRecord] = {}
    for dataset in sorted({d for _, d, _ in keys}):
        batch = [(key, c) for key, d, c in keys if d == dataset]
        engine = _engine_run(context, nirs, dataset, data[dataset], [c for _, c in batch])
        by_config = {r["config_id"]: r for r in engine.results}
        for key, config_id in batch:
            entry = by_config[config_id]
            record = ResultRecord(root, engine.run_id, entry["dataset"], config_id)
            out[key] = record
            graph = record.graph()
            context.add_asset_metadata(
                {
                    "config": entry["config_name"],
                    "metric": entry["metric"],
                    "cv_score": _score(entry["cv_score"]),
                    "test_score": _score(entry["test_score"]),
                    "engine_run_id": engine.run_id,
                    "engine_dataset": entry["dataset"],
                    "manifest": dg.MetadataValue.path(str(record.manifest_path)),
                    "nodes": len(graph.nodes),
                    "runtime_dag": dg.MetadataValue.md(
                        graph_markdown(graph, f"runtime DAG of {entry['config_name']}")
                    ),
                    **domain_metadata(record.manifest()),
                },
                partition_key=key,
            )
    return out


@dg.asset(
    partitions_def=result_partitions,
    group_name="nirs",
    backfill_policy=_POLICY,
    kinds={"parquet"},
)
def predictions(context: dg.AssetExecutionContext, fitted_pipeline: Any) -> dict[str, PredictionsRecord]:
    """The prediction rows of the result (one per model × fold × partition; fold −2 is the pooled
    cross-validation, fold −1 the refit), as the engine stored them in
    ``predictions/<dataset>.parquet``."""
    keys = [k for k, _, _ in run_keys(context)]
    results = by_partition(fitted_pipeline, keys)
    out = {}
    for key in keys:
        result: ResultRecord = results[key]
        manifest = result.manifest()
        rows = int(manifest["predictions"]["rows"])
        out[key] = record = PredictionsRecord(result, rows)
        context.add_asset_metadata(
            {
                "rows": rows,
                "file": dg.MetadataValue.path(str(record.path)),
                "metric": manifest["metric"],
                **{
                    f"{part}_{metric}": dg.MetadataValue.float(float(value))
                    for part, scores in sorted((manifest.get("scores") or {}).items())
                    for metric, value in sorted(scores.items())
                    if value is not None
                },
            },
            partition_key=key,
        )
    return out


def domain_metadata(result: Any) -> dict[str, Any]:
    """What says whether to trust a result's test score: how many test spectra lie outside the
    refit model's domain (T² or Q beyond its 95 % limit), and the ISO 12099 statistics. ``result``
    is a stored result's manifest (or anything with its ``info``)."""
    info = (result.get("info") if isinstance(result, Mapping) else getattr(result, "info", None)) or {}
    domain = info.get("domain") or {}
    out: dict[str, Any] = {}
    if domain.get("test_n"):
        outside, n = int(domain["test_out_of_domain"]), int(domain["test_n"])
        out["test_out_of_domain"] = f"{outside} of {n}" + (
            " (scores of these are extrapolations)" if outside else ""
        )
    validation = info.get("validation") or {}
    if validation:
        out["validation"] = dg.MetadataValue.json(
            {
                k: {m: v for m, v in validation[k].items() if m != "per_class"}
                for k in ("calibration", "cv", "test")
                if k in validation
            }
        )
    return out
