"""The Dagster chain and the model registry: every materialisation of ``model_bundle`` registers
a version of the dataset's model; ``champion_model`` promotes it; the blocking check
``model_bundle_beats_champion`` refuses a worse challenger, so the champion stays."""

from __future__ import annotations

import dagster as dg

from nirs_core.store.models import ModelRegistry
from nirs_dagster import checks
from nirs_dagster.assets import (
    ALL_ASSETS,
    champion_model,
    fitted_pipeline,
    leaderboard,
    model_bundle,
    predictions,
    spectra,
)
from nirs_dagster.partitions import ConfigCatalogue

from .conftest import make_inbox, range_tags

ASSETS = ALL_ASSETS
CHECKS = [
    checks.spectra_valid,
    checks.predictions_beat_mean,
    checks.model_bundle_replays,
    checks.model_bundle_beats_champion,
]
REPORTS = [leaderboard, model_bundle, checks.model_bundle_beats_champion, champion_model]

WORSE_TEMPLATE = """\
name: worse_pls
pipeline:
  - split:
      class: sklearn.model_selection.KFold
      params: {n_splits: 3, shuffle: true, random_state: 0}
  - SNV
  - model:
      class: PLS
      params: {n_components: 3, scale: false}
"""


def _train(inbox, template: str) -> tuple[dg.DagsterInstance, dict]:
    """A fresh instance with ``template``'s configs; spectra and every result materialised."""
    instance = dg.DagsterInstance.ephemeral()
    ids = list(ConfigCatalogue(inbox.nirs.dagster_path()).register(inbox.templates / template).config_ids)
    instance.add_dynamic_partitions("config", ids)
    instance.add_dynamic_partitions("dataset", ["corn"])
    common = {"assets": [*ASSETS, *CHECKS], "instance": instance, "resources": inbox.resources}
    assert dg.materialize(selection=[spectra], partition_key="corn", **common).success
    assert dg.materialize(
        selection=[fitted_pipeline, predictions], tags=range_tags("corn", ids), **common
    ).success
    return instance, common


def _reports(common) -> dg.ExecuteInProcessResult:
    return dg.materialize(selection=REPORTS, partition_key="corn", raise_on_error=False, **common)


def _check(run) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        e for e in run.get_asset_check_evaluations() if e.check_name == "model_bundle_beats_champion"
    ]
    return evaluation


def test_each_retraining_registers_a_version_and_a_worse_one_is_not_promoted(tmp_path):
    inbox = make_inbox(tmp_path)
    registry = ModelRegistry(inbox.workspace)
    _, common = _train(inbox, "small.yaml")

    first = _reports(common)
    assert first.success and _check(first).passed
    assert first.output_for_node("model_bundle").version == 1
    assert first.output_for_node("champion_model")["version"] == 1
    history = first.asset_materializations_for_node("champion_model")[0].metadata["history"].value
    assert "| 1 | champion |" in history and "| promote | champion | — | 1 |" in history

    second = _reports(common)  # retraining on the same data: an equal model, promoted
    assert second.success and _check(second).passed
    assert second.output_for_node("champion_model")["version"] == 2
    assert registry.read("corn").aliases == {"champion": 2}

    (inbox.templates / "worse.yaml").write_text(WORSE_TEMPLATE)
    _, worse_common = _train(inbox, "worse.yaml")
    third = _reports(worse_common)
    record = registry.read("corn")
    assert [v.version for v in record.versions] == [1, 2, 3]
    assert record.version(3).scores["cv"] > record.version(2).scores["cv"]  # the premise: v3 is worse
    evaluation = _check(third)
    assert not evaluation.passed
    assert "v3 is worse than the champion v2: cv rmse" in evaluation.description
    assert not third.asset_materializations_for_node("champion_model")  # blocked by the check
    assert record.aliases == {"champion": 2}
    assert registry.check("corn") == []
    bundle_md = third.asset_materializations_for_node("model_bundle")[0].metadata
    assert bundle_md["model_version"].value == 3 and "| 3 | — |" in bundle_md["registry"].value
