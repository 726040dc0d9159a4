"""The workspace: layout, content-addressed artefacts, the run status machine, checkpoints and
manifests, predictions per dataset, cleanup and the summary."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from nirs_core.errors import ConfigError, DataError
from nirs_core.names import POOLED_FOLD, REFIT_FOLD
from nirs_core.store.workspace import (
    TRANSITIONS,
    RunStatus,
    RunTransitionError,
    Workspace,
    check_transition,
    result_key,
)


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws")


def _rows(config, rmse, test, run="r1"):
    y = np.linspace(0, 1, 5)
    base = dict(run_id=run, dataset="corn", config_id=config, config_name=f"n-{config}", model="PLS",
                sample=np.arange(5), y_true=y, y_pred=y, metric="rmse")  # fmt: skip
    return [
        {**base, "fold": 0, "partition": "val", "rmse": rmse / 2},
        {**base, "fold": POOLED_FOLD, "partition": "val", "rmse": rmse},
        {**base, "fold": REFIT_FOLD, "partition": "test", "rmse": test},
    ]


# ----------------------------------------------------------------------------- layout


def test_layout(ws):
    root = ws.root
    assert {p.name for p in root.iterdir()} == {"runs", "artifacts", "predictions", "bundles"}
    assert ws.datasets_path == root / "datasets.yaml"
    assert ws.run_path("r1") == root / "runs" / "r1" / "run.yaml"
    assert ws.template_path("r1", "t1") == root / "runs" / "r1" / "templates" / "t1.yaml"
    assert ws.configs_path("r1") == root / "runs" / "r1" / "configs.yaml"
    assert ws.run_datasets_path("r1") == root / "runs" / "r1" / "datasets.yaml"
    cid = "0003_SNV_PLS-nc10_ab12cd"
    assert (
        ws.manifest_path("r1", "corn", cid)
        == root / "runs" / "r1" / "results" / "corn" / cid / "manifest.yaml"
    )
    assert ws.predictions_path("corn") == root / "predictions" / "corn.parquet"
    assert ws.bundle_path("corn.n4b.zip") == root / "bundles" / "corn.n4b.zip"
    assert result_key("corn", cid) == f"corn/{cid}"
    assert repr(ws) == f"Workspace({str(root)!r})"


@pytest.mark.parametrize("bad", ["../etc", "a/b", ".hidden", "", "x.lock", "sp ace"])
def test_unsafe_names_raise(ws, bad):
    with pytest.raises(ConfigError, match=r"workspace: dataset must match .*; got"):
        ws.predictions_path(bad)


def test_workspace_on_a_file_raises(tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    with pytest.raises(NotADirectoryError, match=r"Workspace: expected a folder at .*f; found a file"):
        Workspace(f)


# ----------------------------------------------------------------------------- artefacts


def test_artifacts_are_content_addressed_and_idempotent(ws):
    data = b"\x93NUMPY fitted coefficients"
    sha = ws.put_artifact(data, "npz")
    assert sha == hashlib.sha256(data).hexdigest()
    path = ws.artifact_path(sha, "npz")
    assert path == ws.root / "artifacts" / f"{sha}.npz" and path.read_bytes() == data
    mtime = path.stat().st_mtime_ns
    assert ws.put_artifact(data, "npz") == sha and path.stat().st_mtime_ns == mtime  # not rewritten
    assert ws.get_artifact(sha, "npz") == data
    assert ws.put_artifact(b"other", "npz") != sha
    assert len(list(ws.artifacts_dir.iterdir())) == 2


def test_artifact_errors(ws):
    sha = ws.put_artifact(b"abc", "json")
    ws.artifact_path(sha, "json").write_bytes(b"abd")
    with pytest.raises(
        DataError, match=rf"{sha}\.json: content hashes to sha256 [0-9a-f]{{64}}; expected {sha}"
    ):
        ws.get_artifact(sha, "json")
    assert ws.get_artifact(sha, "json", verify=False) == b"abd"
    with pytest.raises(FileNotFoundError, match=r"no such artefact in"):
        ws.get_artifact("0" * 64, "json")
    with pytest.raises(ConfigError, match=r"artefact id must be 64 lowercase hex digits; got 'abc'"):
        ws.artifact_path("abc", "npz")
    with pytest.raises(ConfigError, match=r"artefact extension must match .*; got '\.npz'"):
        ws.artifact_path(sha, ".npz")


# ----------------------------------------------------------------------------- runs


def test_run_lifecycle_with_resume(ws):
    record = ws.create_run("sweep", info={"templates": ["t1"], "datasets": ["corn"]})
    assert record.status is RunStatus.QUEUED and record.run_id in ws.run_ids()
    run_id = record.run_id
    for status in ("running", "paused", "running", "failed", "running", "completed"):
        record = ws.set_run_status(run_id, status, error="disk full" if status == "failed" else None)
        if status == "failed":
            assert record.error == "disk full" and record.finished_at is not None
        if status == "running":
            assert record.error is None and record.finished_at is None
    on_disk = yaml.safe_load(ws.run_path(run_id).read_text())
    assert on_disk["status"] == "completed" and on_disk["name"] == "sweep"
    assert on_disk["info"] == {"templates": ["t1"], "datasets": ["corn"]}
    assert [h["status"] for h in on_disk["history"]] == [
        "queued", "running", "paused", "running", "failed", "running", "completed"
    ]  # fmt: skip
    assert on_disk["started_at"] <= on_disk["finished_at"]
    assert ws.load_run(run_id) == record


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "completed"),
        ([], "paused"),
        ([], "failed"),
        (["running", "completed"], "running"),
        (["cancelled"], "running"),
        (["running", "paused"], "completed"),
        (["running", "failed"], "completed"),
        (["running", "failed"], "cancelled"),
        (["running"], "queued"),
    ],
)
def test_invalid_transitions_raise(ws, path, target):
    run_id = ws.create_run("r").run_id
    for status in path:
        ws.set_run_status(run_id, status)
    current = path[-1] if path else "queued"
    with pytest.raises(
        RunTransitionError, match=rf"run\.yaml: cannot change status from '{current}' to '{target}'"
    ):
        ws.set_run_status(run_id, target)
    assert ws.load_run(run_id).status == current


def test_transition_table_and_messages():
    assert TRANSITIONS[RunStatus.FAILED] == {RunStatus.RUNNING}
    assert check_transition("queued", "running") is RunStatus.RUNNING
    with pytest.raises(RunTransitionError, match=r"allowed from 'completed': none \('completed' is final\)"):
        check_transition("completed", "running")
    with pytest.raises(RunTransitionError, match=r"allowed from 'paused': cancelled, running"):
        check_transition("paused", "failed")
    with pytest.raises(RunTransitionError, match=r"status must be one of \[.*\]; got 'done'"):
        check_transition("running", "done")
    assert isinstance(RunTransitionError("x"), ValueError)


def test_run_errors(ws):
    ws.create_run("a", run_id="r1")
    with pytest.raises(ConfigError, match=r"run\.yaml: run 'r1' already exists"):
        ws.create_run("b", run_id="r1")
    with pytest.raises(FileNotFoundError, match=r"no run 'r9' in .* \(runs: r1\)"):
        ws.load_run("r9")
    for text, match in (
        ("status: [", r"not valid YAML"),
        ("- 1", r"expected a mapping; got list"),
        ("run_id: r1\nname: a\ncolour: red", r"malformed run record"),
        ("run_id: r1\nname: a\nstatus: done", r"status must be one of"),
    ):
        ws.run_path("r1").write_text(text)
        with pytest.raises((ConfigError, RunTransitionError), match=match):
            ws.load_run("r1")


def test_checkpoints_and_manifests(ws):
    run_id = ws.create_run("r").run_id
    ws.add_checkpoint(run_id, "corn", "c1")
    ws.add_checkpoint(run_id, "corn", "c1")
    ws.add_checkpoint(run_id, "corn", "c2")
    assert ws.load_run(run_id).checkpoints == ["corn/c1", "corn/c2"]
    assert ws.completed_results(run_id) == set()  # no manifest yet
    ws.write_manifest(run_id, "corn", "c1", {"cv_score": 0.4, "artifacts": {"model": "ab"}})
    assert ws.completed_results(run_id) == {"corn/c1"}
    assert ws.read_manifest(run_id, "corn", "c1")["cv_score"] == 0.4
    with pytest.raises(FileNotFoundError, match=r"no manifest for result corn/c2 of run"):
        ws.read_manifest(run_id, "corn", "c2")
    ws.manifest_path(run_id, "corn", "c2").parent.mkdir(parents=True)
    ws.manifest_path(run_id, "corn", "c2").write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"manifest\.yaml: expected a mapping; got list"):
        ws.read_manifest(run_id, "corn", "c2")
    ws.manifest_path(run_id, "corn", "c2").write_text("a: [")
    with pytest.raises(ConfigError, match=r"manifest\.yaml: not valid YAML"):
        ws.read_manifest(run_id, "corn", "c2")


def test_run_files(ws):
    run_id = ws.create_run("r").run_id
    verbatim = "# my sweep\nsteps:\n  - {_or_: [SNV, MSC]}   # kept as typed\n"
    assert ws.write_template(run_id, "t1", verbatim).read_text() == verbatim
    assert yaml.safe_load(ws.write_template(run_id, "t2", {"steps": ["SNV"]}).read_text()) == {
        "steps": ["SNV"]
    }
    ws.write_configs(run_id, [{"id": "c1", "steps": []}])
    ws.write_run_datasets(run_id, [{"name": "corn", "sha256": "ab"}])
    assert yaml.safe_load(ws.configs_path(run_id).read_text())["configs"][0]["id"] == "c1"
    assert yaml.safe_load(ws.run_datasets_path(run_id).read_text())["datasets"][0]["name"] == "corn"


# ----------------------------------------------------------------------------- summary


def test_summary_from_footers_and_small_files(ws, tmp_path, monkeypatch):
    a = ws.create_run("a").run_id
    ws.set_run_status(a, "running")
    ws.set_run_status(a, "completed")
    ws.create_run("b")
    ws.write_manifest(a, "corn", "c1", {"x": 1})
    ws.put_artifact(b"12345", "bin")
    data = tmp_path / "corn.csv"
    data.write_text("1;2\n")
    ws.datasets.register(data)
    ws.append_predictions("corn", _rows("c1", rmse=0.4, test=0.5) + _rows("c2", rmse=0.3, test=0.6))
    ws.append_predictions("corn", _rows("c3", rmse=0.35, test=0.45, run="r2"))

    def forbidden(*args, **kwargs):
        raise AssertionError("the summary read rows")

    monkeypatch.setattr(pq, "read_table", forbidden)
    summary = ws.summary()
    assert summary["runs"] == {"total": 2, "by_status": {"completed": 1, "queued": 1}}
    assert summary["datasets"] == {"total": 1, "by_status": {"active": 1}}
    assert summary["results"] == 1
    assert summary["artifacts"] == {"count": 1, "bytes": 5}
    corn = summary["predictions"]["corn"]
    assert corn["rows"] == 9 and corn["configs"] == 3
    assert corn["best"]["rmse"]["val"]["config_id"] == "c2" and corn["best"]["rmse"]["val"]["score"] == 0.3
    assert corn["best"]["rmse"]["test"]["config_id"] == "c3"
    monkeypatch.undo()
    assert ws.read_predictions("corn", config_id="c3").height == 3
    assert ws.predictions_summary("corn")["n_rows"] == 9
    rebuilt = ws.rebuild_summaries()
    assert list(rebuilt) == ["corn"] and rebuilt["corn"]["n_rows"] == 9


def test_cleanup_partial_of_a_workspace(ws):
    stray = ws.predictions_dir / ".corn.parquet.tmp-999999999-00c0ffee"  # a dead writer's pid
    stray.write_bytes(b"half")
    live = ws.runs_dir / f".run.yaml.tmp-{os.getpid()}-00c0ffee"
    live.write_bytes(b"being written")
    assert ws.cleanup_partial() == [stray]
    assert live.exists()
    assert ws.cleanup_partial(force=True) == [live]


def test_concurrent_checkpoints_lose_nothing(ws):
    from concurrent.futures import ThreadPoolExecutor

    run_id = ws.create_run("r").run_id
    keys = [("corn", f"c{i:02d}") for i in range(40)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: ws.add_checkpoint(run_id, *k), keys))
    assert sorted(ws.load_run(run_id).checkpoints) == [f"corn/c{i:02d}" for i in range(40)]
