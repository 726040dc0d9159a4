"""Materialising the chain of one dataset the way the sensors do it (spectra, then every results
run the results sensor requests, then the leaderboard), and the engine's own scores on the same
inputs to compare with."""

from __future__ import annotations

import dagster as dg

import nirs_core
from nirs_dagster import checks
from nirs_dagster.assets import fitted_pipeline, leaderboard, predictions, spectra
from nirs_dagster.sensors import nirs_results_sensor

from .conftest import make_inbox

RESULTS = [fitted_pipeline, predictions, checks.predictions_beat_mean]
ASSETS = [spectra, *RESULTS, leaderboard]


def results_runs(instance, nirs) -> list[dg.RunRequest]:
    with dg.build_sensor_context(instance=instance, resources={"nirs": nirs}) as context:
        result = nirs_results_sensor(context)
    return [] if isinstance(result, dg.SkipReason) else list(result.run_requests)


def materialise_chain(instance, resources, *, expect_runs: int | None = None) -> dict[str, tuple]:
    """spectra of corn, then every results run the sensor requests, then the leaderboard;
    its (cv_score, test_score) by config id."""
    common = {"assets": ASSETS, "instance": instance, "resources": resources}
    assert dg.materialize(selection=[spectra], partition_key="corn", **common).success
    requests = results_runs(instance, resources["nirs"])
    if expect_runs is not None:
        assert len(requests) == expect_runs
    for request in requests:
        assert dg.materialize(selection=RESULTS, tags=request.tags, **common).success
    assert results_runs(instance, resources["nirs"]) == []  # every result is up to date
    board = dg.materialize(selection=[leaderboard], partition_key="corn", **common)
    assert board.success
    table = board.output_for_node("leaderboard")
    return {row["config_id"]: (row["cv_score"], row["test_score"]) for row in table.iter_rows(named=True)}


def engine_scores(root) -> dict[str, tuple]:
    """(cv_score, test_score) by config id of nirs_core.run on the inbox's inputs, in process."""
    inbox = make_inbox(root)
    run = nirs_core.run(
        templates=[inbox.templates / "small.yaml"],
        datasets=[inbox.data / "corn"],
        workspace=inbox.workspace,
        progress=False,
    )
    return {r["config_id"]: (r["cv_score"], r["test_score"]) for r in run.results}


def results_run_id(instance) -> str:
    """The id of the only results run of corn."""
    (record,) = instance.get_run_records(dg.RunsFilter(tags={"nirs/dataset": "corn"}))
    return record.dagster_run.run_id
