"""A run killed with SIGKILL in the middle (or interrupted with Ctrl-C), then resumed, ends with
the same scores as an uninterrupted run; the workspace keeps no partial file and no duplicated
prediction rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, shared_path

from nirs_core.app.run import partial_files, resume, run
from nirs_core.pipeline.generators import count, load_template
from nirs_core.store.workspace import Workspace

SWEEP = REPO / "examples" / "corn_pls_sweep.yaml"
CLI = [sys.executable, "-m", "nirs_core.cli"]


@pytest.fixture(scope="module")
def corn():
    return shared_path("corn")


@pytest.fixture(scope="module")
def reference(corn, tmp_path_factory):
    """The uninterrupted run, in process."""
    return run(templates=[SWEEP], datasets=[corn], workspace=tmp_path_factory.mktemp("ref"), progress=False)


def _scores(results):
    return {r["config_id"]: (r["cv_score"], r["test_score"]) for r in results}


def _start_and_signal(ws, corn, sig):
    """Start ``nirs run`` on the sweep, send ``sig`` once run.yaml has a checkpoint; return
    (run.yaml path, return code, stderr)."""
    child = subprocess.Popen(
        [*CLI, "run", str(SWEEP), "--data", str(corn), "--workspace", str(ws), "--json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "NIRS_COMMIT_SECONDS": "0"},  # commit after every group
    )
    deadline = time.monotonic() + 60
    signalled = None
    try:
        while time.monotonic() < deadline and child.poll() is None:
            runs = list(ws.glob("runs/*/run.yaml"))
            if runs and _checkpoints(runs[0]) >= 1:
                child.send_signal(sig)
                signalled = runs[0]
                break
            time.sleep(0.001)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert signalled is not None, "the child ended before a checkpoint could be seen"
    return signalled, child.returncode, err.decode()


def _checkpoints(run_yaml) -> int:
    try:
        return run_yaml.read_text(encoding="utf-8").count("\n- corn/")
    except FileNotFoundError:
        return 0


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_sigkill_then_resume_gives_the_uninterrupted_scores(tmp_path, corn, reference):
    n = count(load_template(SWEEP))
    assert n >= 12
    expected = _scores(reference.results)
    ws = tmp_path / "ws"
    killed_at, returncode, _ = _start_and_signal(ws, corn, signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    run_id = killed_at.parent.name
    w = Workspace(ws)
    record = w.load_run(run_id)
    done_before = len(record.checkpoints)
    assert record.status == "running"  # the killed process could not record anything else
    assert 1 <= done_before < n, f"killed after {done_before} of {n} results"

    resumed = subprocess.run(
        [*CLI, "resume", run_id, "--workspace", str(ws), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["run_id"] == run_id and out["status"] == "completed"
    got = _scores(out["results"])
    mismatched = {k: (expected.get(k), v) for k, v in got.items() if expected.get(k) != v}
    assert got.keys() == expected.keys() and not mismatched, mismatched  # exact, config by config

    record = w.load_run(run_id)
    assert record.status == "completed" and len(record.checkpoints) == n
    statuses = [h["status"] for h in record.history]
    assert statuses == ["queued", "running", "paused", "running", "completed"]
    assert partial_files(ws) == []
    assert not [p for p in ws.rglob("*") if ".tmp-" in p.name]
    rows = w.read_predictions("corn", run_id=run_id, columns=["config_id", "model", "fold", "partition"])
    per_config = dict(rows.group_by("config_id").len().iter_rows())
    assert set(per_config) == set(expected)
    reference_rows = reference.predictions("corn", columns=["config_id"]).height
    assert rows.height == reference_rows and len(set(per_config.values())) == 1
    assert rows.unique().height == rows.height  # no (config, model, fold, partition) twice


@pytest.mark.skipif(os.name != "posix", reason="SIGINT delivery as in a terminal is POSIX")
def test_ctrl_c_pauses_a_cli_run_and_resume_finishes_it(tmp_path, corn, reference):
    ws = tmp_path / "ws"
    run_yaml, returncode, err = _start_and_signal(ws, corn, signal.SIGINT)
    run_id = run_yaml.parent.name
    assert returncode == 130, err
    assert f"run {run_id} is paused. Resume it with: nirs resume {run_id} --workspace " in err
    w = Workspace(ws)
    assert w.load_run(run_id).status == "paused"
    finished = resume(run_id, ws, progress=False)
    assert finished.status == "completed"
    assert _scores(finished.results) == _scores(reference.results)
    counts = dict(w.read_predictions("corn", columns=["config_id"]).group_by("config_id").len().iter_rows())
    assert len(counts) == len(finished.results) and len(set(counts.values())) == 1
    assert partial_files(ws) == []
