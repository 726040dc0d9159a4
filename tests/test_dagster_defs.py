"""The Dagster definitions load and the demo asset materialises into an ephemeral instance."""

from __future__ import annotations

import dagster as dg
import numpy as np

from nirs_dagster.definitions import defs, spectra


def test_definitions_load():
    assert defs.resolve_asset_graph().get_all_asset_keys() == {dg.AssetKey("spectra")}


def test_spectra_partition_materialises_with_metadata():
    result = dg.materialize(
        [spectra], partition_key="fermentation", resources={"mem_io_manager": dg.InMemoryIOManager()}
    )
    assert result.success
    ds = result.output_for_node("spectra")
    assert ds.x({"partition": "train"}).shape == (21, 1047)
    md = result.asset_materializations_for_node("spectra")[0].metadata
    assert md["rows"].value == 55
    assert md["wavelength_range"].value == "428–1833 cm-1"
    assert np.isfinite(ds.x()).all()


def test_import_nirs_core_does_not_import_dagster():
    import subprocess
    import sys

    code = "import sys, nirs_core, nirs_core.data, nirs_core.operators; assert 'dagster' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
