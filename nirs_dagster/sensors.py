"""The inbox sensor: new datasets and new or changed templates become partitions and runs.

Each tick lists ``NIRS_DATA_DIR`` (one dataset per sub-folder or data file) and
``NIRS_TEMPLATES_DIR`` (``.yaml``/``.yml``/``.json``). The cursor remembers a fingerprint per
dataset (the registry's quick hash: size and the first and last 64 KiB of every file) and the
sha256 of each template's text, so only what is new or changed is acted on:

- a new or changed template is expanded (a bad one is logged with the engine's message, which
  names the file and the place in it, and retried only once its text changes), its configs go
  into the catalogue, and their ids are added to the ``config`` partitions;
- a new dataset is added to the ``dataset`` partitions; a new or changed dataset gets a run of
  its ``spectra`` partition.

Everything downstream (``preprocessed`` → ``fitted_pipeline`` → ``predictions`` for every
``dataset × config``, then ``leaderboard``, ``datasheet`` and ``model_bundle``) is requested by
declarative automation (``AutomationCondition.eager()`` on those assets, evaluated by
:data:`nirs_automation_sensor`): when ``spectra`` of a dataset is materialised, or when new
config partitions appear, the missing or outdated results are requested as one backfill, in which
each asset's single-run backfill policy makes one run per asset for all the configs of a dataset.
"""

import hashlib
import json

import dagster as dg

from nirs_core.errors import ConfigError
from nirs_core.store.registry import quick_hash
from nirs_dagster.assets.data import spectra
from nirs_dagster.partitions import (
    ConfigCatalogue,
    config_partitions,
    dataset_partitions,
    discover_datasets,
    discover_templates,
)
from nirs_dagster.resources import NirsResource

__all__ = ["nirs_automation_sensor", "nirs_inbox_sensor"]


@dg.sensor(
    name="nirs_inbox_sensor",
    target=[spectra],
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
)
def nirs_inbox_sensor(context: dg.SensorEvaluationContext, nirs: NirsResource) -> dg.SensorResult:
    """Registers new datasets and templates as partitions and requests ``spectra`` runs."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    seen_datasets: dict[str, str] = cursor.get("datasets", {})
    seen_templates: dict[str, str] = cursor.get("templates", {})

    catalogue = ConfigCatalogue(nirs.dagster_path())
    templates: dict[str, str] = {}
    new_configs: list[str] = []
    for path in discover_templates(nirs.templates_path()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        templates[path.name] = digest
        if seen_templates.get(path.name) == digest:
            continue
        try:
            new_configs.extend(catalogue.register(path).config_ids)
        except ConfigError as exc:
            context.log.error(f"template skipped until it changes: {exc}")

    datasets = {key: quick_hash(path) for key, path in discover_datasets(nirs.data_path()).items()}
    changed = [key for key, fingerprint in datasets.items() if seen_datasets.get(key) != fingerprint]

    known_configs = set(context.instance.get_dynamic_partitions(config_partitions.name))
    known_datasets = set(context.instance.get_dynamic_partitions(dataset_partitions.name))
    add_configs = [c for c in dict.fromkeys(new_configs) if c not in known_configs]
    add_datasets = [d for d in changed if d not in known_datasets]
    requests = []
    if add_configs:
        requests.append(config_partitions.build_add_request(add_configs))
    if add_datasets:
        requests.append(dataset_partitions.build_add_request(add_datasets))
    if add_configs or changed:
        context.log.info(f"new configs: {len(add_configs)}; new or changed datasets: {changed}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"spectra:{key}:{datasets[key]}", partition_key=key, asset_selection=[spectra.key]
            )
            for key in changed
        ],
        dynamic_partitions_requests=requests,
        cursor=json.dumps({"datasets": datasets, "templates": templates}, sort_keys=True),
    )


nirs_automation_sensor = dg.AutomationConditionSensorDefinition(
    "nirs_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Requests what is downstream of new or updated spectra and of new configs (eager automation).",
)
