"""Every asset materialises into a temporary workspace with an ephemeral instance, in the runs a
backfill makes (one run per dataset-level stage, one single run over all the configs of the
dataset), and the leaderboard's scores equal those of ``nirs_core.run`` on the same inputs."""

from __future__ import annotations

import math
import os

import dagster as dg
import numpy as np
import polars as pl
import pytest

import nirs_core
from nirs_core.app.predict import predict
from nirs_core.data import SpectroDataset
from nirs_core.pipeline.result import Result
from nirs_dagster import checks
from nirs_dagster.assets import (
    ALL_ASSETS,
    champion_model,
    datasheet,
    fitted_pipeline,
    leaderboard,
    model_bundle,
    predictions,
    preprocessed,
    spectra,
)
from nirs_dagster.io_managers import read_value

from .conftest import make_inbox, range_tags, register

ALL = [a for a in ALL_ASSETS if a is not champion_model]  # the chain up to the bundle
ALL_CHECKS = [checks.spectra_valid, checks.predictions_beat_mean, checks.model_bundle_replays]


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
            selection=[preprocessed, fitted_pipeline, predictions, checks.predictions_beat_mean],
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


def test_preprocessed_is_the_chain_fitted_on_calibration_and_stored_once(pipeline, corn_arrays):
    inbox, _, _, runs = pipeline
    arrays = runs["results"].output_for_node("preprocessed")
    assert len(arrays) == 4
    # SNV by hand (independent of the engine): centre and scale each spectrum
    X = np.vstack([corn_arrays["Xcal"], corn_arrays["Xval"]])
    snv = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
    snv_keys = [
        k
        for k in arrays
        if _metadata(runs["results"], "preprocessed", k)["chain"].value == "StandardNormalVariate"
    ]
    assert len(snv_keys) == 2
    np.testing.assert_allclose(arrays[snv_keys[0]], snv, rtol=1e-10, atol=1e-12)
    # identical chains (SNV before PLS 2 and PLS 6) are one file on disk
    folder = inbox.workspace / "dagster" / "preprocessed" / "corn"
    inodes = {os.stat(folder / f"{k.split('|')[0]}.npy").st_ino for k in snv_keys}
    assert len(inodes) == 1 and len(list((inbox.workspace / "dagster" / "_blobs").glob("*.npy"))) == 2


def test_fitted_pipeline_and_predictions(pipeline):
    inbox, _, _, runs = pipeline
    results = runs["results"].output_for_node("fitted_pipeline")
    assert all(isinstance(r, Result) for r in results.values())
    key = next(iter(results))
    md = _metadata(runs["results"], "fitted_pipeline", key)
    assert md["cv_score"].value == pytest.approx(results[key].cv_score)
    assert "```mermaid" in md["runtime_dag"].value
    tables = runs["results"].output_for_node("predictions")
    assert set(tables) == set(results)
    table = tables[key]
    assert {-2, -1}.issubset(set(table["fold"].to_list()))
    stored = read_value(inbox.workspace / "dagster" / "predictions" / "corn" / key.split("|")[0])
    assert stored.equals(table)


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


def test_datasheet_and_model_bundle(pipeline):
    inbox, _, _, runs = pipeline
    board = runs["reports"].output_for_node("leaderboard")
    sheet = runs["reports"].output_for_node("datasheet")
    assert set(sheet) >= {"markdown", "json"} and board["config_id"][0] in sheet["markdown"]
    record = runs["reports"].output_for_node("model_bundle")
    assert record.path == inbox.workspace / "bundles" / "corn.n4b.zip" and record.path.is_file()
    assert record.config_id == board["config_id"][0]
    replayed = predict(
        record.path,
        inbox.data / "corn" / "Xval.csv",
        key_file=inbox.workspace / "keys" / "signing.key",
        values_only=True,
    )
    assert replayed.shape == (20, 1) and math.isfinite(float(replayed.sum()))


def test_leaderboard_carries_the_test_statistics_and_the_domain_warning(pipeline):
    _, _, _, runs = pipeline
    board = runs["reports"].output_for_node("leaderboard")
    tables = runs["results"].output_for_node("predictions")
    for row in board.iter_rows(named=True):
        table = next(t for k, t in tables.items() if row["config_id"] in str(k))
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
