"""``champion_model``: the registry's ``champion`` alias of a dataset's model, moved to the version
``model_bundle`` just registered. The blocking check ``model_bundle_beats_champion``
(:mod:`nirs_dagster.checks`) runs the promotion policy first: a worse challenger fails it, and
this asset is then neither run nor requested by automation; the promotion itself applies the
policy again, so a manual materialisation cannot promote a worse model either."""

import dagster as dg

from nirs_core.app.models import DEFAULT_ALIAS, history_markdown, promote
from nirs_core.store.models import ModelRegistry
from nirs_dagster.assets.reporting import _AUTOMATION, BundleRecord
from nirs_dagster.partitions import dataset_partitions
from nirs_dagster.resources import NirsResource

__all__ = ["champion_model"]


@dg.asset(
    partitions_def=dataset_partitions, group_name="nirs", automation_condition=_AUTOMATION, kinds={"yaml"}
)
def champion_model(context: dg.AssetExecutionContext, nirs: NirsResource, model_bundle: BundleRecord) -> dict:
    """The version of the dataset's model that ``champion`` points to after promoting the latest
    bundle (under the promotion policy), with the registry's versions and history."""
    workspace = nirs.workspace_path()
    registry = ModelRegistry(workspace)
    holder = registry.read(model_bundle.model).holder(DEFAULT_ALIAS)
    if holder is None or holder.version != model_bundle.version:
        promote(
            workspace, model_bundle.model, model_bundle.version, reason=f"dagster run {context.run.run_id}"
        )
    record = registry.read(model_bundle.model)
    champion = record.holder(DEFAULT_ALIAS)
    context.add_output_metadata(
        {
            "champion_version": champion.version,
            "sha256": champion.sha256,
            "cv_score": dg.MetadataValue.float(float(champion.scores.get("cv") or "nan")),
            "history": dg.MetadataValue.md(history_markdown(record)),
        }
    )
    return {
        "name": record.name,
        "version": champion.version,
        "sha256": champion.sha256,
        "path": champion.path,
    }
