"""finetune_params: an Optuna search inside each fit context, on its training rows only, seeded,
its best parameters fit and recorded."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression as SkPLS
from sklearn.model_selection import KFold

import nirs_core
from nirs_core.data import SpectroDataset
from nirs_core.errors import ConfigError
from nirs_core.pipeline import tuning
from nirs_core.pipeline.executor import execute
from nirs_core.pipeline.generators import expand

SPLIT = {
    "split": {
        "class": "sklearn.model_selection.KFold",
        "params": {"n_splits": 4, "shuffle": True, "random_state": 1},
    }
}


def _corn(corn_arrays, y_test=None):
    X = np.vstack([corn_arrays["Xcal"], corn_arrays["Xval"]])
    y = np.concatenate([corn_arrays["ycal"], corn_arrays["yval"] if y_test is None else y_test])
    return SpectroDataset.from_arrays(X, y, partition=np.array(["train"] * 60 + ["test"] * 20))


def _template(**finetune):
    spec = {
        "n_trials": 8,
        "sample": "tpe",
        "seed": 0,
        "model_params": {"n_components": ["int", 1, 12]},
        **finetune,
    }
    return [
        SPLIT,
        {
            "model": {"class": "sklearn.cross_decomposition.PLSRegression", "params": {"scale": False}},
            "name": "tuned",
            "finetune_params": spec,
        },
    ]


def test_grid_search_on_the_refit_finds_what_an_independent_loop_finds(corn_arrays):
    result = execute(_template(sample="grid", n_trials=100, cv=3), _corn(corn_arrays))
    found = result.info["tuning"]
    # independent: scikit-learn's PLS on 3 shuffled inner folds of the 60 calibration samples
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    scores = {}
    for a in range(1, 13):
        pred = np.empty_like(y)
        for tr, va in KFold(3, shuffle=True, random_state=0).split(X):
            pred[va] = SkPLS(a, scale=False).fit(X[tr], y[tr]).predict(X[va]).ravel()
        scores[a] = float(np.sqrt(np.mean((pred - y) ** 2)))
    best = min(scores, key=lambda a: (scores[a], a))
    refit = found["contexts"]["refit/steps[1]"]
    assert found["best_params"] == {"n_components": best}
    assert len(refit["trials"]) == 12 and refit["sampler"] == "grid"
    for trial in refit["trials"]:
        assert trial["score"] == pytest.approx(scores[trial["params"]["n_components"]], rel=1e-10)
    assert refit["best_score"] == pytest.approx(scores[best], rel=1e-10)
    (model,) = [n for n in result.graph.nodes if n.kind == "model"]
    assert model.params["n_components"] == best  # the fitted model has the best parameters


def test_the_search_never_sees_the_test_partition_and_is_deterministic(corn_arrays):
    a = execute(_template(), _corn(corn_arrays))
    noise = np.random.default_rng(0).normal(size=20) * 100
    b = execute(_template(), _corn(corn_arrays, y_test=noise))
    assert a.info["tuning"] == b.info["tuning"]
    assert a.cv_score == b.cv_score and a.test_score != b.test_score
    # each outer fold searched on its own training rows
    assert sorted(a.info["tuning"]["contexts"]) == [f"fold_{k}/steps[1]" for k in range(4)] + [
        "refit/steps[1]"
    ]
    assert all(len(c["trials"]) == 8 for c in a.info["tuning"]["contexts"].values())


def test_random_sampler_and_mapping_spaces(corn_arrays):
    spec = {
        "n_components": {"type": "int", "low": 2, "high": 10, "step": 2},
        "scale": {"choices": [True, False]},
    }
    r = execute(_template(sample="random", n_trials=5, model_params=spec), _corn(corn_arrays))
    params = r.info["tuning"]["best_params"]
    assert params["n_components"] in (2, 4, 6, 8, 10) and params["scale"] in (True, False)


def test_trials_are_recorded_in_the_run(corn_arrays, tmp_path, shared_data):
    run = nirs_core.run(
        {"name": "tuned", "pipeline": _template(n_trials=3)}, shared_data / "corn", tmp_path, progress=False
    )
    from nirs_core.store.workspace import Workspace

    (r,) = run.results
    manifest = Workspace(tmp_path).read_manifest(run.run_id, r["dataset"], r["config_id"])
    assert len(manifest["info"]["tuning"]["contexts"]["refit/steps[1]"]["trials"]) == 3
    assert set(manifest["info"]["tuning"]["best_params"]) == {"n_components"}


def test_float_and_log_spaces_are_searched():
    spec = tuning.check(
        {"n_trials": 4, "model_params": {"alpha": ["float_log", 1e-3, 10.0], "fit_intercept": [True, False]}},
        ["alpha", "fit_intercept"],
        "f",
    )
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 5))
    y = X @ np.arange(5.0) + 0.1 * rng.normal(size=30)

    def fit_predict(params, Xf, yf, Xv):
        from sklearn.linear_model import Ridge

        return Ridge(**params).fit(Xf, yf).predict(Xv)

    found = tuning.tune(fit_predict, X, y, np.arange(30), spec, "rmse", "f")
    assert 1e-3 <= found["best_params"]["alpha"] <= 10 and len(found["trials"]) == 4


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ([1], r"finetune_params: expected a mapping"),
        ({"n_trial": 3}, r"finetune_params: unknown key 'n_trial'"),
        ({"n_trials": 0, "model_params": {"n_components": [1, 2]}}, r"n_trials: expected an integer >= 1"),
        ({"approach": "grouped", "model_params": {"n_components": [1, 2]}}, r"approach: only 'single'"),
        (
            {"sample": "bayes", "model_params": {"n_components": [1, 2]}},
            r"sample: expected one of grid, random, tpe",
        ),
        ({"seed": -1, "model_params": {"n_components": [1, 2]}}, r"seed: expected an integer >= 0"),
        ({"cv": 1, "model_params": {"n_components": [1, 2]}}, r"cv: expected an integer >= 2"),
        ({}, r"model_params: expected a mapping of parameter names"),
        ({"model_params": {"n_comp": [1, 2]}}, r"model_params: the model has no parameter 'n_comp'"),
        ({"model_params": {"n_components": ["int", 1]}}, r"n_components: expected \['int', low, high\]"),
        ({"model_params": {"n_components": ["int", 1.5, 4]}}, r"an int range needs integer bounds"),
        ({"model_params": {"n_components": ["int", 5, 1]}}, r"expected low <= high"),
        ({"model_params": {"n_components": ["float_log", 0, 1]}}, r"low > 0 \(log scale\)"),
        ({"model_params": {"n_components": 3}}, r"n_components: expected \[int\|float"),
        (
            {"model_params": {"n_components": {"type": "integer", "low": 1, "high": 3}}},
            r"n_components\.type: expected int, float",
        ),
        (
            {"model_params": {"n_components": {"choices": []}}},
            r"n_components\.choices: expected a non-empty list",
        ),
        (
            {"sample": "grid", "model_params": {"tol": ["float", 0.1, 1.0]}},
            r"sample 'grid' needs discrete values; 'tol' is a float",
        ),
    ],
)
def test_bad_finetune_params_fail_at_expansion_naming_the_path(spec, match):
    template = [{"model": "sklearn.cross_decomposition.PLSRegression", "finetune_params": spec}]
    with pytest.raises(ConfigError, match=match) as err:
        expand(template)
    assert str(err.value).startswith("steps[0].finetune_params")


def test_too_few_samples_for_the_inner_folds_and_all_trials_failing():
    X = np.arange(20.0).reshape(10, 2)
    spec = tuning.check({"cv": 12, "model_params": {"k": [1, 2]}}, None, "f")
    with pytest.raises(
        ConfigError, match=r"f: cv=12 inner folds need 12 training samples; the fit context has 10"
    ):
        tuning.tune(lambda *a: None, X, X[:, 0], np.arange(10), spec, "rmse", "f")

    def broken(params, Xf, yf, Xv):
        raise ValueError("singular")

    spec = tuning.check({"n_trials": 2, "model_params": {"k": [1, 2]}}, None, "g")
    with pytest.raises(ConfigError, match=r"g: every trial of the search failed"):
        tuning.tune(broken, X, X[:, 0], np.arange(10), spec, "rmse", "g")
