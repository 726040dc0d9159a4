"""The inbox and results sensors, the weekly schedule and the definitions as a whole."""

from __future__ import annotations

import datetime
import json
import shutil

import dagster as dg
from conftest import shared_path

from nirs_dagster import checks
from nirs_dagster.assets import fitted_pipeline, predictions, spectra
from nirs_dagster.definitions import defs
from nirs_dagster.partitions import ConfigCatalogue
from nirs_dagster.resources import NirsResource
from nirs_dagster.schedules import weekly_retrain_schedule
from nirs_dagster.sensors import contiguous_segments, nirs_inbox_sensor, nirs_results_sensor

from .conftest import range_tags, register

EDGES = {
    "fitted_pipeline": {"spectra"},
    "predictions": {"fitted_pipeline"},
    "leaderboard": {"predictions"},
    "datasheet": {"leaderboard", "fitted_pipeline", "spectra"},
    "model_bundle": {"leaderboard", "fitted_pipeline", "spectra"},
    "champion_model": {"model_bundle"},
}


def test_definitions_load_with_the_seven_assets_and_their_lineage():
    graph = defs.resolve_asset_graph()
    names = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert names == {"spectra", *EDGES}
    for child, parents in EDGES.items():
        assert {k.to_user_string() for k in graph.get(dg.AssetKey(child)).parent_keys} == parents
    checks = {k.name for k in graph.asset_check_keys}
    assert checks == {
        "spectra_valid",
        "predictions_beat_mean",
        "model_bundle_replays",
        "model_bundle_beats_champion",
        "model_bundle_control_chart",
    }
    # the control chart of ongoing checks runs on its own (tests/dagster/test_reference_check.py)
    assert all(
        graph.get(k).blocking for k in graph.asset_check_keys if k.name != "model_bundle_control_chart"
    )
    for name in (
        "nirs_inbox_sensor",
        "nirs_results_sensor",
        "nirs_automation_sensor",
        "nirs_reference_sensor",
    ):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_schedule_def("weekly_retrain_schedule").cron_schedule == "0 3 * * 1"


def _tick(inbox, instance, cursor=None) -> dg.SensorResult:
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"nirs": inbox.nirs}) as context:
        return nirs_inbox_sensor(context)


def _apply(instance, result: dg.SensorResult) -> None:
    for request in result.dynamic_partitions_requests:
        if isinstance(request, dg.DeleteDynamicPartitionsRequest):
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
        else:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def _requests(result: dg.SensorResult, kind: type) -> dict[str, list[str]]:
    return {
        r.partitions_def_name: list(r.partition_keys)
        for r in result.dynamic_partitions_requests
        if isinstance(r, kind)
    }


def test_sensor_registers_new_datasets_and_templates_and_requests_runs(inbox):
    instance = dg.DagsterInstance.ephemeral()
    first = _tick(inbox, instance)
    added = _requests(first, dg.AddDynamicPartitionsRequest)
    assert added["dataset"] == ["corn"] and len(added["config"]) == 4
    (run,) = first.run_requests
    assert run.partition_key == "corn" and run.asset_selection == [dg.AssetKey("spectra")]
    _apply(instance, first)

    quiet = _tick(inbox, instance, first.cursor)  # nothing new: nothing to do
    assert not quiet.run_requests and not quiet.dynamic_partitions_requests

    # a new dataset and a changed template (one more model size)
    shutil.copytree(shared_path("fermentation"), inbox.data / "fermentation")
    template = inbox.templates / "small.yaml"
    template.write_text(template.read_text().replace("_range_: [2, 6, 4]", "_range_: [2, 10, 4]"))
    second = _tick(inbox, instance, quiet.cursor)
    added = _requests(second, dg.AddDynamicPartitionsRequest)
    assert added["dataset"] == ["fermentation"] and len(added["config"]) == 2  # the two nc=10 configs
    assert _requests(second, dg.DeleteDynamicPartitionsRequest) == {}  # nc=2 and 6 still produced
    assert [r.partition_key for r in second.run_requests] == ["fermentation"]
    assert set(json.loads(second.cursor)["datasets"]) == {"corn", "fermentation"}


def test_sensor_logs_a_bad_template_and_goes_on(inbox, caplog):
    (inbox.templates / "broken.yaml").write_text("pipeline:\n  - _range_: [5, 15, 0]\n")
    result = _tick(inbox, dg.DagsterInstance.ephemeral())
    added = _requests(result, dg.AddDynamicPartitionsRequest)
    assert len(added["config"]) == 4  # small.yaml registered, broken.yaml skipped
    assert "broken.yaml" in json.loads(result.cursor)["templates"]


def test_deleting_or_changing_a_template_retires_its_configs(inbox):
    """A config no template produces any more loses its partition and is no longer requested."""
    instance = dg.DagsterInstance.ephemeral()
    (inbox.templates / "other.yaml").write_text(
        "name: other\npipeline:\n  - split: {class: sklearn.model_selection.KFold, params: {n_splits: 3}}\n"
        "  - SNV\n  - model: {class: PLS, params: {n_components: 3, scale: false}}\n"
    )
    first = _tick(inbox, instance)
    _apply(instance, first)
    configs = instance.get_dynamic_partitions("config")
    assert len(configs) == 5
    small = ConfigCatalogue(inbox.nirs.dagster_path()).registered(
        json.loads(first.cursor)["registered"]["small.yaml"]
    )
    (other,) = set(configs) - set(small)
    assert dg.materialize(
        [spectra], partition_key="corn", instance=instance, resources=inbox.resources
    ).success
    (run,) = _results_runs(instance)  # every config of corn, in one run
    assert run.tags | range_tags("corn", configs) == run.tags

    # a changed template: nc=6 is gone, nc=4 is new; the nc=6 configs are retired
    template = inbox.templates / "small.yaml"
    template.write_text(template.read_text().replace("_range_: [2, 6, 4]", "_range_: [2, 4, 2]"))
    second = _tick(inbox, instance, first.cursor)
    retired = _requests(second, dg.DeleteDynamicPartitionsRequest)["config"]
    assert len(retired) == 2 and len(_requests(second, dg.AddDynamicPartitionsRequest)["config"]) == 2
    nc6 = [c for c in small if "nc6" in ConfigCatalogue(inbox.nirs.dagster_path()).get(c).name]
    assert sorted(retired) == sorted(nc6)
    _apply(instance, second)

    # a deleted template: its config is retired, and no run asks for it any more
    (inbox.templates / "other.yaml").unlink()
    third = _tick(inbox, instance, second.cursor)
    assert _requests(third, dg.DeleteDynamicPartitionsRequest) == {"config": [other]}
    assert not third.run_requests and not _requests(third, dg.AddDynamicPartitionsRequest)
    _apply(instance, third)
    live = instance.get_dynamic_partitions("config")
    assert other not in live and not set(nc6) & set(live) and len(live) == 4
    requested = [c for r in _results_runs(instance) for c in _configs_of(instance, r)]
    assert sorted(requested) == sorted(live)
    assert _tick(inbox, instance, third.cursor).dynamic_partitions_requests == []  # nothing more to do


def test_a_template_that_breaks_keeps_its_last_good_configs(inbox):
    instance = dg.DagsterInstance.ephemeral()
    first = _tick(inbox, instance)
    _apply(instance, first)
    (inbox.templates / "small.yaml").write_text("pipeline:\n  - _range_: [5, 15, 0]\n")
    second = _tick(inbox, instance, first.cursor)
    assert _requests(second, dg.DeleteDynamicPartitionsRequest) == {}
    assert json.loads(second.cursor)["registered"] == json.loads(first.cursor)["registered"]


def _configs_of(instance, request: dg.RunRequest) -> list[str]:
    """The config ids of the partition range a results run covers."""
    order = instance.get_dynamic_partitions("config")
    keys = [str(dg.MultiPartitionKey({"dataset": "corn", "config": c})) for c in order]
    first = request.tags["dagster/asset_partition_range_start"]
    last = request.tags["dagster/asset_partition_range_end"]
    return order[keys.index(first) : keys.index(last) + 1]


def _results_runs(instance) -> list[dg.RunRequest]:
    # the resource is read only with NIRS_MAX_CONFIGS_PER_RUN set (tests/dagster/test_scale.py)
    with dg.build_sensor_context(instance=instance, resources={"nirs": NirsResource()}) as context:
        result = nirs_results_sensor(context)
    return [] if isinstance(result, dg.SkipReason) else list(result.run_requests)


def test_contiguous_segments():
    assert contiguous_segments(list("abcdef"), set("abdf")) == [["a", "b"], ["d"], ["f"]]
    assert contiguous_segments(list("abc"), set()) == []


def test_results_sensor_requests_exactly_the_missing_and_outdated_results(inbox):
    """One run per dataset over a range of configs, none while the results are up to date."""
    instance = dg.DagsterInstance.ephemeral()
    ids = register(inbox, instance, ["corn"])
    common = {
        "assets": [spectra, fitted_pipeline, predictions, checks.predictions_beat_mean],
        "instance": instance,
        "resources": inbox.resources,
    }
    assert _results_runs(instance) == []  # no spectra yet

    def materialize(configs):
        result = dg.materialize(selection=common["assets"][1:], tags=range_tags("corn", configs), **common)
        assert result.success

    assert dg.materialize(selection=[spectra], partition_key="corn", **common).success
    materialize(ids[:2])
    (run,) = _results_runs(instance)  # the two configs not yet fitted
    assert run.tags | range_tags("corn", ids[2:]) == run.tags
    assert set(run.asset_selection) == {fitted_pipeline.key, predictions.key}
    assert run.asset_check_keys == [dg.AssetCheckKey(predictions.key, "predictions_beat_mean")]

    materialize(ids[2:])
    assert _results_runs(instance) == []  # up to date

    assert dg.materialize(selection=[spectra], partition_key="corn", **common).success
    (run,) = _results_runs(instance)  # new spectra: every config again
    assert run.tags | range_tags("corn", ids) == run.tags


def test_weekly_schedule_retrains_every_dataset():
    monday = datetime.datetime(2026, 11, 23, 3, 0, tzinfo=datetime.UTC)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("dataset", ["corn", "fermentation"])
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=monday) as context:
            requests = weekly_retrain_schedule(context)
    assert [r.partition_key for r in requests] == ["corn", "fermentation"]
    assert requests[0].run_key == "retrain:2026-W48:corn"


def test_import_nirs_core_does_not_import_dagster():
    import subprocess
    import sys

    code = "import sys, nirs_core, nirs_core.data, nirs_core.operators; assert 'dagster' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_cursor_from_before_retirement_registers_the_templates_again_and_retires_nothing(inbox):
    instance = dg.DagsterInstance.ephemeral()
    first = _tick(inbox, instance)
    _apply(instance, first)
    old = json.loads(first.cursor)
    del old["registered"]  # the cursor of a sensor that did not retire configs yet
    again = _tick(inbox, instance, json.dumps(old))
    assert _requests(again, dg.DeleteDynamicPartitionsRequest) == {}
    assert json.loads(again.cursor)["registered"] == json.loads(first.cursor)["registered"]
