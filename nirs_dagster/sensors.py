"""The inbox sensor: new datasets and new or changed templates become partitions and runs.

Each tick lists ``NIRS_DATA_DIR`` (one dataset per sub-folder or data file) and
``NIRS_TEMPLATES_DIR`` (``.yaml``/``.yml``/``.json``). The cursor remembers a fingerprint per
dataset (the registry's quick hash: size and the first and last 64 KiB of every file), the
sha256 of each template file and the version of it last registered, so only what is new or
changed is acted on:

- a new or changed template is expanded (a bad one is logged with the engine's message, which
  names the file and the place in it, and retried only once its text changes; until then its
  last good version stays in force), its configs go into the catalogue, and their ids are
  added to the ``config`` partitions;
- a config that no template in the folder produces any more (its template was deleted, or
  changed so that it no longer expands to it) is retired: its ``config`` partition is deleted
  (``DeleteDynamicPartitionsRequest``), so no sensor requests it again and no leaderboard
  counts it (what it materialised stays in the engine's workspace and in the event log);
- a new dataset is added to the ``dataset`` partitions; a new or changed dataset gets a run of
  its ``spectra`` partition.

Everything downstream is requested as runs that the sensors launch directly, never through the
backfill daemon (its loop, 30 s and fixed, dominated the time from a dropped dataset to its
leaderboard):

- :data:`nirs_results_sensor` asks the instance, per dataset, which ``dataset × config``
  results are missing or older than the dataset's latest ``spectra`` (whose run, with its
  blocking check, succeeded), leaves out those a run is already making, and requests one run
  of ``fitted_pipeline`` → ``predictions`` (with the ``predictions`` check)
  per dataset over exactly those configs: a partition range (the run tags a single-run backfill
  sets), in which the engine is called once for the batch. A new dataset, a changed dataset, the
  weekly retrain and the configs of a new or changed template all end up here. With
  ``NIRS_MAX_CONFIGS_PER_RUN=N`` (an environment variable of the daemon) each range is cut into
  runs of at most N configs, so that a run launcher (Docker, Kubernetes, Celery) spreads one
  dataset's sweep over several machines; unset or 0, one run per range. A cut never falls
  inside a component sweep (the configs that the engine scores from one fit per fold) unless
  the sweep alone has more than N configs: the scores are then exactly those of one run.
- ``leaderboard``, ``datasheet`` and ``model_bundle`` keep declarative automation
  (``AutomationCondition.eager()``, gated on the blocking checks), evaluated by
  :data:`nirs_automation_sensor`, which requests one run per dataset (``emit_backfills=False``:
  these assets have one partition per dataset, so nothing is lost by not batching them).

Every sensor is on by default. The daemon evaluates sensors and automation every 5 s, and with
``dagster_home/dagster.yaml`` it takes queued runs every second.
"""

import hashlib
import json
import os
from collections.abc import Sequence

import dagster as dg

from nirs_core.data.identity import quick_hash
from nirs_core.errors import ConfigError
from nirs_core.pipeline.executor import sweep_groups
from nirs_dagster.assets.data import spectra
from nirs_dagster.assets.modelling import fitted_pipeline, predictions
from nirs_dagster.assets.reporting import datasheet, leaderboard, model_bundle
from nirs_dagster.checks import model_bundle_control_chart, reference_files
from nirs_dagster.partitions import (
    ConfigCatalogue,
    config_partitions,
    dataset_partitions,
    discover_datasets,
    discover_templates,
    result_partitions,
)
from nirs_dagster.resources import NirsResource
from nirs_dagster.schedules import retrain_job

__all__ = [
    "MAX_CONFIGS_ENV",
    "chunks",
    "contiguous_segments",
    "max_configs_per_run",
    "nirs_automation_sensor",
    "nirs_inbox_sensor",
    "nirs_reference_sensor",
    "nirs_results_sensor",
    "reference_check_job",
    "results_requests",
    "sweep_labels",
]

# The sensor daemon loops every 5 s; a lower minimum lets every loop evaluate the sensor.
_EVERY_LOOP = 1
_RANGE_START = "dagster/asset_partition_range_start"
_RANGE_END = "dagster/asset_partition_range_end"
_RESULT_ASSETS = [fitted_pipeline, predictions]
_PREDICTIONS_CHECK = dg.AssetCheckKey(predictions.key, "predictions_beat_mean")
MAX_CONFIGS_ENV = "NIRS_MAX_CONFIGS_PER_RUN"


@dg.sensor(
    name="nirs_inbox_sensor",
    target=[spectra],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=_EVERY_LOOP,
)
def nirs_inbox_sensor(context: dg.SensorEvaluationContext, nirs: NirsResource) -> dg.SensorResult:
    """Registers new datasets and templates as partitions, retires the configs no template
    produces any more, and requests ``spectra`` runs."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    seen_datasets: dict[str, str] = cursor.get("datasets", {})
    catalogue = ConfigCatalogue(nirs.dagster_path())
    templates, registered, new_configs = _templates(context, catalogue, nirs, cursor)
    live = {c for version in registered.values() for c in catalogue.registered(version)}

    datasets = {key: quick_hash(path) for key, path in discover_datasets(nirs.data_path()).items()}
    changed = [key for key, fingerprint in datasets.items() if seen_datasets.get(key) != fingerprint]

    known_configs = context.instance.get_dynamic_partitions(config_partitions.name)
    known_datasets = set(context.instance.get_dynamic_partitions(dataset_partitions.name))
    add_configs = [c for c in dict.fromkeys(new_configs) if c not in set(known_configs)]
    retire = [c for c in known_configs if c not in live]
    add_datasets = [d for d in changed if d not in known_datasets]
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if retire:
        requests.append(config_partitions.build_delete_request(retire))
    if add_configs:
        requests.append(config_partitions.build_add_request(add_configs))
    if add_datasets:
        requests.append(dataset_partitions.build_add_request(add_datasets))
    if add_configs or changed or retire:
        context.log.info(
            f"new configs: {len(add_configs)}; retired configs: {len(retire)}; new or changed datasets: {changed}"
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"spectra:{key}:{datasets[key]}", partition_key=key, asset_selection=[spectra.key]
            )
            for key in changed
        ],
        dynamic_partitions_requests=requests,
        cursor=json.dumps(
            {"datasets": datasets, "templates": templates, "registered": registered}, sort_keys=True
        ),
    )


def _templates(
    context: dg.SensorEvaluationContext, catalogue: ConfigCatalogue, nirs: NirsResource, cursor: dict
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """``(file sha256 by template name, registered version by name, config ids of the versions
    registered now)``. A template whose file is unchanged keeps its version; a new or changed
    one is registered, or keeps its last good version when it does not expand."""
    previous: dict[str, str] | None = cursor.get("registered")
    # a cursor without versions (written before configs were retired): register every template again
    seen: dict[str, str] = cursor.get("templates", {}) if previous is not None else {}
    previous = previous or {}
    files: dict[str, str] = {}
    registered: dict[str, str] = {}
    new_configs: list[str] = []
    for path in discover_templates(nirs.templates_path()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files[path.name] = digest
        if seen.get(path.name) != digest:
            try:
                version = catalogue.register(path)
            except ConfigError as exc:
                context.log.error(f"template skipped until it changes: {exc}")
            else:
                registered[path.name] = version.sha256
                new_configs.extend(version.config_ids)
                continue
        if path.name in previous:
            registered[path.name] = previous[path.name]
    return files, registered, new_configs


def contiguous_segments(ordered: Sequence[str], wanted: set[str]) -> list[list[str]]:
    """The items of ``ordered`` that are in ``wanted``, as maximal runs of neighbours (a
    partition range covers neighbours only)."""
    segments: list[list[str]] = []
    current: list[str] = []
    for item in ordered:
        if item in wanted:
            current.append(item)
        elif current:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    return segments


def max_configs_per_run() -> int | None:
    """``$NIRS_MAX_CONFIGS_PER_RUN`` as a number of configs, None when unset or 0 (no limit)."""
    text = os.environ.get(MAX_CONFIGS_ENV, "").strip()
    try:
        value = int(text or "0")
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(
            f"environment variable {MAX_CONFIGS_ENV}: expected a whole number of configs >= 0 "
            f"(0: no limit); got {text!r}."
        )
    return value or None


def _even(items: Sequence[str], size: int) -> list[list[str]]:
    """``items`` in consecutive pieces of at most ``size``, as even as possible (10 by 4: 4, 3, 3)."""
    n = -(-len(items) // size)
    base, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        stop = start + base + (i < extra)
        out.append(list(items[start:stop]))
        start = stop
    return out


def chunks(items: Sequence[str], size: int | None, labels: dict[str, int] | None = None) -> list[list[str]]:
    """``items`` cut into consecutive pieces of at most ``size`` (one piece when None). With
    ``labels`` (item → its component sweep), neighbours of one sweep stay in one piece unless the
    sweep alone exceeds ``size``; without, the pieces are as even as possible."""
    if not items:
        return []
    if size is None or size >= len(items):
        return [list(items)]
    if labels is None:
        return _even(items, size)
    units: list[list[str]] = []  # runs of neighbours of one sweep, each at most size
    for item in items:
        if units and labels.get(item) is not None and labels.get(item) == labels.get(units[-1][-1]):
            units[-1].append(item)
        else:
            units.append([item])
    pieces: list[list[str]] = []
    for unit in (p for u in units for p in _even(u, size)):
        if pieces and len(pieces[-1]) + len(unit) <= size:
            pieces[-1].extend(unit)
        else:
            pieces.append(list(unit))
    return pieces


def sweep_labels(catalogue: ConfigCatalogue, config_ids: Sequence[str]) -> dict[str, int]:
    """Config id → the index of its component sweep among ``config_ids``
    (:func:`nirs_core.pipeline.executor.sweep_groups`, the engine's one grouping rule)."""
    groups = sweep_groups([catalogue.get(c) for c in config_ids])
    return {config_ids[i]: g for g, group in enumerate(groups) for i in group}


def _materialized_since(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: list[str], storage_id: int
) -> set[str]:
    found: set[str] = set()
    cursor = None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=asset_key, asset_partitions=partitions, after_storage_id=storage_id
            ),
            limit=1000,
            cursor=cursor,
        )
        found.update(record.partition_key for record in page.records if record.partition_key)
        if not page.has_more:
            return found
        cursor = page.cursor


def results_requests(
    instance: dg.DagsterInstance,
    dataset: str,
    configs: Sequence[str],
    max_configs: int | None = None,
    labels: dict[str, int] | None = None,
) -> list[dg.RunRequest]:
    """The runs that bring the results of ``dataset`` up to date: one per neighbouring range of
    the configs (in partition order) whose ``predictions`` are missing or older than the
    dataset's latest ``spectra`` and that no run is making, each range cut into runs of at most
    ``max_configs`` configs, never inside a component sweep of ``labels`` (:func:`chunks`). None while that ``spectra`` is being made or its run did not
    succeed (a failed blocking check fails the run)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=spectra.key, asset_partitions=[dataset]), limit=1
    ).records
    if not records or not configs:
        return []
    latest = records[0]
    run = instance.get_run_by_id(latest.run_id)
    if run is None or run.status != dg.DagsterRunStatus.SUCCESS:
        return []
    in_progress = dg.AssetPartitionStatus.IN_PROGRESS
    if (instance.get_status_by_partition(spectra.key, [dataset], dataset_partitions) or {}).get(
        dataset
    ) == in_progress:
        return []  # a newer spectra is on its way
    keys = {str(dg.MultiPartitionKey({"dataset": dataset, "config": c})): c for c in configs}
    status = instance.get_status_by_partition(predictions.key, list(keys), result_partitions) or {}
    fresh = _materialized_since(instance, predictions.key, list(keys), latest.storage_id)
    todo = {c for key, c in keys.items() if key not in fresh and status.get(key) != in_progress}
    requests = []
    pieces = [
        p for segment in contiguous_segments(configs, todo) for p in chunks(segment, max_configs, labels)
    ]
    for segment in pieces:
        first = dg.MultiPartitionKey({"dataset": dataset, "config": segment[0]})
        last = dg.MultiPartitionKey({"dataset": dataset, "config": segment[-1]})
        requests.append(
            dg.RunRequest(
                # the same spectra and the same configs: one run, even if it fails
                run_key=f"results:{dataset}:{latest.storage_id}:{segment[0]}:{segment[-1]}",
                asset_selection=[a.key for a in _RESULT_ASSETS],
                asset_check_keys=[_PREDICTIONS_CHECK],
                tags={_RANGE_START: str(first), _RANGE_END: str(last), "nirs/dataset": dataset},
            )
        )
    return requests


@dg.sensor(
    name="nirs_results_sensor",
    target=_RESULT_ASSETS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=_EVERY_LOOP,
)
def nirs_results_sensor(
    context: dg.SensorEvaluationContext, nirs: NirsResource
) -> dg.SensorResult | dg.SkipReason:
    """Requests, per dataset, runs over the configs whose results are missing or outdated (one,
    or several of at most ``$NIRS_MAX_CONFIGS_PER_RUN`` configs)."""
    instance = context.instance
    configs = instance.get_dynamic_partitions(config_partitions.name)
    limit = max_configs_per_run()
    labels = sweep_labels(ConfigCatalogue(nirs.dagster_path()), configs) if limit else None
    requests = [
        request
        for dataset in instance.get_dynamic_partitions(dataset_partitions.name)
        for request in results_requests(instance, dataset, configs, limit, labels)
    ]
    if not requests:
        return dg.SkipReason("every result is up to date or on its way")
    return dg.SensorResult(run_requests=requests)


nirs_automation_sensor = dg.AutomationConditionSensorDefinition(
    "nirs_automation_sensor",
    target=dg.AssetSelection.assets(leaderboard, datasheet, model_bundle),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=_EVERY_LOOP,
    emit_backfills=False,
    description=(
        "Requests leaderboard, datasheet and model_bundle of a dataset once its predictions are "
        "updated and their checks passed (eager automation; one run per dataset)."
    ),
)


reference_check_job = dg.define_asset_job(
    "reference_check_job", selection=dg.AssetSelection.checks(model_bundle_control_chart)
)


def _reference_fingerprint(files: Sequence) -> str:
    stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:16]


@dg.sensor(
    name="nirs_reference_sensor",
    jobs=[reference_check_job, retrain_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=_EVERY_LOOP,
)
def nirs_reference_sensor(
    context: dg.SensorEvaluationContext, nirs: NirsResource
) -> dg.SensorResult | dg.SkipReason:
    """Ongoing checks (ISO 12099 §11): when the reference samples (``NIRS_REFERENCE_DIR/<dataset>``)
    change, runs the ``model_bundle_control_chart`` check; for each dataset whose chart that
    check found out of control (``<workspace>/monitor/<dataset>.json``), requests one retraining
    run (``retrain_job``: its spectra, then everything downstream as after the weekly retrain)."""
    cursor = json.loads(context.cursor) if context.cursor else {"references": "", "retrained": []}
    requests = []
    datasets = context.instance.get_dynamic_partitions(dataset_partitions.name)
    files = [f for d in datasets for f in reference_files(nirs, d)]
    fingerprint = _reference_fingerprint(files) if files else ""
    if fingerprint and cursor["references"] != fingerprint:
        cursor["references"] = fingerprint
        requests.append(dg.RunRequest(run_key=f"chart:{fingerprint}", job_name=reference_check_job.name))
    monitor = nirs.workspace_path() / "monitor"
    for dataset in datasets:
        path = monitor / f"{dataset}.json"
        if not path.is_file():
            continue
        status = json.loads(path.read_text(encoding="utf-8"))
        if status.get("verdict") == "out of control" and status.get("stamp") not in cursor["retrained"]:
            cursor["retrained"].append(status["stamp"])
            requests.append(
                dg.RunRequest(
                    run_key=f"chart-retrain:{dataset}:{status['stamp']}",
                    job_name=retrain_job.name,
                    partition_key=dataset,
                    tags={"nirs/reason": "control chart out of control", "nirs/dataset": dataset},
                )
            )
    if not requests:
        return dg.SkipReason("no new reference samples and no chart out of control")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))
