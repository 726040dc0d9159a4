"""Validation statistics (nirs_core.validation) against independent recomputations on real
spectra: scipy's linregress and t/F distributions, scikit-learn's metrics, slow loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import shared_path
from scipy import stats
from sklearn import metrics as skm
from sklearn.cross_decomposition import PLSRegression
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import KFold, cross_val_predict

from nirs_core.data import SpectroDataset, load
from nirs_core.errors import DataError
from nirs_core.pipeline.executor import execute
from nirs_core.validation import classification_statistics, control_chart, regression_statistics

KFOLD = {
    "class": "sklearn.model_selection.KFold",
    "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
}


def _reference(t, p, kind, secv=None, n_cv=None):
    """The statistics written out from their definitions, one loop or scipy call each."""
    n = len(t)
    e = [pi - ti for ti, pi in zip(t, p)]
    bias = sum(e) / n
    sep = math.sqrt(sum((v - bias) ** 2 for v in e) / (n - 1))
    rmse = math.sqrt(sum(v * v for v in e) / n)
    line = stats.linregress(p, t)  # reference on predicted
    sd = math.sqrt(sum((v - sum(t) / n) ** 2 for v in t) / (n - 1))
    q1, q3 = np.percentile(t, [25, 75])
    s_res = math.sqrt(sum((ti - line.intercept - line.slope * pi) ** 2 for ti, pi in zip(t, p)) / (n - 2))
    out = {
        "n": n,
        {"calibration": "rmsec", "cv": "rmsecv", "test": "rmsep"}[kind]: rmse,
        "bias": bias,
        "sep": sep,
        "slope": line.slope,
        "intercept": line.intercept,
        "r2": skm.r2_score(t, p),
        "rpd": sd / sep,
        "rpiq": (q3 - q1) / rmse,
        "t_bias": abs(bias) / (sep / math.sqrt(n)),
        "t_bias_crit": stats.t.ppf(0.975, n - 1),
        # slope test of ISO 12099: |b - 1| / (s_res / sqrt(sum (p - mean p)^2)), the slope's standard error
        "t_slope": abs(line.slope - 1) / line.stderr if n > 2 else None,
        "t_slope_alt": abs(line.slope - 1) * math.sqrt(sum((v - sum(p) / n) ** 2 for v in p)) / s_res,
        "t_slope_crit": stats.t.ppf(0.975, n - 2),
    }
    if secv is not None:
        out["F"] = sep**2 / secv**2
        out["F_crit"] = stats.f.ppf(0.95, n - 1, n_cv - 1)
    return out


def _check(got, ref, kind):
    name = {"calibration": "rmsec", "cv": "rmsecv", "test": "rmsep"}[kind]
    assert got["n"] == ref["n"]
    for key in (name, "bias", "sep", "slope", "intercept", "r2", "rpd", "rpiq"):
        assert got[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key
    tests = got["tests"]
    assert tests["bias"]["statistic"] == pytest.approx(ref["t_bias"], rel=1e-9)
    assert tests["bias"]["limit"] == pytest.approx(ref["t_bias_crit"], rel=1e-12)
    assert tests["bias"]["verdict"] == ("pass" if ref["t_bias"] <= ref["t_bias_crit"] else "fail")
    assert tests["slope"]["statistic"] == pytest.approx(ref["t_slope"], rel=1e-9)
    assert tests["slope"]["statistic"] == pytest.approx(ref["t_slope_alt"], rel=1e-9)
    assert tests["slope"]["limit"] == pytest.approx(ref["t_slope_crit"], rel=1e-12)
    assert tests["slope"]["verdict"] == ("pass" if ref["t_slope"] <= ref["t_slope_crit"] else "fail")
    if "F" in ref:
        assert tests["sep"]["statistic"] == pytest.approx(ref["F"], rel=1e-9)
        assert tests["sep"]["limit"] == pytest.approx(ref["F_crit"], rel=1e-12)
        assert tests["sep"]["verdict"] == ("pass" if ref["F"] <= ref["F_crit"] else "fail")


def test_regression_statistics_equal_a_recomputation_on_corn(corn_arrays):
    Xc, yc, Xv, yv = corn_arrays["Xcal"], corn_arrays["ycal"], corn_arrays["Xval"], corn_arrays["yval"]
    cv = KFold(5, shuffle=True, random_state=0)
    oof = cross_val_predict(PLSRegression(6, scale=False), Xc, yc, cv=cv).ravel()
    model = PLSRegression(6, scale=False).fit(Xc, yc)
    cal, test = model.predict(Xc).ravel(), model.predict(Xv).ravel()
    got_cv = regression_statistics(yc, oof, kind="cv")
    _check(got_cv, _reference(list(yc), list(oof), "cv"), "cv")
    _check(
        regression_statistics(yc, cal, kind="calibration"),
        _reference(list(yc), list(cal), "calibration"),
        "calibration",
    )
    got = regression_statistics(yv, test, kind="test", secv=got_cv["sep"], n_cv=60)
    _check(got, _reference(list(yv), list(test), "test", got_cv["sep"], 60), "test")
    assert got["tests"]["sep"]["sep_limit"] == pytest.approx(
        got_cv["sep"] * math.sqrt(stats.f.ppf(0.95, 19, 59))
    )


def test_a_biased_prediction_fails_the_bias_test_and_a_tilted_one_the_slope_test(corn_arrays):
    y = corn_arrays["yval"]
    shifted = regression_statistics(y, y + 0.05 + 0.001 * np.sin(np.arange(y.size)), kind="test")
    assert shifted["tests"]["bias"]["verdict"] == "fail" and shifted["bias"] == pytest.approx(0.05, abs=1e-3)
    tilted = regression_statistics(y, 1.5 * (y - y.mean()) + y.mean() + 0.001 * np.cos(np.arange(y.size)))
    assert tilted["tests"]["slope"]["verdict"] == "fail" and tilted["slope"] == pytest.approx(
        1 / 1.5, rel=1e-2
    )


def test_the_executor_reports_the_statistics_of_its_prediction_rows(corn_arrays):
    corn = load(shared_path("corn"))
    result = execute([{"split": KFOLD}, {"model": {"class": "PLS", "params": {"n_components": 6}}}], corn)
    validation = result.info["validation"]
    rows = {(r["fold"], r["partition"]): r for r in result.predictions}
    for kind, key in (("calibration", (-1, "train")), ("cv", (-2, "val")), ("test", (-1, "test"))):
        t, p = rows[key]["y_true"], rows[key]["y_pred"]
        secv = validation["cv"]["sep"] if kind == "test" else None
        _check(validation[kind], _reference(t, p, kind, secv, 60 if secv else None), kind)
    assert validation["cv"]["rmsecv"] == pytest.approx(result.cv_score, rel=1e-12)
    assert validation["test"]["rmsep"] == pytest.approx(result.test_score, rel=1e-12)


def test_classification_statistics_equal_scikit_learn_on_coffee():
    coffee = load(shared_path("coffee", "coffee.csv"), target="origin")
    (X,) = coffee.x(None)
    labels = np.asarray(coffee.y(None, version="raw")).ravel()
    pred = cross_val_predict(
        LinearDiscriminantAnalysis(), X[:, ::20], labels, cv=KFold(4, shuffle=True, random_state=1)
    )
    classes = sorted(set(labels.tolist()))
    got = classification_statistics(labels, pred, classes=classes)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(labels, pred))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(labels, pred))
    assert got["confusion_matrix"] == skm.confusion_matrix(labels, pred, labels=classes).tolist()
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        labels, pred, labels=classes, zero_division=0
    )
    for i, c in enumerate(classes):
        assert got["per_class"][c]["precision"] == pytest.approx(precision[i])
        assert got["per_class"][c]["recall"] == pytest.approx(recall[i])
        assert got["per_class"][c]["f1"] == pytest.approx(f1[i])
        assert got["per_class"][c]["support"] == support[i]


def test_the_executor_reports_classification_statistics_by_class_name():
    coffee = load(shared_path("coffee", "coffee.csv"), target="origin")
    steps = [{"split": KFOLD}, {"model": {"class": "PLSDA", "params": {"n_components": 4}}}]
    result = execute(steps, coffee)
    cv = result.info["validation"]["cv"]
    row = next(r for r in result.predictions if r["fold"] == -2)
    t, p = np.asarray(row["y_true"]).astype(int), np.asarray(row["y_pred"]).astype(int)
    assert cv["accuracy"] == pytest.approx(skm.accuracy_score(t, p))
    assert cv["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(t, p))
    assert set(cv["per_class"]) == {str(c) for c in coffee.classes}
    cm = skm.confusion_matrix(t, p, labels=list(range(len(coffee.classes))))
    assert cv["confusion_matrix"] == cm.tolist()
    from nirs_core.reports.datasheet import build_datasheet

    markdown = build_datasheet(result, dataset=coffee, plots=False)["markdown"]
    for name, counts in zip(coffee.classes, cm):
        assert f"| {name} | " + " | ".join(str(k) for k in counts) + " |" in markdown


def test_control_chart_rules_against_a_slow_reading():
    sep = 0.1
    assert control_chart([0.05, -0.05, 0.1, -0.12, 0.0], sep)["verdict"] == "in control"
    assert control_chart([0.05, 0.25, -0.05], sep)["verdict"] == "warning"
    action = control_chart([0.0, 0.35, 0.0], sep)
    assert action["verdict"] == "out of control" and action["beyond_action"] == [1]
    two = control_chart([0.0, 0.22, -0.1, 0.23], sep)
    assert two["two_of_three_beyond_warning"] == [3] and two["verdict"] == "out of control"
    run = control_chart([0.01] * 9, sep)
    assert run["run_on_one_side"] == [8] and run["verdict"] == "out of control"
    assert control_chart([0.01] * 8 + [-0.01], sep)["verdict"] == "in control"
    assert run["warning_limits"] == [-0.2, 0.2] and run["action_limits"] == pytest.approx([-0.3, 0.3])


def test_bad_input_gets_one_clear_error():
    with pytest.raises(DataError, match="kind must be one of"):
        regression_statistics([1, 2, 3], [1, 2, 3], kind="val")
    with pytest.raises(DataError, match="one length ≥ 3; got 2 and 2"):
        regression_statistics([1, 2], [1, 2])
    with pytest.raises(DataError, match="must be finite"):
        regression_statistics([1, 2, np.nan], [1, 2, 3])
    with pytest.raises(DataError, match="one non-empty length; got 2 and 1"):
        classification_statistics(["a", "b"], ["a"])
    with pytest.raises(DataError, match=r"labels \['c'\] are not among the classes"):
        classification_statistics(["a", "b"], ["a", "c"], classes=["a", "b"])
    with pytest.raises(DataError, match="at least one finite difference"):
        control_chart([], 0.1)
    with pytest.raises(DataError, match="SEP > 0 and run_length ≥ 2"):
        control_chart([0.1], 0.0)
    from nirs_core.validation import conformal_quantile

    with pytest.raises(DataError, match="0 < coverage < 1"):
        conformal_quantile([0.1, 0.2], 1.5)
    assert conformal_quantile([0.3, 0.1, 0.2], 0.5) == 0.2  # ceil(4 * 0.5) = 2nd smallest
    assert conformal_quantile([0.3, 0.1, 0.2], 0.9) == math.inf  # ceil(4 * 0.9) = 4 > 3


def test_several_targets_get_statistics_and_intervals_each(corn_arrays, tmp_path):
    import polars as pl

    from nirs_core.app.predict import predict
    from nirs_core.store.bundle import write_bundle

    X = np.vstack([corn_arrays["Xcal"], corn_arrays["Xval"]])
    oil = np.r_[corn_arrays["ycal"], corn_arrays["yval"]]
    y = pl.DataFrame({"oil": oil, "oil_sq": oil**2})
    ds = SpectroDataset.from_arrays(
        X, y, wavelengths=corn_arrays["wavelengths"], units="nm", partition=["train"] * 60 + ["test"] * 20
    )
    result = execute([{"split": KFOLD}, {"model": {"class": "PLS", "params": {"n_components": 6}}}], ds)
    per_target = result.info["validation"]["per_target"]
    assert (
        set(per_target) == {"oil", "oil_sq"}
        and result.info["validation"]["test"] == per_target["oil"]["test"]
    )
    row = next(r for r in result.predictions if r["fold"] == -1 and r["partition"] == "test")
    t, p = np.asarray(row["y_true"]).reshape(-1, 2), np.asarray(row["y_pred"]).reshape(-1, 2)
    _check(
        per_target["oil_sq"]["test"],
        _reference(list(t[:, 1]), list(p[:, 1]), "test", per_target["oil_sq"]["cv"]["sep"], 60),
        "test",
    )
    table = predict(
        write_bundle(result, tmp_path / "two.zip", sign=False, dataset=ds),
        corn_arrays["Xval"],
        trust_unsigned=True,
    )
    assert {"oil_lower", "oil_upper", "oil_sq_lower", "oil_sq_upper"} <= set(table.columns)
    widths = (table["oil_sq_upper"] - table["oil_sq_lower"]).unique().to_list()
    assert len(widths) == 1 and widths[0] == pytest.approx(
        2 * result.info["domain"]["interval"]["half_width"][1]
    )
