"""A full disk, on a small tmpfs: one line that says what happened and what to do, a run record
that tells the truth, no half-written file, the previous output untouched, and a resume that
finishes with the scores of an uninterrupted run. Needs root to mount (CI runs as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest
import yaml
from conftest import shared_path

from nirs_core.app.run import partial_files
from nirs_core.cli import main as nirs

TEMPLATE = """\
pipeline:
  - split: {class: sklearn.model_selection.KFold, params: {n_splits: 3, shuffle: true, random_state: 0}}
  - _or_: [SNV, MSC, Detrend]
  - model: {class: PLS, params: {scale: false}}
    param: n_components
    _range_: [2, 10, 2]
"""


@pytest.fixture
def small_fs(tmp_path):
    """A 16 MiB tmpfs at ``tmp_path/fs``, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the disk-full tests as root)")
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder, leave: int):
    """Fill the file system of ``folder`` until about ``leave`` bytes are free; return the filler."""
    filler = folder / f"filler-{uuid.uuid4().hex}"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as fh:
        fh.write(bytes(max(free - leave, 0)))
    return filler


def _tree_bytes(root) -> int:
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(root) for n in names)


def _scores(capsys_out: str) -> dict:
    import json

    data = json.loads(capsys_out)
    return {r["config_id"]: (r["cv_score"], r["test_score"]) for r in data["results"]}


def test_a_run_on_a_full_disk_fails_in_one_line_and_resumes_to_the_same_scores(small_fs, tmp_path, capsys):
    corn = shared_path("corn")
    template = tmp_path / "sweep.yaml"
    template.write_text(TEMPLATE)
    ref = tmp_path / "ref"
    assert (
        nirs(["run", str(template), "--data", str(corn), "--workspace", str(ref), "--json", "--no-progress"])
        == 0
    )
    expected = _scores(capsys.readouterr().out)
    assert len(expected) == 15

    ws = small_fs / "ws"
    filler = _fill(small_fs, leave=256 * 1024 + _tree_bytes(ref) // 2)
    code = nirs(
        ["run", str(template), "--data", str(corn), "--workspace", str(ws), "--json", "--no-progress"]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert (
        "no space left on the device" in lines[0]
        and "Free some space, then resume it (nirs resume" in lines[0]
    )
    (run_dir,) = (ws / "runs").iterdir()
    record = yaml.safe_load((run_dir / "run.yaml").read_text())
    assert record["status"] == "failed" and "No space left on device" in record["error"]
    assert partial_files(ws) == []  # no half-written file was left behind

    filler.unlink()
    assert nirs(["resume", run_dir.name, "--workspace", str(ws), "--json", "--no-progress"]) == 0
    assert _scores(capsys.readouterr().out) == expected
    assert yaml.safe_load((run_dir / "run.yaml").read_text())["status"] == "completed"
    assert partial_files(ws) == [] and not (ws / ".reserve").exists()


def test_predict_and_train_on_a_full_disk_keep_the_previous_output(small_fs, tmp_path, capsys):
    corn = shared_path("corn")
    template = tmp_path / "one.yaml"
    template.write_text(
        "pipeline:\n  - split: {class: sklearn.model_selection.KFold, params: {n_splits: 3}}\n"
        "  - SNV\n  - model: {class: PLS, params: {n_components: 4}}\n"
    )
    bundle = small_fs / "model.zip"
    assert (
        nirs(["train", str(template), "--data", str(corn), "-o", str(bundle), "--unsigned", "--no-progress"])
        == 0
    )
    preds = small_fs / "preds.csv"
    preds.write_text("sample,oil\nprevious,1.0\n")
    old_bundle, old_preds = bundle.read_bytes(), preds.read_bytes()
    capsys.readouterr()
    filler = _fill(small_fs, leave=0)
    assert nirs(["predict", str(bundle), str(corn / "Xval.csv"), "-o", str(preds), "--trust-unsigned"]) == 2
    assert (
        nirs(["train", str(template), "--data", str(corn), "-o", str(bundle), "--unsigned", "--no-progress"])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("no space left on the device" in line for line in err), err
    assert preds.read_bytes() == old_preds and bundle.read_bytes() == old_bundle
    assert partial_files(small_fs) == []
    filler.unlink()
