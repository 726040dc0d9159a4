"""The ``nirs`` command line for runs: ``run --json`` against an independent scikit-learn /
scipy / numpy recomputation, ``resume``, ``workspace summary|rebuild-summaries``, and the
error exits."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, shared_path
from scipy.signal import savgol_filter
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold

from nirs_core.cli import main
from nirs_core.store.workspace import Workspace

SWEEP = REPO / "examples" / "corn_pls_sweep.yaml"
SNV_CLASS = "nirs_core.operators.scatter.StandardNormalVariate"
SG_CLASS = "nirs_core.operators.derivatives.SavitzkyGolay"
MSC_CLASS = "nirs_core.operators.scatter.MultiplicativeScatterCorrection"
JSON_KEYS = {"dataset", "template", "config_id", "config_name", "choices", "config", "metric",
             "cv_score", "test_score", "n_train", "n_test"}  # fmt: skip


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """``nirs run examples/corn_pls_sweep.yaml --data corn --workspace tmp --json`` as a whole
    process: (completed process, workspace, wall seconds)."""
    corn = shared_path("corn")
    ws = tmp_path_factory.mktemp("cli") / "tmp"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "nirs_core.cli", "run", str(SWEEP), "--data", str(corn),
         "--workspace", str(ws), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return done, ws, time.perf_counter() - start


def test_run_json_stdout_is_exactly_one_object(cli_run):
    done, ws, _ = cli_run
    assert done.returncode == 0, done.stderr
    decoder = json.JSONDecoder()
    text = done.stdout.strip()
    obj, end = decoder.raw_decode(text)
    assert end == len(text), "nothing but one JSON object on stdout"
    assert set(obj) == {"run_id", "status", "results", "failed"}
    assert obj["status"] == "completed" and len(obj["results"]) == 21 and obj["failed"] == []
    for result in obj["results"]:
        assert JSON_KEYS <= set(result)
        assert result["dataset"] == "corn" and result["template"] == "corn_pls_sweep"
        assert result["metric"] == "rmse" and (result["n_train"], result["n_test"]) == (60, 20)
    assert Workspace(ws).load_run(obj["run_id"]).status == "completed"
    assert "result" in done.stderr  # the progress bar went to stderr


# ----------------------------------------------------------------------------- reference


def _snv(X):
    return (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)


def _msc(X, reference):
    out = np.empty_like(X)
    design = np.column_stack([np.ones_like(reference), reference])
    for i, row in enumerate(X):
        (a, b), *_ = np.linalg.lstsq(design, row, rcond=None)
        out[i] = (row - a) / b
    return out


def _preprocess(step, X_fit, X):
    """Fit a preprocessing on ``X_fit`` (the training rows) and apply it to ``X``."""
    params = step["params"]
    if step["class"] == SNV_CLASS:
        assert params == {"ddof": 0}
        return _snv(X)
    if step["class"] == SG_CLASS:
        assert (params["window_length"], params["polyorder"], params["deriv"]) == (15, 2, 1)
        return savgol_filter(X, 15, 2, deriv=1, delta=params["delta"], mode=params["mode"], axis=1)
    assert step["class"] == MSC_CLASS and params == {"reference": "mean"}
    return _msc(X, X_fit.mean(axis=0))


def _reference_scores(config, arrays):
    """Pooled out-of-fold RMSECV on the 60 calibration rows and RMSEP of the refit."""
    split, step, model = config
    assert split["split"]["params"] == {"n_splits": 5, "random_state": 0, "shuffle": True}
    assert model["model"]["params"]["scale"] is False
    n_components = model["model"]["params"]["n_components"]
    Xcal, ycal, Xval, yval = arrays["Xcal"], arrays["ycal"], arrays["Xval"], arrays["yval"]
    oof = np.empty_like(ycal)
    for train, val in KFold(n_splits=5, shuffle=True, random_state=0).split(Xcal):
        pls = PLSRegression(n_components=n_components, scale=False)
        pls.fit(_preprocess(step, Xcal[train], Xcal[train]), ycal[train])
        oof[val] = pls.predict(_preprocess(step, Xcal[train], Xcal[val])).ravel()
    pls = PLSRegression(n_components=n_components, scale=False)
    pls.fit(_preprocess(step, Xcal, Xcal), ycal)
    pred = pls.predict(_preprocess(step, Xcal, Xval)).ravel()
    return float(np.sqrt(np.mean((oof - ycal) ** 2))), float(np.sqrt(np.mean((pred - yval) ** 2)))


def test_run_scores_equal_an_independent_sklearn_recomputation(cli_run, corn_arrays):
    done, _, _ = cli_run
    results = json.loads(done.stdout)["results"]
    assert len(results) == 21
    seen = set()
    for result in results:
        n_components = result["config"][2]["model"]["params"]["n_components"]
        seen.add((result["config"][1]["class"], n_components))
        assert result["choices"][1]["value"] == n_components
        cv, test = _reference_scores(result["config"], corn_arrays)
        assert result["cv_score"] == pytest.approx(cv, rel=1e-6), result["config_name"]
        assert result["test_score"] == pytest.approx(test, rel=1e-6), result["config_name"]
    assert seen == {(c, a) for c in (SNV_CLASS, SG_CLASS, MSC_CLASS) for a in range(2, 21, 3)}


# ----------------------------------------------------------------------------- other commands


def test_resume_prints_the_same_json(cli_run, capsys):
    done, ws, _ = cli_run
    first = json.loads(done.stdout)
    assert main(["resume", first["run_id"], "--workspace", str(ws), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first


def test_workspace_summary_and_rebuild(cli_run, capsys):
    done, ws, _ = cli_run
    best = min(json.loads(done.stdout)["results"], key=lambda r: r["cv_score"])
    assert main(["workspace", "summary", str(ws)]) == 0
    out = capsys.readouterr().out
    assert "runs: 1 (1 completed)" in out and "results: 21" in out
    assert "predictions/corn.parquet: " in out and "21 configs" in out
    assert f"best rmse (val): {best['cv_score']:.6g}  {best['config_name']}" in out

    assert main(["workspace", "summary", str(ws), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["results"] == 21 and summary["predictions"]["corn"]["configs"] == 21

    assert main(["workspace", "rebuild-summaries", str(ws)]) == 0
    out = capsys.readouterr().out
    rows = summary["predictions"]["corn"]["rows"]
    assert out.strip() == f"predictions/corn.parquet: summary rebuilt from {rows} rows, 21 configs"
    assert main(["workspace", "rebuild-summaries", str(ws), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["corn"]["n_rows"] == rows


def test_run_without_json_prints_a_table(tmp_path, capsys):
    corn = shared_path("corn")
    template = tmp_path / "one.yaml"
    template.write_text(
        "name: one\npipeline:\n  - split: {class: sklearn.model_selection.KFold, params: {n_splits: 3}}\n  - SNV\n"
        "  - model: {class: PLS, params: {n_components: 4}}\n"
    )
    code = main(
        ["run", str(template), "--data", str(corn), "--workspace", str(tmp_path / "ws"), "--no-progress"]
    )
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert ": completed, 1/1 results" in out and "best on corn: 0000_SNV_PLS_" in out


# ----------------------------------------------------------------------------- errors


def _fails(argv, capsys, *fragments):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_error_exits(tmp_path, capsys):
    corn = str(shared_path("corn"))
    ws = str(tmp_path / "ws")
    _fails(["run", str(tmp_path / "nope.yaml"), "--data", corn, "--workspace", ws, "--json"], capsys,
           "nirs run: error: ", "nope.yaml: template file not found")  # fmt: skip
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pipeline:\n  - SNV\n  - {model: {class: PLS}, param: n_components, _range_: [5, 15, 0]}\n"
    )
    _fails(["run", str(bad), "--data", corn, "--workspace", ws, "--json"], capsys,
           "nirs run: error: ", "bad.yaml: pipeline[1]._range_: expected [start, stop, step] with step > 0")  # fmt: skip
    _fails(["run", str(SWEEP), "--data", str(tmp_path / "missing"), "--workspace", ws, "--json"], capsys,
           "nirs run: error: ", "missing: data path not found")  # fmt: skip
    assert Workspace(ws).run_ids() == []
    _fails(["resume", "20990101-000000-abcdef", "--workspace", ws], capsys,
           "nirs resume: error: ", "no run '20990101-000000-abcdef'")  # fmt: skip
    _fails(["workspace", "summary", str(tmp_path / "empty")], capsys,
           "nirs workspace summary: error: ", "not a workspace")  # fmt: skip
    _fails(["workspace", "rebuild-summaries", str(tmp_path / "empty")], capsys,
           "nirs workspace rebuild-summaries: error: ", "not a workspace")  # fmt: skip
    assert not (tmp_path / "empty").exists()


def test_invalid_data_exits_2_before_any_run(tmp_path, capsys):
    data = tmp_path / "lab"
    data.mkdir()
    (data / "Xcal.csv").write_text("1100;1102\n0.1;n/a\n")
    code = main(["run", str(SWEEP), "--data", str(data), "--workspace", str(tmp_path / "ws"), "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nirs run: error: ") and "Xcal.csv" in lines[0]
    assert Workspace(tmp_path / "ws").run_ids() == []


def test_a_failed_run_exits_with_its_error_and_how_to_resume(tmp_path, capsys, monkeypatch):
    import nirs_core.app.run as run_module
    from nirs_core.errors import DataError

    def broken(*args, **kwargs):
        raise DataError("lab/Xcal.csv: unreadable (the disk went away)")

    monkeypatch.setattr(run_module, "run_results", broken)
    code = main(
        ["run", str(SWEEP), "--data", str(shared_path("corn")), "--workspace", str(tmp_path / "ws"), "--json"]
    )
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("nirs run: error: ") and "Xcal.csv" in lines[0]
    assert "is marked failed" in lines[-1] and "nirs resume " in lines[-1]


def test_ctrl_c_pauses_and_exits_130(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Workspace, "add_checkpoints", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    ws = tmp_path / "ws"
    code = main(["run", str(SWEEP), "--data", str(shared_path("corn")), "--workspace", str(ws), "--json"])
    out, err = capsys.readouterr()
    assert code == 130 and out == ""
    (run_id,) = Workspace(ws).run_ids()
    assert f"run {run_id} is paused" in err and f"nirs resume {run_id} --workspace " in err
    assert Workspace(ws).load_run(run_id).status == "paused"


def test_the_earlier_commands_remain(capsys):
    assert main(["expand", str(SWEEP), "--count"]) == 0
    assert capsys.readouterr().out.strip() == "21"
