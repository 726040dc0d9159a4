"""Asset checks: a corrupted dataset fails the blocking ``spectra`` check and nothing downstream
is requested (neither by the results sensor nor by automation); a model no better than the mean
predictor fails the ``predictions`` check."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pytest

from nirs_dagster import checks
from nirs_dagster.assets import fitted_pipeline, predictions, spectra
from nirs_dagster.io_managers import NirsIOManager
from nirs_dagster.partitions import ConfigCatalogue
from nirs_dagster.resources import NirsResource
from nirs_dagster.sensors import nirs_results_sensor

from .conftest import range_tags, register

DUMMY_TEMPLATE = """\
pipeline:
  - split: {class: sklearn.model_selection.KFold, params: {n_splits: 3, shuffle: true, random_state: 0}}
  - model: {class: sklearn.dummy.DummyRegressor, params: {strategy: mean}}
"""


def _truncate_calibration(inbox, keep: int) -> None:
    """Corrupt corn: keep only ``keep`` calibration samples (a half-copied export)."""
    folder = inbox.data / "corn"
    for name in ("Xcal.csv", "Ycal.csv"):
        lines = (folder / name).read_text().splitlines()
        (folder / name).write_text("\n".join(lines[: keep + 1]) + "\n")


class Automation:
    """Successive evaluations of the definitions' automation conditions (the cursor carried on)."""

    def __init__(self, defs, instance) -> None:
        self.defs, self.instance, self.cursor = defs, instance, None
        self.requested()  # the first evaluation only records the initial state

    def requested(self) -> dict[str, int]:
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        keys = self.defs.resolve_asset_graph().get_all_asset_keys()
        return {key.to_user_string(): result.get_num_requested(key) for key in keys}


def results_requested(instance) -> list[dg.RunRequest]:
    """The runs the results sensor would request now."""
    # the resource is read only with NIRS_MAX_CONFIGS_PER_RUN set (tests/dagster/test_scale.py)
    with dg.build_sensor_context(instance=instance, resources={"nirs": NirsResource()}) as context:
        result = nirs_results_sensor(context)
    return [] if isinstance(result, dg.SkipReason) else list(result.run_requests)


def test_spectra_check_fails_on_a_corrupted_dataset_and_blocks_downstream(inbox):
    instance = dg.DagsterInstance.ephemeral()
    ids = register(inbox, instance, ["corn"])
    automation = Automation(inbox.defs(), instance)
    good = dg.materialize(
        [spectra, checks.spectra_valid], partition_key="corn", instance=instance, resources=inbox.resources
    )
    assert good.success
    (run,) = results_requested(instance)  # a passed check lets the results of every config go on
    assert run.tags | range_tags("corn", ids) == run.tags

    stored = _stored_spectra(inbox)
    before = {p.name: p.read_bytes() for p in stored.rglob("*") if p.is_file()}
    _truncate_calibration(inbox, keep=4)
    bad = dg.materialize(
        [spectra, checks.spectra_valid],
        partition_key="corn",
        instance=instance,
        resources=inbox.resources,
        raise_on_error=False,
    )
    assert not bad.success  # refused before it is stored: nothing after it runs
    (failure,) = [e for e in bad.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert "spectra corn: calibration rows" in message and "at least 10 calibration samples" in message
    assert "not stored, the last good spectra are kept" in message
    assert {p.name: p.read_bytes() for p in stored.rglob("*") if p.is_file()} == before
    # nothing new to compute: the only request is still the one for the good spectra
    assert [r.run_key for r in results_requested(instance)] == [run.run_key]
    assert set(automation.requested().values()) == {0}
    # the stored spectra are still the last good ones (60 calibration samples), not the bad ones
    loaded = NirsIOManager(nirs=inbox.nirs).load_input(
        dg.build_input_context(asset_key=spectra.key, partition_key="corn", instance=instance)
    )
    assert len(np.arange(loaded.n_rows)[loaded.rows({"partition": "train"})]) == 60
    # a later results run is an engine run on the data file, which no longer holds what spectra
    # validated: it is refused before the engine runs, so the bad data reach no result either
    later = dg.materialize(
        [spectra.to_source_asset(), fitted_pipeline],
        partition_key=dg.MultiPartitionKey({"dataset": "corn", "config": ids[0]}),
        instance=instance,
        resources=inbox.resources,
        raise_on_error=False,
    )
    assert not later.success
    (failure,) = [e for e in later.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    assert "its content changed after spectra read it" in error.message + (
        error.cause.message if error.cause else ""
    )
    assert not (inbox.workspace / "runs").is_dir() or not list((inbox.workspace / "runs").iterdir())


def _stored_spectra(inbox):
    folders = [p for p in inbox.nirs.dagster_path().rglob("corn.dataset") if p.is_dir()]
    assert len(folders) == 1, sorted(inbox.nirs.dagster_path().rglob("*"))
    return folders[0]


def test_the_spectra_check_reports_a_bad_value_stored_by_other_means(inbox):
    """The check still judges any stored value (here one written through the IO manager)."""
    from nirs_core.data import load

    _truncate_calibration(inbox, keep=4)
    bad = load(inbox.data / "corn", name="corn")
    result = checks.spectra_valid(bad)
    assert not result.passed and "at least 10 calibration samples" in result.description
    assert result.metadata["calibration_samples"].value == 4


def test_predictions_check_rejects_a_model_no_better_than_the_mean(inbox):
    (inbox.templates / "dummy.yaml").write_text(DUMMY_TEMPLATE)
    instance = dg.DagsterInstance.ephemeral()
    good = register(inbox, instance, ["corn"])
    dummy = list(
        ConfigCatalogue(inbox.nirs.dagster_path()).register(inbox.templates / "dummy.yaml").config_ids
    )
    instance.add_dynamic_partitions("config", dummy)
    assets = [spectra, fitted_pipeline, predictions, checks.predictions_beat_mean]
    dg.materialize(assets[:1], partition_key="corn", instance=instance, resources=inbox.resources)
    run = dg.materialize(
        assets,
        selection=assets[1:],
        tags=range_tags("corn", [*good, *dummy]),
        instance=instance,
        resources=inbox.resources,
        raise_on_error=False,
    )
    assert not run.success
    by_partition = {e.partition: e for e in run.get_asset_check_evaluations() if e.partition}
    assert len(by_partition) == 5
    dummy_key = str(dg.MultiPartitionKey({"dataset": "corn", "config": dummy[0]}))
    assert not by_partition[dummy_key].passed
    assert sum(e.passed for e in by_partition.values()) == 4
    md = by_partition[dummy_key].metadata
    assert md["cv_score"].value >= md["mean_predictor"].value
    # the refused value is marked unusable: a later downstream run cannot read it, the others can
    io = NirsIOManager(nirs=inbox.nirs)

    def load(key):
        return io.load_input(
            dg.build_input_context(
                asset_key=predictions.key,
                partition_key=key,
                asset_partitions_def=predictions.partitions_def,
                instance=instance,
            )
        )

    with pytest.raises(dg.Failure) as refused:
        load(dummy_key)
    assert "not read, its blocking check predictions_beat_mean failed: cv" in refused.value.description
    good_key = str(dg.MultiPartitionKey({"dataset": "corn", "config": good[0]}))
    assert load(good_key).table().height > 0


def test_passed_predictions_checks_let_automation_request_the_reports(inbox):
    """The check passes per partition of the run over the configs, against that partition's
    materialisation, so the leaderboard, datasheet and bundle of the dataset are requested."""
    instance = dg.DagsterInstance.ephemeral()
    ids = register(inbox, instance, ["corn"])
    automation = Automation(inbox.defs(), instance)
    common = {
        "assets": [
            spectra,
            fitted_pipeline,
            predictions,
            checks.spectra_valid,
            checks.predictions_beat_mean,
        ],
        "instance": instance,
        "resources": inbox.resources,
    }
    assert dg.materialize(selection=[spectra, checks.spectra_valid], partition_key="corn", **common).success
    assert automation.requested()["leaderboard"] == 0  # no predictions yet
    (run,) = results_requested(instance)
    results = dg.materialize(
        selection=[fitted_pipeline, predictions, checks.predictions_beat_mean],
        tags=run.tags,
        **common,
    )
    assert results.success
    assert {e.partition for e in results.get_asset_check_evaluations() if e.partition} == {
        str(dg.MultiPartitionKey({"dataset": "corn", "config": c})) for c in ids
    }
    requested = automation.requested()
    assert {k: requested[k] for k in ("leaderboard", "datasheet", "model_bundle")} == {
        "leaderboard": 1,
        "datasheet": 1,
        "model_bundle": 1,
    }
    assert requested["fitted_pipeline"] == 0  # the results sensor's, not automation's


def _edit_ycal(inbox) -> str:
    ycal = inbox.data / "corn" / "Ycal.csv"
    lines = ycal.read_text().splitlines()
    lines[1] = str(float(lines[1]) + 1.0)  # a corrected reference value, written after spectra ran
    ycal.write_text("\n".join(lines) + "\n")
    return "(its size or its first or last 64 KiB differ)"


def _edit_xcal_middle(inbox) -> str:
    xcal = inbox.data / "corn" / "Xcal.csv"
    data = bytearray(xcal.read_bytes())
    middle = len(data) // 2
    at = next(i for i in range(middle, len(data)) if chr(data[i]).isdigit() and data[i] != ord("9"))
    data[at] += 1  # one digit in the middle of a 380 kB file: same size, same first and last 64 KiB
    xcal.write_bytes(bytes(data))
    return "(sha256 "


@pytest.mark.parametrize("edit", [_edit_ycal, _edit_xcal_middle])
def test_results_refuse_a_dataset_that_changed_after_spectra_read_it(edit, inbox):
    instance = dg.DagsterInstance.ephemeral()
    ids = register(inbox, instance, ["corn"])
    common = {
        "assets": [spectra, fitted_pipeline, predictions],
        "instance": instance,
        "resources": inbox.resources,
    }
    assert dg.materialize(selection=[spectra], partition_key="corn", **common).success
    detail = edit(inbox)
    run = dg.materialize(
        selection=[fitted_pipeline], tags=range_tags("corn", ids), raise_on_error=False, **common
    )
    assert not run.success
    (failure,) = [e for e in run.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    error = failure.step_failure_data.error
    message = error.message + (error.cause.message if error.cause else "")
    assert "its content changed after spectra read it " + detail in message


def test_a_config_that_fails_in_the_engine_fails_the_results_run_and_names_it(inbox):
    (inbox.templates / "too_big.yaml").write_text(
        "name: too_big\npipeline:\n  - split: {class: sklearn.model_selection.KFold, params: {n_splits: 3}}\n"
        "  - model: {class: PLS, params: {n_components: 70}}\n"  # corn has 40 rows per fold fit
    )
    instance = dg.DagsterInstance.ephemeral()
    good = register(inbox, instance, ["corn"])
    (bad,) = ConfigCatalogue(inbox.nirs.dagster_path()).register(inbox.templates / "too_big.yaml").config_ids
    instance.add_dynamic_partitions("config", [bad])
    common = {"assets": [spectra, fitted_pipeline], "instance": instance, "resources": inbox.resources}
    assert dg.materialize(selection=[spectra], partition_key="corn", **common).success
    run = dg.materialize(
        selection=[fitted_pipeline], tags=range_tags("corn", [*good, bad]), raise_on_error=False, **common
    )
    assert not run.success
    (failure,) = [e for e in run.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    message = error.message + (error.cause.message if error.cause else "")
    assert "corn: 1 of 5 configs failed in engine run" in message and "n_components=70" in message
