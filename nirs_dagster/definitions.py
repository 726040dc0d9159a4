"""Dagster definitions: ``dagster dev -w workspace.yaml`` and ``dg check defs`` load ``defs``.

Roots come from :class:`~nirs_dagster.resources.NirsResource` (``NIRS_DATA_DIR``,
``NIRS_TEMPLATES_DIR``, ``NIRS_WORKSPACE``, ``NIRS_REFERENCE_DIR``; the demo data and
``examples/`` by default). Runs execute in process; the engine's sweeps inside a run go to a
Dask cluster with ``NirsResource(dask_address=...)`` (or ``$NIRS_DASK_ADDRESS``), and a run
launcher (Docker, Kubernetes) configured in ``$DAGSTER_HOME/dagster.yaml`` spreads the runs.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from nirs_dagster.assets import ALL_ASSETS
from nirs_dagster.checks import (
    model_bundle_beats_champion,
    model_bundle_control_chart,
    model_bundle_replays,
    predictions_beat_mean,
    spectra_valid,
)
from nirs_dagster.io_managers import NirsIOManager
from nirs_dagster.resources import NirsResource
from nirs_dagster.schedules import retrain_job, weekly_retrain_schedule
from nirs_dagster.sensors import (
    nirs_automation_sensor,
    nirs_inbox_sensor,
    nirs_reference_sensor,
    nirs_results_sensor,
    reference_check_job,
)

__all__ = ["build_defs", "defs"]


def build_defs(nirs: NirsResource | None = None, executor: Any = dg.in_process_executor) -> dg.Definitions:
    """The definitions with these roots (default: from the environment) and this executor."""
    nirs = nirs or NirsResource()
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=[
            spectra_valid,
            predictions_beat_mean,
            model_bundle_replays,
            model_bundle_beats_champion,
            model_bundle_control_chart,
        ],
        jobs=[retrain_job, reference_check_job],
        sensors=[nirs_inbox_sensor, nirs_results_sensor, nirs_automation_sensor, nirs_reference_sensor],
        schedules=[weekly_retrain_schedule],
        resources={"nirs": nirs, "io_manager": NirsIOManager(nirs=nirs)},
        executor=executor,
    )


defs = build_defs()
