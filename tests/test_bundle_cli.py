"""`nirs train | predict | verify | show` end to end on ../shared/data/corn.

Done-when of issue 5: train with a sweep; `nirs predict` in a fresh process on Xval.csv equals
the training-time test predictions stored in the workspace (fold −1, partition test) with
np.array_equal; a tampered bundle makes `verify` and `predict` fail.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import shared_path
from test_bundle_fixtures import KEY, OTHER_KEY, read_members, resign, write_members

from nirs_core.cli import main
from nirs_core.store.bundle import KEY_ENV, KEY_FILE_ENV
from nirs_core.store.workspace import Workspace

SWEEP = {
    "name": "corn_small_sweep",
    "pipeline": [
        {
            "split": {
                "class": "sklearn.model_selection.KFold",
                "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
            }
        },
        {
            "_or_": [
                "SNV",
                {"class": "SavitzkyGolay", "params": {"window_length": 15, "polyorder": 2, "deriv": 1}},
            ]
        },
        {
            "model": {"class": "PLS", "params": {"scale": False}},
            "param": "n_components",
            "_range_": [4, 12, 4],
        },
    ],
}


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, KEY_FILE_ENV)}
    env.update(extra)
    return env


def _nirs(*args, key=KEY, home=None):
    env = _env(**({KEY_ENV: key} if key else {}))
    if home is not None:
        env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "nirs_core.cli", *map(str, args)], capture_output=True, text=True, env=env
    )


pytestmark = pytest.mark.usefixtures("no_ambient_key")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    corn = shared_path("corn")
    root = tmp_path_factory.mktemp("train")
    template = root / "sweep.yaml"
    template.write_text(yaml.safe_dump(SWEEP))
    bundle, ws = root / "corn.zip", root / "ws"
    done = _nirs(
        "train", template, "--data", corn, "-o", bundle, "--workspace", ws, "--no-progress", home=root
    )
    assert done.returncode == 0, done.stderr
    assert "best of 6 config(s) by cv_score" in done.stdout
    return {"bundle": bundle, "workspace": ws, "corn": corn, "root": root, "stdout": done.stdout}


def _stored_test_predictions(ws_root):
    ws = Workspace(ws_root)
    run_id = ws.run_ids()[-1]
    from nirs_core.app.run import load_run

    best = load_run(run_id, ws).best("corn")
    rows = ws.read_predictions("corn", run_id=run_id, config_id=best["config_id"], fold=-1, partition="test")
    assert rows.height == 1
    return np.asarray(rows.row(0, named=True)["y_pred"], dtype=np.float64), best


def test_cli_predict_in_a_fresh_process_equals_the_training_test_predictions(trained):
    stored, best = _stored_test_predictions(trained["workspace"])
    assert best["config_name"] in trained["stdout"]
    out = trained["root"] / "preds.csv"
    done = _nirs("predict", trained["bundle"], trained["corn"] / "Xval.csv", "-o", out, home=trained["root"])
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "oil,oil_lower,oil_upper,t2,t2_limit,q,q_limit,leverage,in_domain" and len(lines) == 21
    got = np.array([float(v.split(",")[0]) for v in lines[1:]])
    assert np.array_equal(got, stored)


def test_cli_predict_on_the_folder_gives_every_partition_in_file_order(trained):
    out = trained["root"] / "all.csv"
    assert main(["predict", str(trained["bundle"]), str(trained["corn"]), "-o", str(out)]) == 2  # no key here
    done = _nirs("predict", trained["bundle"], trained["corn"], "-o", out, home=trained["root"])
    assert done.returncode == 0, done.stderr
    values = np.loadtxt(out, delimiter=",", skiprows=1, usecols=0)
    stored, _ = _stored_test_predictions(trained["workspace"])
    assert values.shape == (80,) and np.array_equal(values[60:], stored)


def test_cli_verify_and_show(trained, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    assert main(["verify", str(trained["bundle"])]) == 0
    out = capsys.readouterr().out
    assert "intact" in out and "signature   valid" in out and "targets     oil (regression)" in out
    assert main(["verify", str(trained["bundle"]), "--json"]) == 0
    assert '"signature": "valid"' in capsys.readouterr().out
    assert main(["show", str(trained["bundle"])]) == 0
    out = capsys.readouterr().out
    assert "000_input" in out and "PLSRegression" in out and "metrics   rmse: cv" in out
    assert "lineage   graph" in out and "predicted_vs_measured.png" in out


def test_cli_refuses_tampered_bundles(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    members = read_members(trained["bundle"])
    plot = next(n for n in members if n.startswith("plots/"))
    flipped = dict(members)
    flipped[plot] = bytes([members[plot][0] ^ 0xFF]) + members[plot][1:]
    cases = {
        "flipped": (write_members(tmp_path / "f.zip", flipped), f"member '{plot}' hashes to sha256"),
        "unsigned": (
            write_members(tmp_path / "u.zip", {k: v for k, v in members.items() if k != "signature"}),
            "the bundle is not signed",
        ),
        "other key": (
            write_members(tmp_path / "o.zip", resign(members, OTHER_KEY)),
            "signed with another key",
        ),
    }
    for bundle, message in cases.values():
        for command in (["verify", str(bundle)], ["predict", str(bundle), str(trained["corn"] / "Xval.csv")]):
            assert main(command) == 2
            err = capsys.readouterr().err
            assert message in err and err.startswith(f"nirs {command[0]}: error:")
    # an unsigned bundle is accepted when trusted explicitly
    unsigned = cases["unsigned"][0]
    assert main(["verify", str(unsigned), "--trust-unsigned"]) == 0
    assert "none (accepted: --trust-unsigned)" in capsys.readouterr().out
    for command in ("verify", "predict", "show"):
        extra = [str(trained["corn"] / "Xval.csv")] if command == "predict" else []
        assert main([command, str(tmp_path / "absent.zip"), *extra]) == 2
        assert "no such bundle file" in capsys.readouterr().err


def test_cli_predict_refuses_bad_input(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    header, *rows = (trained["corn"] / "Xval.csv").read_text().splitlines()
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join(";".join(line.split(";")[:-2]) for line in [header, *rows]) + "\n")
    assert main(["predict", str(trained["bundle"]), str(cut)]) == 2
    assert "698 wavelengths instead of 700" in capsys.readouterr().err
    assert main(["predict", str(trained["bundle"]), str(cut), "--resample"]) == 2
    assert "extrapolation is refused" in capsys.readouterr().err


def test_cli_train_without_a_key_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no key file there either
    template = tmp_path / "t.yaml"
    template.write_text(yaml.safe_dump(SWEEP))
    code = main(["train", str(template), "--data", str(shared_path("corn")), "-o", str(tmp_path / "m.zip")])
    assert code == 2
    assert "train: no signing key" in capsys.readouterr().err
    assert not (tmp_path / "m.zip").exists()


def test_cli_train_unsigned_ensemble_with_a_key_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no key file there either
    small = {
        **SWEEP,
        "pipeline": [
            *SWEEP["pipeline"][:1],
            "SNV",
            {"model": {"class": "PLS", "params": {"n_components": 6}}},
        ],
    }
    template = tmp_path / "t.yaml"
    template.write_text(yaml.safe_dump(small))
    key_file = tmp_path / "k.key"
    key_file.write_text(KEY)
    out = tmp_path / "e.zip"
    corn = shared_path("corn")
    assert (
        main(
            [
                "train",
                str(template),
                "--data",
                str(corn),
                "-o",
                str(out),
                "--ensemble",
                "--key-file",
                str(key_file),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "bundle written to" in capsys.readouterr().out
    assert main(["verify", str(out), "--key-file", str(key_file)]) == 0
    assert "fits        ensemble: fold_0, fold_1, fold_2, fold_3, fold_4" in capsys.readouterr().out
    unsigned = tmp_path / "u.zip"
    assert (
        main(
            ["train", str(template), "--data", str(corn), "-o", str(unsigned), "--unsigned", "--no-progress"]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["predict", str(unsigned), str(corn / "Xval.csv"), "--trust-unsigned"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "oil,oil_lower,oil_upper,t2,t2_limit,q,q_limit,leverage,in_domain" and len(lines) == 21
