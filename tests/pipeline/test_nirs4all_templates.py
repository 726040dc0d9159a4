"""Templates written in the styles of nirs4all's examples (``templates_nirs4all/*.yaml``) and
the seed form run unchanged on real spectra, every config of each completing."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression as SkPLS
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold

import nirs_core
from nirs_core.operators import MSC, SNV
from nirs_core.pipeline.generators import count, expand, load_template
from nirs_core.store.workspace import Workspace

HERE = Path(__file__).parent / "templates_nirs4all"
TEMPLATES = sorted(HERE.glob("*.yaml"))


@pytest.fixture(scope="module")
def corn_dir(shared_data):
    path = shared_data / "corn"
    if not path.is_dir():
        pytest.skip(f"real-data corpus not found at {path}")
    return path


def _manifests(run, root):
    ws = Workspace(root)
    return [ws.read_manifest(run.run_id, r["dataset"], r["config_id"]) for r in run.results]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_each_template_runs_unchanged_on_corn(path, corn_dir, corn_arrays, tmp_path):
    template = load_template(path)
    n = count(template)
    assert n == len(expand(template))
    run = nirs_core.run([path], corn_dir, tmp_path, progress=False)
    assert run.status == "completed" and run.n_failed == 0 and len(run.results) == n
    # the RMSEP of the calibration mean on the 20 validation samples (0.19 for oil): every model
    # must do at least twice as well, which a broken preprocessing or a mistranslated model does not
    y_cal, y_val = corn_arrays["ycal"], corn_arrays["yval"]
    constant = float(np.sqrt(np.mean((y_val - y_cal.mean()) ** 2)))
    for r in run.results:
        assert np.isfinite(r["cv_score"]) and np.isfinite(r["test_score"])
        assert 0 < r["test_score"] < constant / 2, (r["config_name"], r["test_score"], constant)


def test_the_or_count_template_draws_three_preprocessings_with_its_seed():
    configs = expand(load_template(HERE / "or_count.yaml"))
    assert len(configs) == 9
    drawn = [c.choices[0]["index"] for c in configs]
    assert {c.choices[0]["seed"] for c in configs} == {42}
    # the documented draw (docs/templates.md): random.Random(seed), without replacement, kept
    # in the order of the alternatives; each drawn preprocessing times the 3 n_components
    assert drawn == [i for i in sorted(random.Random(42).sample(range(6), 3)) for _ in range(3)]
    assert [c.steps[-1]["model"]["params"]["n_components"] for c in configs] == [4, 8, 12] * 3


def _rmsecv(X, y, make, prep):
    """Pooled out-of-fold RMSE of KFold(5, shuffle, 0), written with scikit-learn and numpy."""
    pred = np.empty_like(y)
    for tr, va in KFold(5, shuffle=True, random_state=0).split(X):
        Ztr, Zva = prep(X[tr], X[tr]), prep(X[va], X[tr])
        pred[va] = np.ravel(make().fit(Ztr, y[tr]).predict(Zva))
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def test_several_models_are_scored_and_the_best_named(corn_dir, corn_arrays, tmp_path):
    run = nirs_core.run([HERE / "several_models.yaml"], corn_dir, tmp_path, progress=False)
    (manifest,) = _manifests(run, tmp_path)
    models = manifest["info"]["models"]
    assert set(models) == {"PLS-5", "PLS-12", "Ridge"}
    best = min(models, key=lambda m: models[m]["cv_score"])
    assert manifest["info"]["best_model"] == best and run.results[0]["cv_score"] == models[best]["cv_score"]
    # each model's score, from an independent loop (SNV then the scikit-learn model)
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    expected = {
        "PLS-5": _rmsecv(X, y, lambda: SkPLS(5), lambda Z, _: _snv(Z)),
        "PLS-12": _rmsecv(X, y, lambda: SkPLS(12), lambda Z, _: _snv(Z)),
        "Ridge": _rmsecv(X, y, lambda: Ridge(alpha=0.001), lambda Z, _: _snv(Z)),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(models[name]["cv_score"], value, rtol=1e-8, err_msg=name)


def test_nirs4all_paths_side_by_side_equal_a_scikit_learn_loop(corn_dir, corn_arrays, tmp_path):
    # feature_augmentation of nirs4all's SNV and MSC, then IKPLS(8) translated (scale=True):
    # the two preprocessings side by side into scikit-learn's PLSRegression(8, scale=True)
    run = nirs_core.run([HERE / "nirs4all_paths.yaml"], corn_dir, tmp_path, progress=False)
    (snv_msc,) = [r for r in run.results if r["config_name"].startswith("0000_")]
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]

    def side_by_side(Z, train):
        return np.hstack([_snv(Z), _msc(Z, train.mean(axis=0))])

    expected = _rmsecv(X, y, lambda: SkPLS(8, scale=True), side_by_side)
    np.testing.assert_allclose(snv_msc["cv_score"], expected, rtol=1e-8)


def test_the_bare_splitter_template_uses_its_shuffle_split(corn_dir, tmp_path):
    run = nirs_core.run([HERE / "bare_splitter.yaml"], corn_dir, tmp_path, progress=False)
    (manifest,) = _manifests(run, tmp_path)
    split = manifest["info"]["split"]
    assert split["class"] == "sklearn.model_selection.ShuffleSplit" and split["n_folds"] == 3


def _snv(X):
    return (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)


def _msc(X, ref):
    out = np.empty_like(X)
    for i, x in enumerate(X):  # a slow loop: one least-squares line per spectrum
        slope, offset = np.polyfit(ref, x, 1)
        out[i] = (x - offset) / slope
    return out


def test_the_standalone_range_template_equals_a_scikit_learn_loop(corn_dir, corn_arrays, tmp_path):
    run = nirs_core.run([HERE / "standalone_range.yaml"], corn_dir, tmp_path, progress=False)
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    expected = []
    for prep in ("snv", "msc"):
        for a in (5, 10, 15):
            pred = np.empty_like(y)
            for tr, va in KFold(5, shuffle=True, random_state=0).split(X):
                if prep == "snv":
                    Ztr, Zva = _snv(X[tr]), _snv(X[va])
                else:  # MSC's reference: the mean of the fold's training spectra
                    ref = X[tr].mean(axis=0)
                    Ztr, Zva = _msc(X[tr], ref), _msc(X[va], ref)
                pred[va] = SkPLS(a).fit(Ztr, y[tr]).predict(Zva).ravel()
            expected.append(float(np.sqrt(np.mean((pred - y) ** 2))))
    got = [r["cv_score"] for r in run.results]
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_the_seed_form_with_live_objects_runs(corn_dir, tmp_path):
    template = [
        KFold(5, shuffle=True, random_state=0),
        {"_or_": [SNV(), MSC()]},
        {"_range_": [5, 15, 5], "param": "n_components"},
        SkPLS(),
    ]
    run = nirs_core.run(template, corn_dir, tmp_path, progress=False)
    assert run.status == "completed" and len(run.results) == count(template) == 6
    again = nirs_core.run([HERE / "standalone_range.yaml"], corn_dir, tmp_path / "yaml", progress=False)
    # the same six pipelines, whether written with live objects or as YAML
    assert sorted(r["cv_score"] for r in run.results) == sorted(r["cv_score"] for r in again.results)
