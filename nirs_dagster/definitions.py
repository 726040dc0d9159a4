"""Dagster definitions: ``dagster dev -w workspace.yaml`` loads these.

This first cut exposes the bundled demo datasets as the ``spectra`` asset, one partition per
demo, with the metadata a person wants to see in the UI (shape, axis, target statistics,
identity hash). The full asset graph (preprocessed → fitted_pipeline → predictions →
leaderboard → datasheet / model_bundle, sensors, schedules, checks) builds on it.
"""

import dagster as dg

from nirs_core.data import SpectroDataset
from nirs_core.demo import DEMOS, load_demo

demo_partitions = dg.StaticPartitionsDefinition(sorted(DEMOS))


@dg.asset(partitions_def=demo_partitions, group_name="data", io_manager_key="mem_io_manager")
def spectra(context: dg.AssetExecutionContext) -> SpectroDataset:
    """A bundled demo dataset, loaded and validated (real spectra shipped by chemotools)."""
    ds = load_demo(context.partition_key)
    md = ds.get_metadata()
    context.add_output_metadata(
        {
            "rows": md["n_rows"],
            "features": md["n_features"],
            "partitions": dg.MetadataValue.json(md["partitions"]),
            "wavelength_range": f"{md['wavelength_range'][0]:g}–{md['wavelength_range'][1]:g} {md['wavelength_unit']}",
            "task": md["task"],
            "targets": dg.MetadataValue.json(md["targets"]),
            "sha256": md["sha256"],
            "summary": dg.MetadataValue.md(f"```\n{ds.summary()}\n```"),
        }
    )
    return ds


defs = dg.Definitions(assets=[spectra], resources={"mem_io_manager": dg.InMemoryIOManager()})
