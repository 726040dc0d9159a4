"""A config that fails on a dataset is a failed result: the run goes on, completes with the
failures counted, a resume skips them unless asked to retry, and ``nirs run`` says so."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import shared_path
from sklearn.cross_decomposition import PLSRegression as SkPLSRegression
from sklearn.model_selection import KFold

import nirs_core
from nirs_core.app.run import resume
from nirs_core.errors import ConfigError
from nirs_core.pipeline.executor import execute_batch
from nirs_core.pipeline.generators import expand
from nirs_core.pipeline.result import FailedResult, Result
from nirs_core.store.workspace import RunTransitionError, Workspace

SK_PLS = "sklearn.cross_decomposition.PLSRegression"
KFOLD = {
    "class": "sklearn.model_selection.KFold",
    "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
}


def _template(stop: int, model: str = "PLS") -> dict:
    # corn: 60 calibration samples, 48 per training fold, so at most 47 components
    return {
        "name": "impossible",
        "pipeline": [
            {"split": KFOLD},
            {"_or_": ["SNV", "MSC"]},
            {"model": {"class": model}, "param": "n_components", "_range_": [10, stop, 20]},
        ],
    }


@pytest.fixture(scope="module")
def corn_path():
    return shared_path("corn")


def _scores(run):
    return {r["config_id"]: (r["cv_score"], r["test_score"], r["scores"]) for r in run.results}


@pytest.mark.parametrize("model", ["PLS", "sklearn.cross_decomposition.PLSRegression"])
def test_impossible_configs_fail_alone_and_the_others_equal_a_clean_run(tmp_path, corn_path, model):
    run = nirs_core.run(_template(70, model), corn_path, tmp_path / "ws", progress=False)
    assert run.status == "completed"
    assert len(run.results) == 4 and run.n_failed == 4  # 10, 30 fit; 50, 70 do not
    assert {f["config_name"].split("_")[-2] for f in run.failures} == {"PLS-nc50", "PLS-nc70"}
    for failure in run.failures:
        assert failure["error_type"] in ("ConfigError", "ValueError")
        assert "n_components" in failure["error"]
    clean = nirs_core.run(_template(30, model), corn_path, tmp_path / "clean", progress=False)
    assert clean.n_failed == 0
    assert _scores(run) == _scores(clean)
    # the failed results are recorded in the workspace: manifest with the error, run.yaml
    ws = Workspace(tmp_path / "ws")
    record = ws.load_run(run.run_id)
    assert len(record.failed) == 4 and len(record.checkpoints) == 4
    dataset, config_id = record.failed[0].split("/")
    manifest = ws.read_manifest(run.run_id, dataset, config_id)
    assert manifest["status"] == "failed" and "n_components" in manifest["error"]
    assert not ws.graph_path(run.run_id, dataset, config_id).exists()
    rows = ws.read_predictions(dataset, run_id=run.run_id, columns=["config_id"])
    assert config_id not in set(rows["config_id"].to_list())


def _snv(X):
    return (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)


def _msc(X, ref):
    out = np.empty_like(X)
    for i, x in enumerate(X):  # one least-squares line per spectrum against the reference
        slope, offset = np.polyfit(ref, x, 1)
        out[i] = (x - offset) / slope
    return out


def _rows(run, config_id):
    table = run.predictions(config_id=config_id).sort(["model", "fold", "partition"])
    return [
        (r["fold"], r["partition"], list(r["sample"]), list(r["y_pred"])) for r in table.iter_rows(named=True)
    ]


def test_the_results_beside_failures_are_right_and_their_predictions_equal_a_clean_run(
    tmp_path, corn_path, corn_arrays
):
    run = nirs_core.run(_template(70, SK_PLS), corn_path, tmp_path / "ws", progress=False)
    clean = nirs_core.run(_template(30, SK_PLS), corn_path, tmp_path / "clean", progress=False)
    assert run.n_failed == 4 and clean.n_failed == 0
    for r in run.results:  # every prediction row of the surviving configs, bit for bit
        got = _rows(run, r["config_id"])
        assert len(got) >= 6 and got == _rows(clean, r["config_id"])  # 5 folds and the refit
    # and their scores from an independent loop: scikit-learn's PLS on the same folds
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    expected = []
    for prep in ("snv", "msc"):
        for a in (10, 30):
            pred = np.empty_like(y)
            for tr, va in KFold(5, shuffle=True, random_state=0).split(X):
                if prep == "snv":
                    Ztr, Zva = _snv(X[tr]), _snv(X[va])
                else:
                    ref = X[tr].mean(axis=0)
                    Ztr, Zva = _msc(X[tr], ref), _msc(X[va], ref)
                pred[va] = SkPLSRegression(a).fit(Ztr, y[tr]).predict(Zva).ravel()
            expected.append(float(np.sqrt(np.mean((pred - y) ** 2))))
    np.testing.assert_allclose([r["cv_score"] for r in run.results], expected, rtol=1e-8)


def test_execute_batch_isolates_on_request_and_raises_otherwise(corn_path):
    from nirs_core.data import load

    corn = load(corn_path)
    configs = expand(_template(50))[:3]  # SNV with 10, 30, 50 components: one sweep group
    out = execute_batch(configs, corn, isolate=True)
    assert [type(r) for r in out] == [Result, Result, FailedResult]
    assert out[2].config_id == configs[2].id and out[2].manifest()["status"] == "failed"
    with pytest.raises(ConfigError, match=r"n_components=50 exceeds the rank limit"):
        execute_batch(configs, corn)


def test_resume_keeps_failed_results_unless_asked_and_a_retry_can_succeed(tmp_path, corn_path, monkeypatch):
    from nirs_core.pipeline import executor

    real = executor._Batch._run
    broken = expand(_template(30))[1].id  # SNV, 30 components: fine, but made to fail once

    def flaky(self, cfgs, keep=None):
        if any(c.id == broken for c in cfgs):
            raise FloatingPointError("a singular fit (simulated)")
        return real(self, cfgs, keep)

    monkeypatch.setattr(executor._Batch, "_run", flaky)
    run = nirs_core.run(_template(30), corn_path, tmp_path, progress=False)
    assert run.status == "completed" and run.n_failed == 1 and len(run.results) == 3
    assert run.failures[0]["error"] == "a singular fit (simulated)"
    monkeypatch.setattr(executor._Batch, "_run", real)
    again = resume(run.run_id, tmp_path, progress=False)
    assert again.n_failed == 1 and len(again.results) == 3  # not retried
    retried = resume(run.run_id, tmp_path, progress=False, retry_failed=True)
    assert retried.status == "completed" and retried.n_failed == 0 and len(retried.results) == 4
    clean = nirs_core.run(_template(30), corn_path, tmp_path / "clean", progress=False)
    assert _scores(retried) == _scores(clean)
    record = Workspace(tmp_path).load_run(run.run_id)
    assert record.failed == [] and any(h.get("why") == "retry failed results" for h in record.history)


def test_only_a_completed_run_with_failures_reopens(tmp_path, corn_path):
    run = nirs_core.run(_template(30), corn_path, tmp_path, progress=False)
    with pytest.raises(
        RunTransitionError, match=r"only a completed run with failed results reopens.*with 0 failed"
    ):
        Workspace(tmp_path).reopen_failed(run.run_id)


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "nirs_core.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_nirs_run_exits_0_and_says_how_many_failed_and_strict_fails(tmp_path, corn_path):
    import yaml

    template = tmp_path / "impossible.yaml"
    template.write_text(yaml.safe_dump(_template(50)))
    done = _cli(
        "run", str(template), "--data", str(corn_path), "--workspace", "ws", "--no-progress", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "2 of 6 results failed" in done.stderr and "--retry-failed" in done.stderr
    assert ", 2 failed" in done.stdout
    strict = _cli(
        "run",
        str(template),
        "--data",
        str(corn_path),
        "--workspace",
        "ws",
        "--no-progress",
        "--strict",
        cwd=tmp_path,
    )
    assert strict.returncode == 1 and "--strict: exit status 1" in strict.stderr


def test_nirs_resume_retry_failed_and_a_long_list_of_failures(tmp_path, corn_path):
    import yaml

    template = tmp_path / "all_fail.yaml"
    body = _template(110)
    body["pipeline"][2]["_range_"] = [50, 110, 10]  # 7 counts, all above the 47 a fold allows
    body["pipeline"][1] = "SNV"
    template.write_text(yaml.safe_dump(body))
    done = _cli(
        "run",
        str(template),
        "--data",
        str(corn_path),
        "--workspace",
        "ws",
        "--no-progress",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "7 of 7 results failed" in done.stderr and "… and 2 more" in done.stderr
    import json

    run_id = json.loads(done.stdout)["run_id"]
    again = _cli(
        "resume", run_id, "--workspace", "ws", "--no-progress", "--retry-failed", "--strict", cwd=tmp_path
    )
    assert again.returncode == 1 and "7 of 7 results failed" in again.stderr
    record = Workspace(tmp_path / "ws").load_run(run_id)
    assert record.status == "completed" and len(record.failed) == 7
    summary = _cli("workspace", "summary", "ws", cwd=tmp_path)
    assert "results: 7 (7 failed)" in summary.stdout
    assert Workspace(tmp_path / "ws").summary()["failed_results"] == 7
    assert [h["status"] for h in record.history][-3:] == ["paused", "running", "completed"]
