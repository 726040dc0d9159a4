"""Every asset materialises into a temporary workspace with an ephemeral instance, in the runs a
backfill makes (one run per dataset-level stage, one single run over all the configs of the
dataset); that run is an engine run in the same workspace (``nirs workspace summary`` lists it
with the assets' scores), the leaderboard's scores equal those of ``nirs_core.run`` on the same
inputs, and the datasheet and bundle are files built from the stored result."""

from __future__ import annotations

import base64
import json

import dagster as dg
import numpy as np
import polars as pl
import pytest

import nirs_core
from nirs_core.app.predict import predict
from nirs_core.cli import main
from nirs_core.data import SpectroDataset
from nirs_core.graph.runtime import Node, RuntimeGraph
from nirs_core.store.bundle import open_bundle
from nirs_core.store.workspace import Workspace
from nirs_dagster import checks
from nirs_dagster._display import dag_layout, dag_plot
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
from nirs_dagster.io_managers import read_value
from nirs_dagster.records import DatasheetRecord, ResultRecord

from .conftest import SMALL_TEMPLATE, make_inbox, range_tags, register

ALL = [a for a in ALL_ASSETS if a is not champion_model]  # the chain up to the bundle
ALL_CHECKS = [checks.spectra_valid, checks.predictions_beat_mean, checks.model_bundle_replays]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The three runs of a full materialisation of corn × 4 configs."""
    inbox = make_inbox(tmp_path_factory.mktemp("dagster_assets"))
    instance = dg.DagsterInstance.ephemeral()
    ids = register(inbox, instance, ["corn"])
    common = {"assets": [*ALL, *ALL_CHECKS], "instance": instance, "resources": inbox.resources}
    runs = {
        "spectra": dg.materialize(selection=[spectra, checks.spectra_valid], partition_key="corn", **common),
        "results": dg.materialize(
            selection=[fitted_pipeline, predictions, checks.predictions_beat_mean],
            tags=range_tags("corn", ids),
            **common,
        ),
        "reports": dg.materialize(
            selection=[leaderboard, datasheet, model_bundle, checks.model_bundle_replays],
            partition_key="corn",
            **common,
        ),
    }
    return inbox, instance, ids, runs


def _metadata(run, node, partition=None):
    mats = run.asset_materializations_for_node(node)
    if partition is not None:
        mats = [m for m in mats if m.partition == partition]
    return mats[0].metadata


def test_every_run_succeeds_and_every_check_passes(pipeline):
    _, _, ids, runs = pipeline
    assert all(r.success for r in runs.values())
    evaluations = [e for r in runs.values() for e in r.get_asset_check_evaluations()]
    assert {e.check_name for e in evaluations} == {
        "spectra_valid",
        "predictions_beat_mean",
        "model_bundle_replays",
    }
    assert all(e.passed for e in evaluations)
    assert len(runs["results"].asset_materializations_for_node("fitted_pipeline")) == len(ids) == 4


def test_spectra_metadata_describes_the_dataset(pipeline, corn_arrays):
    _, _, _, runs = pipeline
    ds = runs["spectra"].output_for_node("spectra")
    assert isinstance(ds, SpectroDataset)
    np.testing.assert_array_equal(ds.x({"partition": "train"})[0], corn_arrays["Xcal"])
    md = _metadata(runs["spectra"], "spectra")
    assert md["rows"].value == 80 and md["features"].value == 700
    assert md["wavelength_range"].value == "1100–2498 nm"
    assert md["mean_spectrum"].value.startswith("![mean spectrum of corn](data:image/png;base64,")
    assert len(md["sha256"].value) == 64


def test_fitted_pipeline_is_an_engine_run_tagged_with_the_dagster_run(pipeline):
    inbox, _, ids, runs = pipeline
    results = runs["results"].output_for_node("fitted_pipeline")
    assert len(results) == 4 and all(isinstance(r, ResultRecord) for r in results.values())
    (engine_run,) = {r.run_id for r in results.values()}  # one engine run for the dataset's batch
    record = Workspace(inbox.workspace).load_run(engine_run)
    assert record.status == "completed" and record.tags["dagster_run_id"] == runs["results"].run_id
    assert sorted(k.split("/")[1] for k in record.checkpoints) == sorted(ids)
    key = next(iter(results))
    manifest = results[key].manifest()
    md = _metadata(runs["results"], "fitted_pipeline", key)
    assert md["cv_score"].value == manifest["cv_score"] and md["engine_run_id"].value == engine_run
    # the runtime DAG is a picture: an inline PNG, then the table of its nodes
    dag = md["runtime_dag"].value
    assert dag.startswith(f"![runtime DAG of {manifest['config_name']}](data:image/png;base64,")
    assert base64.b64decode(dag[dag.index(",") + 1 : dag.index(")")])[:8] == PNG
    assert "mermaid" not in dag and "| node | kind |" in dag
    # by reference: the Dagster side holds small JSON records, no pickle
    stored = inbox.workspace / "dagster" / "fitted_pipeline" / "corn" / f"{results[key].config_id}.ref.json"
    assert json.loads(stored.read_text()) == {
        "kind": "result",
        "run_id": engine_run,
        "dataset": "corn",
        "config_id": results[key].config_id,
    }
    assert not list((inbox.workspace / "dagster").rglob("*.pkl"))


def test_predictions_are_the_engine_rows(pipeline):
    inbox, _, _, runs = pipeline
    record = next(iter(runs["results"].output_for_node("predictions").values()))
    assert record.path == inbox.workspace / "predictions" / "corn.parquet"
    table = record.table()
    assert {-2, -1}.issubset(set(table["fold"].to_list())) and table.height == record.rows
    engine = Workspace(inbox.workspace).read_predictions(
        "corn", run_id=record.result.run_id, config_id=record.result.config_id
    )
    assert engine.equals(table)
    base = inbox.workspace / "dagster" / "predictions" / "corn" / record.result.config_id
    assert read_value(base, root=inbox.workspace) == record


def test_workspace_summary_lists_the_dagster_run_with_the_asset_scores(pipeline, capsys):
    """Issue 10: materialise the chain, then `nirs workspace summary` on the same workspace lists
    the run, its results and the scores the assets hold."""
    inbox, _, ids, runs = pipeline
    board = runs["reports"].output_for_node("leaderboard")
    assert main(["workspace", "summary", str(inbox.workspace), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    (listed,) = [r for r in summary["run_list"] if r["tags"].get("dagster_run_id") == runs["results"].run_id]
    assert listed["status"] == "completed" and listed["results"] == len(ids) == 4
    assert summary["results"] == 4 and summary["predictions"]["corn"]["configs"] == 4
    ranked = summary["predictions"]["corn"]["ranked"]["rmse"]
    for partition, column in (("val", "cv_score"), ("test", "test_score")):
        scores = {e["config_id"]: e["score"] for e in ranked[partition] if e["run_id"] == listed["run_id"]}
        assert scores == dict(zip(board["config_id"], board[column])), partition
    best = summary["predictions"]["corn"]["best"]["rmse"]["val"]
    assert (best["config_id"], best["score"]) == (board["config_id"][0], board["cv_score"][0])
    assert main(["workspace", "summary", str(inbox.workspace)]) == 0
    out = capsys.readouterr().out
    assert f"{listed['run_id']}  completed  4 results  dagster corn" in out
    assert f"dagster_run_id={runs['results'].run_id}" in out


def test_leaderboard_equals_nirs_run_and_is_sorted(pipeline, tmp_path):
    inbox, _, _, runs = pipeline
    board: pl.DataFrame = runs["reports"].output_for_node("leaderboard")
    assert board.columns[:4] == ["config_id", "config_name", "config", "metric"]
    assert board["cv_score"].to_list() == sorted(board["cv_score"].to_list())  # rmse: lower first
    run = nirs_core.run(
        templates=[inbox.templates / "small.yaml"],
        datasets=[inbox.data / "corn"],
        workspace=tmp_path,
        progress=False,
    )
    expected = {r["config_id"]: (r["cv_score"], r["test_score"]) for r in run.results}
    got = {row["config_id"]: (row["cv_score"], row["test_score"]) for row in board.iter_rows(named=True)}
    assert got == expected
    md = _metadata(runs["reports"], "leaderboard")
    assert md["best_config_id"].value == board["config_id"][0]
    assert md["best_cv_score"].value == board["cv_score"][0]
    assert "| config_id |" in md["leaderboard"].value


def test_datasheet_is_markdown_json_and_png_files(pipeline):
    inbox, _, _, runs = pipeline
    board = runs["reports"].output_for_node("leaderboard")
    sheet = runs["reports"].output_for_node("datasheet")
    assert isinstance(sheet, DatasheetRecord)
    assert sheet.markdown_path == inbox.workspace / "datasheets" / "corn" / "datasheet.md"
    markdown = sheet.markdown_path.read_text()
    data = json.loads(sheet.json_path.read_text())
    assert board["config_id"][0] in markdown and data["model"]["config_id"] == board["config_id"][0]
    assert data["metrics"]["cv_score"] == board["cv_score"][0]
    assert data["template"]["text"] == SMALL_TEMPLATE  # the verbatim text the config came from
    assert sheet.plots and all(p.read_bytes()[:8] == PNG for p in sheet.plot_paths)
    for name in sheet.plots:  # the Markdown's links resolve beside it
        assert f"(plots/{name})" in markdown and (sheet.markdown_path.parent / "plots" / name).is_file()
    md = _metadata(runs["reports"], "datasheet")
    assert md["markdown"].value == str(sheet.markdown_path)
    assert "data:image/png;base64," in md["datasheet"].value


def test_model_bundle_embeds_the_template_its_config_came_from(pipeline):
    inbox, instance, _, runs = pipeline
    board = runs["reports"].output_for_node("leaderboard")
    record = runs["reports"].output_for_node("model_bundle")
    assert record.path == inbox.workspace / "bundles" / "corn.n4b.zip" and record.path.is_file()
    assert record.config_id == board["config_id"][0]
    key_file = inbox.workspace / "keys" / "signing.key"
    replayed = predict(record.path, inbox.data / "corn" / "Xval.csv", key_file=key_file, values_only=True)
    stored = record.result.rows(fold=-1, partition="test").row(0, named=True)
    np.testing.assert_array_equal(replayed.reshape(-1), np.asarray(stored["y_pred"]))
    # the template file changes after the run: a new bundle of the same result keeps the old text
    template = inbox.templates / "small.yaml"
    template.write_text("# edited after the run\n" + SMALL_TEMPLATE.replace("[2, 6, 4]", "[2, 10, 4]"))
    try:
        again = dg.materialize(
            [*ALL, *ALL_CHECKS],
            selection=[model_bundle],
            partition_key="corn",
            instance=instance,
            resources=inbox.resources,
        )
    finally:
        template.write_text(SMALL_TEMPLATE)
    bundle = open_bundle(again.output_for_node("model_bundle").path, key_file=key_file)
    assert bundle.datasheet()["template"]["text"] == SMALL_TEMPLATE


def test_dag_layout_puts_each_node_one_below_its_deepest_parent():
    graph = RuntimeGraph()
    for node_id, kind, parents in [
        ("000_input", "input", []),
        ("001_SNV", "transform", ["000_input"]),
        ("002_MSC", "transform", ["000_input"]),
        ("003_SavitzkyGolay", "transform", ["002_MSC"]),
        ("004_concat", "concat", ["001_SNV", "003_SavitzkyGolay"]),
        ("005_PLS", "model", ["004_concat"]),
        ("006_output", "output", ["005_PLS"]),
    ]:
        graph.add(Node(node_id, kind, parents))
    # the longest path from the input, by relaxing every edge until nothing changes
    longest = {n.id: 0 for n in graph.nodes}
    changed = True
    while changed:
        changed = False
        for parent, child in graph.edges:
            if longest[child] < longest[parent] + 1:
                longest[child], changed = longest[parent] + 1, True
    layout = dag_layout(graph)
    assert {n: d for n, (d, _) in layout.items()} == longest
    assert layout["001_SNV"] == (1, 0) and layout["002_MSC"] == (1, 1)
    assert dag_plot(graph, "toy")[:8] == PNG


def test_leaderboard_carries_the_test_statistics_and_the_domain_warning(pipeline):
    _, _, _, runs = pipeline
    board = runs["reports"].output_for_node("leaderboard")
    tables = runs["results"].output_for_node("predictions")
    for row in board.iter_rows(named=True):
        table = next(t for k, t in tables.items() if row["config_id"] in str(k)).table()
        test = table.filter((pl.col("fold") == -1) & (pl.col("partition") == "test")).row(0, named=True)
        t, p = np.asarray(test["y_true"]), np.asarray(test["y_pred"])
        e = p - t
        sep = np.sqrt(np.sum((e - e.mean()) ** 2) / (e.size - 1))
        assert row["test_bias"] == pytest.approx(e.mean(), rel=1e-9, abs=1e-15)
        assert row["test_sep"] == pytest.approx(sep, rel=1e-9)
        assert row["test_rpd"] == pytest.approx(np.std(t, ddof=1) / sep, rel=1e-9)
        assert row["rmsep_over_rmsecv"] == pytest.approx(row["test_score"] / row["cv_score"], rel=1e-12)
        assert row["test_bias_test"] in ("pass", "fail") and row["test_slope_test"] in ("pass", "fail")
    fitted = runs["results"].asset_materializations_for_node("fitted_pipeline")
    assert all(" of 20" in m.metadata["test_out_of_domain"].value for m in fitted)
