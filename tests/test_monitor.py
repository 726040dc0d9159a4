"""``nirs monitor``: the control chart of ongoing checks (ISO 12099 §11) detects a shifted
instrument (instrument-2 spectra against an instrument-1 model) and stays quiet on the model's
own instrument; the history is appended, the chart written as PNG."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import shared_path

from nirs_core.app.monitor import chart_points, chart_sep, monitor
from nirs_core.app.predict import predict
from nirs_core.cli import main
from nirs_core.data import SpectroDataset
from nirs_core.errors import ConfigError, DataError
from nirs_core.pipeline.executor import execute
from nirs_core.store.bundle import open_bundle, write_bundle

PNG = b"\x89PNG\r\n\x1a\n"
KFOLD = {
    "class": "sklearn.model_selection.KFold",
    "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
}
WL = np.arange(1100, 2500, 2.0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = shared_path("corn_instruments")
    X = [np.loadtxt(root / f"X_inst{i}.csv", delimiter=",", skiprows=1, ndmin=2) for i in (1, 2)]
    sets = np.loadtxt(root / "y.csv", delimiter=",", skiprows=1, usecols=0, dtype=str)
    y = np.loadtxt(root / "y.csv", delimiter=",", skiprows=1, usecols=1)
    ds = SpectroDataset.from_arrays(
        X[0],
        y,
        name="corn1",
        wavelengths=WL,
        units="nm",
        partition=np.where(sets == "cal", "train", sets),
        target_names=["oil"],
    )
    result = execute([{"split": KFOLD}, {"model": {"class": "PLS", "params": {"n_components": 8}}}], ds)
    tmp = tmp_path_factory.mktemp("monitor")
    bundle = write_bundle(result, tmp / "inst1.zip", sign=False, dataset=ds)
    refs = {}
    te = sets == "test"
    for i in (0, 1):
        path = tmp / f"reference_inst{i + 1}.csv"
        lines = ["oil," + ",".join(f"{w:g}" for w in WL)]
        lines += [f"{float(v)!r}," + ",".join(repr(float(a)) for a in x) for v, x in zip(y[te], X[i][te])]
        path.write_text("\n".join(lines) + "\n")
        refs[i + 1] = path
    return {"bundle": bundle, "refs": refs, "X": X, "y": y, "te": te, "tmp": tmp}


def _slow_chart(d, sep, run=9):
    """The rules read point by point."""
    action = any(abs(v) > 3 * sep for v in d)
    two = any(
        sum(1 for v in d[i - 2 : i + 1] if v > 2 * sep) >= 2
        or sum(1 for v in d[i - 2 : i + 1] if v < -2 * sep) >= 2
        for i in range(2, len(d))
    )
    longest, count, last = 0, 0, 0
    for v in d:
        s = int(v > 0) - int(v < 0)
        count = count + 1 if s != 0 and s == last else (1 if s != 0 else 0)
        last = s
        longest = max(longest, count)
    if action or two or longest >= run:
        return "out of control"
    return "warning" if any(abs(v) > 2 * sep for v in d) else "in control"


def test_monitor_detects_a_shifted_instrument(setup, capsys):
    bundle, tmp = setup["bundle"], setup["tmp"]
    own = main(
        ["monitor", str(bundle), str(setup["refs"][1]), "--history", str(tmp / "own.csv"), "--trust-unsigned"]
    )
    out = capsys.readouterr().out
    assert own == 0 and "verdict: out of control" not in out
    shifted = main(
        [
            "monitor",
            str(bundle),
            str(setup["refs"][2]),
            "--history",
            str(tmp / "shift.csv"),
            "--trust-unsigned",
        ]
    )
    out = capsys.readouterr().out
    assert shifted == 1 and "verdict: out of control" in out
    assert (tmp / "shift.png").read_bytes().startswith(PNG)
    # the verdicts are the rules applied to reference − NIR, NIR from nirs_core.predict
    opened = open_bundle(bundle, trust_unsigned=True)
    sep = opened.info["validation"]["test"]["sep"]
    y, te = setup["y"], setup["te"]
    for i, code in ((0, own), (1, shifted)):
        d = list(y[te] - predict(opened, setup["X"][i][te], values_only=True)[:, 0])
        assert (_slow_chart(d, sep) == "out of control") == (code == 1)
    with (tmp / "shift.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and rows[0]["in_domain"] == "false"  # instrument 2 is also out of the domain


def test_the_history_is_appended_and_evaluated_whole(setup):
    bundle, tmp = setup["bundle"], setup["tmp"]
    history = tmp / "both.csv"
    first = monitor(bundle, setup["refs"][1], history=history, trust_unsigned=True)
    second = monitor(bundle, setup["refs"][2], history=history, trust_unsigned=True)
    assert first["chart"]["n"] == 20 and second["chart"]["n"] == 40 and second["added"] == 20
    assert first["in_domain"] >= 0.85 and second["in_domain"] <= 0.1
    assert second["chart"]["verdict"] == "out of control" and second["chart"]["sep_from"] == "test"
    assert history.with_suffix(".png").read_bytes().startswith(PNG)


def test_bad_input_gets_one_clear_error(setup, tmp_path, corn_arrays):
    opened = open_bundle(setup["bundle"], trust_unsigned=True)
    bad = tmp_path / "h.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="expected a control chart history with columns"):
        monitor(opened, setup["refs"][1], history=bad)
    worse = tmp_path / "w.csv"
    worse.write_text("added_at,sample,reference,predicted,difference,in_domain\nx,1,3.1,3.2,oops,true\n")
    with pytest.raises(DataError, match="row 2, column 'difference': expected a number; got 'oops'"):
        monitor(opened, setup["refs"][1], history=worse)
    plain = SpectroDataset.from_arrays(setup["X"][0][:5], None, wavelengths=WL, units="nm")
    with pytest.raises(DataError, match="no laboratory values; expected a column 'oil'"):
        chart_points(opened, plain)
    opened.info["validation"] = None
    with pytest.raises(ConfigError, match="records no validation SEP"):
        chart_sep(opened)
    opened.info["task"] = "multiclass"
    with pytest.raises(ConfigError, match="a control chart needs a regression bundle"):
        chart_points(opened, setup["refs"][1])


def test_show_json_prints_the_validation_statistics(setup, capsys):
    import json

    assert main(["show", str(setup["bundle"]), "--json", "--trust-unsigned"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown["validation"]) == {"calibration", "cv", "test"}
    keys = {"n", "bias", "sep", "slope", "intercept", "r2", "rpd", "rpiq", "tests"}
    for kind, rmse in (("calibration", "rmsec"), ("cv", "rmsecv"), ("test", "rmsep")):
        assert set(shown["validation"][kind]) == keys | {rmse}
    assert shown["validation"]["test"]["rmsep"] == pytest.approx(shown["test_score"], rel=1e-12)
    assert set(shown["validation"]["test"]["tests"]) == {"bias", "slope", "sep"}
    assert shown["domain"]["t2_limit"] > 0 and shown["domain"]["interval"]["coverage"] == 0.9


def test_show_prints_the_statistics_and_the_domain(setup, capsys):
    assert main(["show", str(setup["bundle"]), "--trust-unsigned"]) == 0
    out = capsys.readouterr().out
    shown = open_bundle(setup["bundle"], trust_unsigned=True).info
    assert f"rmsep {shown['validation']['test']['rmsep']:.4g}" in out
    assert f"T² limit {shown['domain']['t2_limit']:.4g}" in out
