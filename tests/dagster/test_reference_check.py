"""Ongoing checks in Dagster: reference samples dropped into ``NIRS_REFERENCE_DIR/<dataset>``
make ``nirs_reference_sensor`` run the ``model_bundle_control_chart`` check; instrument-2
spectra against the instrument-1 corn model put the chart out of control, the check fails and
the sensor requests a retraining run of the dataset."""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pytest
from conftest import shared_path

from nirs_dagster import checks
from nirs_dagster.assets import (
    ALL_ASSETS,
    champion_model,
    datasheet,
    fitted_pipeline,
    leaderboard,
    model_bundle,
    predictions,
    spectra,
)
from nirs_dagster.definitions import build_defs
from nirs_dagster.io_managers import NirsIOManager
from nirs_dagster.resources import NirsResource
from nirs_dagster.sensors import nirs_reference_sensor

from .conftest import make_inbox, range_tags, register

ALL = [a for a in ALL_ASSETS if a is not champion_model]  # the chain up to the bundle


def _write_reference(path, instrument: int) -> None:
    root = shared_path("corn_instruments")
    X = np.loadtxt(root / f"X_inst{instrument}.csv", delimiter=",", skiprows=1, ndmin=2)
    header = (root / f"X_inst{instrument}.csv").read_text().splitlines()[0]
    sets = np.loadtxt(root / "y.csv", delimiter=",", skiprows=1, usecols=0, dtype=str)
    y = np.loadtxt(root / "y.csv", delimiter=",", skiprows=1, usecols=1)
    rows = np.flatnonzero(sets == "test")
    lines = ["oil," + header] + [f"{float(y[i])!r}," + ",".join(repr(float(v)) for v in X[i]) for i in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    inbox = make_inbox(tmp_path_factory.mktemp("reference"))
    references = inbox.root / "references"
    nirs = NirsResource(
        data_dir=str(inbox.data),
        templates_dir=str(inbox.templates),
        workspace=str(inbox.workspace),
        reference_dir=str(references),
    )
    resources = {"nirs": nirs, "io_manager": NirsIOManager(nirs=nirs)}
    instance = dg.DagsterInstance.ephemeral()
    ids = register(inbox, instance, ["corn"])
    common = {
        "assets": [*ALL, checks.model_bundle_control_chart],
        "instance": instance,
        "resources": resources,
    }
    assert dg.materialize(selection=[spectra], partition_key="corn", **common).success
    assert dg.materialize(
        selection=[fitted_pipeline, predictions], tags=range_tags("corn", ids), **common
    ).success
    assert dg.materialize(
        selection=[leaderboard, datasheet, model_bundle], partition_key="corn", **common
    ).success
    return {
        "inbox": inbox,
        "nirs": nirs,
        "resources": resources,
        "instance": instance,
        "references": references,
    }


def _tick(trained, cursor=None):
    with dg.build_sensor_context(
        instance=trained["instance"], cursor=cursor, resources={"nirs": trained["nirs"]}
    ) as context:
        result = nirs_reference_sensor(context)
    if isinstance(result, dg.SkipReason):
        return [], cursor
    return list(result.run_requests), result.cursor


def _run_check(trained, request):
    defs = build_defs(trained["nirs"])
    assert request.job_name == "reference_check_job" and request.partition_key is None
    result = defs.resolve_job_def(request.job_name).execute_in_process(instance=trained["instance"])
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_a_shifted_instrument_fails_the_chart_and_requests_retraining(trained):
    assert _tick(trained)[0] == []  # no reference samples yet
    _write_reference(trained["references"] / "corn" / "2026-12-01_inst1.csv", 1)
    (request,), cursor = _tick(trained)
    assert request.job_name == "reference_check_job"
    assert _tick(trained, cursor)[0] == []  # nothing changed
    evaluation = _run_check(trained, request)
    assert evaluation.passed and evaluation.metadata["verdicts"].value["corn"] != "out of control"
    assert _tick(trained, cursor)[0] == []  # an in-control chart requests nothing

    _write_reference(trained["references"] / "corn" / "2026-12-02_inst2.csv", 2)
    (request,), cursor = _tick(trained, cursor)
    assert request.job_name == "reference_check_job"
    evaluation = _run_check(trained, request)
    assert not evaluation.passed and evaluation.metadata["verdicts"].value == {"corn": "out of control"}
    assert evaluation.metadata["reference_samples"].value == 40
    status = json.loads((trained["inbox"].workspace / "monitor" / "corn.json").read_text())
    assert status["verdict"] == "out of control" and status["files"] == [
        "2026-12-01_inst1.csv",
        "2026-12-02_inst2.csv",
    ]
    assert (trained["inbox"].workspace / "monitor" / "corn.png").read_bytes().startswith(b"\x89PNG")
    (retrain,), cursor = _tick(trained, cursor)
    assert retrain.job_name == "retrain_job" and retrain.partition_key == "corn"
    assert retrain.tags["nirs/reason"] == "control chart out of control"
    assert _tick(trained, cursor)[0] == []  # one retraining per failed chart
