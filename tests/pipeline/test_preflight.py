"""Validate before computing (issue 12): a config that the shape of a dataset rules out fails
``run()`` before anything is written, with one error naming the template file, the path in the
config, the dataset, what was expected and what was found; limits that depend on a fold's
training rows stay failed results (tests/pipeline/test_failure_isolation.py).

Each bound is checked against an independent authority on the same real spectra: scipy,
scikit-learn or PyWavelets refusing (or accepting) the same parameter on the same array.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import pywt
import yaml
from conftest import shared_path
from scipy.signal import savgol_filter
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.model_selection import GroupKFold, KFold

import nirs_core
from nirs_core.data import load
from nirs_core.errors import ConfigError, ShapeError
from nirs_core.pipeline.generators import expand
from nirs_core.pipeline.preflight import preflight
from nirs_core.store.workspace import Workspace

KFOLD = {
    "class": "sklearn.model_selection.KFold",
    "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
}


@pytest.fixture(scope="module")
def corn():
    return shared_path("corn")


@pytest.fixture(scope="module")
def corn_x(corn):
    """Corn's calibration spectra and axis read with numpy alone (not the project's loader)."""
    text = (corn / "Xcal.csv").read_text().splitlines()
    axis = np.array([float(v) for v in text[0].split(";")])
    X = np.array([[float(v) for v in line.split(";")] for line in text[1:]])
    return X, axis


def _write(tmp_path, steps, name="bad.yaml"):
    path = tmp_path / "templates" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({"name": "t", "pipeline": steps}, sort_keys=False))
    return path


def _nothing_written(ws):
    """The workspace holds no run, no dataset registry, no result, no artefact."""
    assert Workspace(ws).run_ids() == []
    files = [p.relative_to(ws) for p in ws.rglob("*") if p.is_file()] if ws.exists() else []
    assert files == [], files


def _refused(tmp_path, steps, data, *fragments, dataset_options=None):
    template = _write(tmp_path, steps)
    ws = tmp_path / "ws"
    datasets = {"path": data, **dataset_options} if dataset_options else data
    with pytest.raises(ConfigError) as info:
        nirs_core.run(template, datasets, ws, progress=False)
    message = str(info.value)
    assert message.startswith(f"{template}: "), message
    for fragment in fragments:
        assert fragment in message, message
    _nothing_written(ws)
    return message


# ----------------------------------------------------------------------------- operators


def test_a_savitzky_golay_window_longer_than_corn_fails_before_the_run(tmp_path, corn, corn_x):
    X, _ = corn_x
    assert X.shape[1] == 700
    with pytest.raises(ValueError):  # scipy refuses it on the same spectra (mode 'interp')
        savgol_filter(X, 701, 2, axis=1)
    message = _refused(
        tmp_path,
        [{"split": KFOLD}, {"class": "SavitzkyGolay", "params": {"window_length": 701}}, {"model": "PLS"}],
        corn,
        "steps[1].params.window_length",
        "dataset 'corn'",
        "700 features",
        "expected at most the number of features (700)",
        "found window_length=701",
    )
    assert "config 0000_SG_PLS_" in message


def test_the_longest_window_scipy_accepts_runs(tmp_path, corn, corn_x):
    X, _ = corn_x
    savgol_filter(X, 699, 2, axis=1)  # scipy accepts it: so must the preflight
    steps = [{"split": KFOLD}, {"class": "SavitzkyGolay", "params": {"window_length": 699}}, {"model": "PLS"}]
    run = nirs_core.run(_write(tmp_path, steps), corn, tmp_path / "ws", progress=False)
    assert run.status == "completed" and run.n_failed == 0


def test_the_width_after_a_crop_is_the_kept_part_of_the_axis(tmp_path, corn, corn_x):
    _, axis = corn_x
    kept = int(((axis >= 1100) & (axis <= 1140)).sum())  # 21 wavelengths, from the file's header
    steps = [
        {"split": KFOLD},
        {"class": "CropWavelengths", "params": {"start": 1100, "stop": 1140}},
        {"class": "SavitzkyGolay", "params": {"window_length": kept + 2}},
        {"model": "PLS"},
    ]
    _refused(
        tmp_path,
        steps,
        corn,
        "steps[2].params.window_length",
        f"{kept} features)",
        f"found window_length={kept + 2}",
    )
    steps[2]["params"]["window_length"] = kept  # odd and exactly the width: fine
    cfgs = expand({"pipeline": steps})
    preflight([(c, "t.yaml") for c in cfgs], [("'corn'", load(corn))])


def test_a_crop_outside_the_axis_names_the_range_and_the_axis(tmp_path, corn, corn_x):
    _, axis = corn_x
    _refused(
        tmp_path,
        [
            {"split": KFOLD},
            {"class": "CropWavelengths", "params": {"start": 2600, "stop": 2700}},
            {"model": "PLS"},
        ],
        corn,
        "steps[1].params.start",
        f"of the axis {axis.min():g}–{axis.max():g}",
        "found start=2600, stop=2700",
    )


def _dwt_max_level(n, wavelet):
    # PyWavelets' rule written out: floor(log2(n / (filter_length - 1)))
    return int(np.floor(np.log2(n / (pywt.Wavelet(wavelet).dec_len - 1))))


@pytest.mark.parametrize(
    ("operator", "params", "fragments"),
    [
        ("LSNV", {"window_length": 701}, ["params.window_length", "at most the number of features (700)"]),
        (
            "NorrisWilliams",
            {"window_length": 5, "gap": 350},
            ["params.gap", "2 * gap + 1 <= the number of features (700)", "found gap=350"],
        ),
        ("NorrisWilliams", {"window_length": 801}, ["params.window_length", "found window_length=801"]),
        ("MSC", {"reference": [1.0, 2.0, 3.0]}, ["params.reference", "spectrum of 700 values", "shape (3,)"]),
        ("EMSC", {"order": 699}, ["params.order", "at most the number of features - 2 (698)", "order=699"]),
        ("Wavelet", {"level": _dwt_max_level(700, "db4") + 1}, ["params.level", "at most 6", "level=7"]),
        ("IntervalPLS", {"n_intervals": 701}, ["params.n_intervals", "at most the number of features (700)"]),
        ("Resample", {"target": [1000.0, 1100.0]}, ["steps[1]", "inside the measured range [1100, 2498]"]),
        ("SNV", {"ddof": 700}, ["steps[1]", "ddof must be an integer in [0, 699]"]),
        # not a shape bound, but no data allows it: also refused before the run
        ("SavitzkyGolay", {"window_length": 10}, ["steps[1]", "window_length must be odd"]),
    ],
)
def test_each_declared_bound_fails_before_the_run(tmp_path, corn, operator, params, fragments):
    _refused(
        tmp_path,
        [{"split": KFOLD}, {"class": operator, "params": params}, {"model": "PLS"}],
        corn,
        "dataset 'corn'",
        *fragments,
    )


def test_the_bounds_agree_with_pywavelets_on_corn():
    assert pywt.dwt_max_level(700, pywt.Wavelet("db4").dec_len) == _dwt_max_level(700, "db4") == 6


def test_fermentation_uneven_axis_and_its_width(tmp_path):
    data = shared_path("fermentation")
    ds = load(data)
    n = ds.n_features[0]
    assert n == 1047
    kept = int(((ds.wavelengths(0) >= 950) & (ds.wavelengths(0) <= 1500)).sum())
    steps = [
        {"split": {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 5}}},
        {"class": "CropWavelengths", "params": {"start": 950, "stop": 1500}},
        {"class": "SavitzkyGolay", "params": {"window_length": 15, "polyorder": 2, "deriv": 1}},
        {"model": {"class": "PLS", "params": {"n_components": 6}}},
    ]
    preflight([(c, "f.yaml") for c in expand(steps)], [("'fermentation'", ds)])  # the tutorial's recipe
    steps[2]["params"]["window_length"] = kept + 2 if kept % 2 else kept + 1
    _refused(tmp_path, steps, data, "steps[2].params.window_length", f"{kept} features)")


def test_a_feature_augmentation_adds_the_widths_and_a_selector_stops_the_checks(corn):
    ds = load(corn)
    wide = [
        {"split": KFOLD},
        {"feature_augmentation": [["SNV"], ["MSC"]]},  # 700 + 700 features side by side
        {"class": "SavitzkyGolay", "params": {"window_length": 1399}},
        {"model": "PLS"},
    ]
    preflight([(c, "t.yaml") for c in expand(wide)], [("'corn'", ds)])
    wide[2]["params"]["window_length"] = 1401
    with pytest.raises(ConfigError, match=r"\(1400\)"):
        preflight([(c, "t.yaml") for c in expand(wide)], [("'corn'", ds)])
    # after a selector the width depends on the fit: not guessed, not refused here
    selected = [
        {"split": KFOLD},
        "VIPSelector",
        {"class": "SavitzkyGolay", "params": {"window_length": 699}},
        "PLS",
    ]
    preflight([(c, "t.yaml") for c in expand(selected)], [("'corn'", ds)])


class Window(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """A test operator: a moving window that declares its bound beside its parameter."""

    def __init__(self, width=3):
        self.width = width

    def _nirs_shape(self, n_features, wavelengths):
        if self.width > n_features:
            raise ShapeError("Window", "width", f"at most {n_features}", f"width={self.width}")

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def test_a_new_operator_declares_its_own_bound(tmp_path, corn):
    steps = [{"split": KFOLD}, Window(width=900), {"model": "PLS"}]
    with pytest.raises(
        ConfigError, match=r"templates\[0\]: steps\[1\]\.params\.width: .*expected at most 700"
    ):
        nirs_core.run(steps, corn, tmp_path / "ws", progress=False)
    _nothing_written(tmp_path / "ws")


# ----------------------------------------------------------------------------- splits, targets


def test_more_folds_than_calibration_rows(tmp_path, corn, corn_x):
    X, _ = corn_x
    with pytest.raises(ValueError, match="n_samples=60"):  # scikit-learn on the same 60 rows
        list(KFold(61).split(X))
    list(KFold(60).split(X))
    split = {"split": {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 61}}}
    _refused(tmp_path, [split, "PLS"], corn, "steps[0].split", "n_splits=61", "n_samples=60")


def test_a_group_splitter_without_groups_and_with_too_few_groups(tmp_path, corn):
    split = {"split": {"class": "sklearn.model_selection.GroupKFold", "params": {"n_splits": 3}}}
    _refused(tmp_path, [split, "PLS"], corn, "steps[0].split", "no group column")
    pectin = shared_path("pectin")
    raw = np.loadtxt(pectin / "pectin.csv", delimiter=",", skiprows=1)
    groups = raw[:, 0]
    assert len(np.unique(groups)) == 3
    with pytest.raises(ValueError):  # scikit-learn: 4 folds from 3 groups
        list(GroupKFold(4).split(raw[:, 2:], raw[:, 1], groups))
    split["split"]["params"]["n_splits"] = 4
    options = {"target": "yield_g", "group": "extraction"}
    _refused(tmp_path, [split, "PLS"], pectin, "steps[0].split", "dataset 'pectin'", dataset_options=options)
    split["split"]["params"]["n_splits"] = 3  # one fold per extraction: runs
    run = nirs_core.run(
        _write(tmp_path, [split, "PLS"], "ok.yaml"), {"path": pectin, **options}, tmp_path / "ok"
    )
    assert run.status == "completed" and run.n_failed == 0


def test_a_missing_group_or_target_column_fails_before_the_run(tmp_path):
    pectin = shared_path("pectin")
    template = _write(tmp_path, [{"split": KFOLD}, "PLS"])
    for option in ({"group": "batch"}, {"target": "protein"}):
        with pytest.raises(ValueError, match=r"batch|protein"):
            nirs_core.run(
                template, {"path": pectin, "target": "yield_g", **option}, tmp_path / "ws", progress=False
            )
        _nothing_written(tmp_path / "ws")


def test_y_processing_on_a_classification_target_and_a_dataset_without_targets(tmp_path):
    coffee = shared_path("coffee")
    steps = [
        {"split": KFOLD},
        {"y_processing": ["sklearn.preprocessing.StandardScaler"]},
        {"model": "PLSDA"},
    ]
    _refused(
        tmp_path,
        steps,
        coffee,
        "steps[1]",
        "expected a regression target",
        dataset_options={"target": "origin"},
    )
    template = _write(tmp_path, [{"split": KFOLD}, "PLS"], "plain.yaml")
    with pytest.raises(ConfigError, match=r"dataset 'coffee'.*no targets"):
        nirs_core.run(template, coffee, tmp_path / "ws2", progress=False)
    _nothing_written(tmp_path / "ws2")


def test_one_bad_config_of_a_sweep_refuses_the_whole_run(tmp_path, corn):
    # a structural error is the template's, whichever config shows it: nothing runs
    steps = [
        {"split": KFOLD},
        {"class": "SavitzkyGolay", "params": {"window_length": {"_or_": [11, 901]}}},
        {"model": "PLS", "param": "n_components", "_range_": [2, 6, 2]},
    ]
    message = _refused(tmp_path, steps, corn, "steps[1].params.window_length", "found window_length=901")
    assert "config 0003_" in message  # the first config with window 901


def test_capacity_limits_stay_failed_results(tmp_path, corn):
    # 48 training rows per fold: 60 components is a capacity limit, not refused up front
    steps = [{"split": KFOLD}, {"model": "PLS", "param": "n_components", "_or_": [5, 60]}]
    run = nirs_core.run(_write(tmp_path, steps), corn, tmp_path / "ws", progress=False)
    assert run.status == "completed" and len(run.results) == 1 and run.n_failed == 1


# ----------------------------------------------------------------------------- the CLI


def test_the_cli_prints_the_error_without_a_traceback(tmp_path, corn):
    template = _write(
        tmp_path, [{"split": KFOLD}, {"class": "SavitzkyGolay", "params": {"window_length": 701}}, "PLS"]
    )
    ws = tmp_path / "ws"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nirs_core.cli",
            "run",
            str(template),
            "--data",
            str(corn),
            "--workspace",
            str(ws),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"nirs run: error: {template}: steps[1].params.window_length: ")
    assert "found window_length=701" in line
    _nothing_written(ws)
