"""``nirs train -o`` and ``nirs predict -o`` never destroy the previous output: a failing,
killed or terminated command leaves it byte-identical, leaves no temporary file or scratch
workspace behind (a killed one's are removed by the next run), and sample ids keep their type."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import shared_path

from nirs_core.app.run import partial_files
from nirs_core.app.train import _remove_stale_scratch
from nirs_core.cli import main as nirs

TEMPLATE = """\
pipeline:
  - split: {class: sklearn.model_selection.KFold, params: {n_splits: 3}}
  - _or_: [SNV, MSC, Detrend, null]
  - model: {class: PLS, params: {scale: false}}
    param: n_components
    _range_: [2, 14, 1]
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    template = root / "t.yaml"
    template.write_text(TEMPLATE)
    path = root / "model.zip"
    assert (
        nirs(
            [
                "train",
                str(template),
                "--data",
                str(shared_path("corn")),
                "-o",
                str(path),
                "--unsigned",
                "--no-progress",
            ]
        )
        == 0
    )
    return template, path


def _with_ids(tmp_path, ids) -> Path:
    lines = shared_path("corn", "Xval.csv").read_text().splitlines()
    rows = [f"sample;{lines[0]}"] + [f"{i};{line}" for i, line in zip(ids, lines[1:])]
    path = tmp_path / "with_ids.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    "ids", [[f"lot-{i:03d}/A" for i in range(20)], list(range(100, 120)), [f"{i}.5" for i in range(20)]]
)
def test_sample_ids_keep_their_type(bundle, tmp_path, ids):
    _, model = bundle
    out = tmp_path / "preds.csv"
    assert (
        nirs(["predict", str(model), str(_with_ids(tmp_path, ids)), "-o", str(out), "--trust-unsigned"]) == 0
    )
    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:2] == ["sample", "oil"] and rows[0][-1] == "in_domain"  # then interval and domain
    assert [r[0] for r in rows[1:]] == [str(i) for i in ids]  # as written in the input file


def test_a_failing_predict_leaves_the_previous_output(bundle, tmp_path, capsys):
    _, model = bundle
    out = tmp_path / "preds.csv"
    out.write_bytes(b"sample,oil\nold,1.0\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("1;2;3\n0.1;0.2;0.3\n")
    assert nirs(["predict", str(model), str(bad), "-o", str(out), "--trust-unsigned"]) == 2
    binary = tmp_path / "x.npy"
    binary.write_bytes(b"\x93NUMPY\x01\x00" + bytes(200))
    assert nirs(["predict", str(model), str(binary), "-o", str(out), "--trust-unsigned"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "Traceback" not in "".join(err), err
    assert out.read_bytes() == b"sample,oil\nold,1.0\n" and partial_files(tmp_path) == []


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def _start_train(template, data, out) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from nirs_core.cli import main; sys.argv[0] = 'nirs'; sys.exit(main())",
            "train",
            str(template),
            "--data",
            str(data),
            "-o",
            str(out),
            "--unsigned",
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _scratch_of(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"nirs-train-{pid}-*"))


def _wait_for_scratch(proc) -> None:
    deadline = time.monotonic() + 120
    while not _scratch_of(proc.pid):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # inside the run


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_train_leaves_the_previous_bundle(bundle, tmp_path, sig):
    template, model = bundle
    out = tmp_path / "model.zip"
    out.write_bytes(model.read_bytes())
    before = out.read_bytes()
    proc = _start_train(template, shared_path("corn"), out)
    _wait_for_scratch(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert out.read_bytes() == before
    if sig == signal.SIGTERM:
        assert (
            proc.returncode == 130 and err.strip() == "nirs train: interrupted; nothing was half-written."
        ), err
        assert _scratch_of(proc.pid) == [] and partial_files(tmp_path) == []
    else:
        assert proc.returncode == -signal.SIGKILL
        left = _scratch_of(proc.pid)  # a killed process cannot clean up: the next train does
        assert left and _remove_stale_scratch() and not any(d.exists() for d in left)


def test_the_next_train_removes_what_killed_ones_left(bundle, tmp_path):
    template, _model = bundle
    out = tmp_path / "model.zip"
    dead = _dead_pid()
    stale_tmp = tmp_path / f".model.zip.tmp-{dead}-0123abcd"
    stale_tmp.write_bytes(b"half")
    other = tmp_path / f".other.zip.tmp-{dead}-0123abcd"  # another file's: not ours to remove
    other.write_bytes(b"half")
    scratch = Path(tempfile.mkdtemp(prefix=f"nirs-train-{dead}-"))
    (scratch / "workspace").mkdir()
    assert (
        nirs(
            [
                "train",
                str(template),
                "--data",
                str(shared_path("corn")),
                "-o",
                str(out),
                "--unsigned",
                "--no-progress",
            ]
        )
        == 0
    )
    assert not stale_tmp.exists() and not scratch.exists() and other.exists()
    assert out.read_bytes()[:2] == b"PK"
    os.unlink(other)


def test_a_closed_pipe_ends_predict_quietly(bundle, tmp_path):
    """``nirs predict model.zip data.csv | head -1``: the reader goes away, no traceback."""
    _, model = bundle
    lines = shared_path("corn", "Xval.csv").read_text().splitlines()
    many = tmp_path / "many.csv"
    many.write_text("\n".join([lines[0]] + lines[1:] * 2000) + "\n")  # 40 000 rows: more than a pipe holds
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from nirs_core.cli import main; sys.argv[0] = 'nirs'; sys.exit(main())",
            "predict",
            str(model),
            str(many),
            "--trust-unsigned",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the first line, as after `head -1`
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode == 141
