"""The datasheet: identity, config, metrics, lineage, versions and plots, checked against
independent computations (hashlib, numpy) and the stored result."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from test_bundle_fixtures import KEY, corn_parts, read_members

from nirs_core.app.train import write_bundle
from nirs_core.data import load
from nirs_core.reports.datasheet import build_datasheet, package_versions, render_markdown

PNG = b"\x89PNG\r\n\x1a\n"


def _predictions(parts, corn_arrays):
    """Prediction rows as the executor writes them: pooled out-of-fold and refit test."""
    y, yv = corn_arrays["ycal"], corn_arrays["yval"]
    rng = np.random.default_rng(0)
    return [
        {
            "fold": -2,
            "partition": "val",
            "n_samples": y.size,
            "n_targets": 1,
            "y_true": y.tolist(),
            "y_pred": (y + rng.normal(0, 0.03, y.size)).tolist(),
        },
        {
            "fold": -1,
            "partition": "test",
            "n_samples": yv.size,
            "n_targets": 1,
            "y_true": yv.tolist(),
            "y_pred": parts["expected"].tolist(),
        },
    ]


@pytest.fixture(scope="module")
def sheet(corn_arrays):
    from nirs_core.operators import CropWavelengths

    parts = corn_parts(corn_arrays)
    parts["predictions"] = _predictions(parts, corn_arrays)
    parts.update(
        config=[{"class": "SNV"}],
        choices=[{"path": "pipeline[1]", "value": "SNV"}],
        cv_score=0.031,
        test_score=0.029,
        scores={"val": {"rmse": 0.031}, "test": {"rmse": 0.029}},
        n_train=60,
        n_test=20,
        template_id="t1",
    )
    # a crop after the SG step: the datasheet shades the range the model sees
    from nirs_core.graph.runtime import Node, RuntimeGraph, state_to_bytes

    graph = RuntimeGraph.from_json(parts["graph"].to_json())
    crop = CropWavelengths(start=1200, stop=2200).fit(
        corn_arrays["Xcal"], wavelengths=corn_arrays["wavelengths"]
    )
    kernel, kwargs = crop.replay_spec()
    data = state_to_bytes(kwargs)
    name = hashlib.sha256(data).hexdigest() + ".npz"
    graph.nodes.insert(
        1, Node("000_Crop", "transform", ["000_input"], kernel=kernel, artifacts={"refit": name})
    )
    graph.node("001_SNV").parents = ["000_Crop"]
    parts["graph"], parts["artifacts"] = graph, {**parts["artifacts"], name: data}
    ds = load(corn_arrays_path())
    return build_datasheet(parts, dataset=ds, template="pipeline: [SNV]\n"), parts, ds


def corn_arrays_path():
    from conftest import shared_path

    return shared_path("corn")


def test_identity_metrics_lineage_and_versions(sheet, corn_arrays):
    built, parts, ds = sheet
    js = built["json"]
    files = sorted(corn_arrays_path().glob("*.csv"))
    assert js["dataset"]["name"] == "corn" and js["dataset"]["n_samples"] == 80
    assert js["dataset"]["wavelength_range"] == [1100.0, 2498.0]
    assert js["dataset"]["content_hash"] == ds.content_hash() == js["lineage"]["dataset_content_hash"]
    assert len(js["dataset"]["sha256"]) == 64 and len(files) == 4
    stats = js["dataset"]["targets"]["oil"]
    y = np.concatenate([corn_arrays["ycal"], corn_arrays["yval"]])
    assert stats["mean"] == pytest.approx(y.mean()) and stats["max"] == y.max()
    assert js["lineage"]["graph_structure_hash"] == parts["graph"].structure_hash()
    assert js["config"]["canonical_json"] == '[{"class":"SNV"}]'
    assert js["metrics"]["cv_score"] == 0.031 and js["metrics"]["metric"] == "rmse"
    assert js["selected_wavelength_range"] == [1200.0, 2200.0]
    assert js["versions"]["numpy"] == np.__version__ and js["versions"] == {**package_versions()}
    assert js["template"]["text"] == "pipeline: [SNV]\n"
    json.dumps(js)  # plain JSON


def test_markdown_references_every_plot_and_plots_are_png(sheet):
    built, _, _ = sheet
    md = built["markdown"]
    assert set(built["plots"]) == {"predicted_vs_measured.png", "residuals.png", "mean_spectrum.png"}
    for name, png in built["plots"].items():
        assert png.startswith(PNG) and f"(plots/{name})" in md
    for text in (
        "## Dataset",
        "| oil |",
        "## Metrics",
        "rmse",
        "1200–2200 nm",
        "## Lineage",
        "## Versions",
        "```yaml",
    ):
        assert text in md
    assert render_markdown(built["json"]) == md


def test_bundle_carries_the_datasheet_and_plots(sheet, tmp_path):
    built, parts, ds = sheet
    path = write_bundle(parts, tmp_path / "d.zip", key=KEY, datasheet=built)
    members = read_members(path)
    assert json.loads(members["datasheet.json"])["lineage"] == built["json"]["lineage"]
    assert all(members[f"plots/{n}"] == png for n, png in built["plots"].items())
    auto = write_bundle(parts, tmp_path / "auto.zip", key=KEY, dataset=ds)
    info = json.loads(read_members(auto)["datasheet.json"])
    assert info["model"]["fits"] == {"mode": "refit", "names": ["refit"]}


def test_datasheet_without_dataset_or_plots(corn_arrays):
    parts = corn_parts(corn_arrays)
    parts["info"] = {"dataset": {"sha256": "ab" * 32, "n_samples": 80}}
    built = build_datasheet(parts, plots=False)
    assert built["plots"] == {} and built["json"]["dataset"] == {
        "name": "corn",
        "sha256": "ab" * 32,
        "n_samples": 80,
    }
    assert "## Plots" not in built["markdown"]


def test_replay_never_imports_matplotlib():
    code = (
        "import sys, nirs_core.graph.replay, nirs_core.store.bundle; assert 'matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
