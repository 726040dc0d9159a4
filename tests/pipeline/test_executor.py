"""The executor: scores against an independent scikit-learn recomputation, sweeps equal to
single runs bit for bit, the runtime DAG replays, classification, and every error."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from conftest import shared_path
from scipy.signal import savgol_filter
from sklearn.cross_decomposition import PLSRegression as SkPLS
from sklearn.model_selection import KFold

from nirs_core.data import SpectroDataset, load
from nirs_core.errors import ConfigError
from nirs_core.graph.runtime import state_from_bytes
from nirs_core.models.pls import PLSRegression
from nirs_core.names import POOLED_FOLD, REFIT_FOLD
from nirs_core.pipeline.executor import PreprocessingCache, execute, execute_batch
from nirs_core.pipeline.generators import expand
from nirs_core.store.predictions import SCHEMA

KFOLD = {
    "class": "sklearn.model_selection.KFold",
    "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
}
SG = {"class": "SavitzkyGolay", "params": {"window_length": 15, "polyorder": 2, "deriv": 1}}
CORN_TEMPLATE = {
    "pipeline": [
        {"split": KFOLD},
        {"_or_": ["SNV", SG, "MSC"]},
        {
            "model": {"class": "PLS", "params": {"scale": False}},
            "param": "n_components",
            "_range_": [2, 20, 3],
        },
    ]
}


@pytest.fixture(scope="module")
def corn() -> SpectroDataset:
    return load(shared_path("corn"))


@pytest.fixture(scope="module")
def corn_results(corn):
    return execute_batch(expand(CORN_TEMPLATE), corn)


# ----------------------------------------------------------------------------- independent reference


def _snv(X):
    return (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)


def _msc(X, reference):
    out = np.empty_like(X)
    for i, x in enumerate(X):
        slope, intercept = np.polyfit(reference, x, 1)
        out[i] = (x - intercept) / slope
    return out


def _reference_scores(Xcal, ycal, Xtest, ytest, prep, n_components):
    """Plain scikit-learn: KFold folds, preprocessing fit per fold, pooled OOF RMSE, refit RMSEP."""

    def fit_predict(Xtr, ytr, Xte):
        if prep == "SNV":
            Xtr, Xte = _snv(Xtr), _snv(Xte)
        elif prep == "SG":
            Xtr = savgol_filter(Xtr, 15, 2, deriv=1, axis=1)
            Xte = savgol_filter(Xte, 15, 2, deriv=1, axis=1)
        else:
            ref = Xtr.mean(axis=0)
            Xtr, Xte = _msc(Xtr, ref), _msc(Xte, ref)
        model = SkPLS(n_components=n_components, scale=False).fit(Xtr, ytr)
        return model.predict(Xte).ravel()

    oof = np.empty_like(ycal)
    for tr, va in KFold(5, shuffle=True, random_state=0).split(Xcal):
        oof[va] = fit_predict(Xcal[tr], ycal[tr], Xcal[va])
    rmsecv = np.sqrt(np.mean((oof - ycal) ** 2))
    rmsep = np.sqrt(np.mean((fit_predict(Xcal, ycal, Xtest) - ytest) ** 2))
    return rmsecv, rmsep


def test_corn_sweep_equals_a_plain_scikit_learn_recomputation(corn_results, corn_arrays):
    assert len(corn_results) == 21
    a = corn_arrays
    for result, (prep, nc) in zip(
        corn_results, [(p, n) for p in ("SNV", "SG", "MSC") for n in range(2, 21, 3)], strict=True
    ):
        assert result.config[-1]["model"]["params"]["n_components"] == nc
        cv, test = _reference_scores(a["Xcal"], a["ycal"], a["Xval"], a["yval"], prep, nc)
        assert result.cv_score == pytest.approx(cv, rel=1e-6), result.config_name
        assert result.test_score == pytest.approx(test, rel=1e-6), result.config_name
        assert result.metric == "rmse" and result.n_train == 60 and result.n_test == 20
        assert set(result.scores) == {"val", "train", "test"}
        assert set(result.scores["val"]) == {"rmse", "mae", "r2", "bias", "sep"}


def test_prediction_rows_follow_the_schema(corn_results):
    rows = corn_results[0].predictions
    assert {r["fold"] for r in rows} == {0, 1, 2, 3, 4, POOLED_FOLD, REFIT_FOLD}
    assert {(r["fold"], r["partition"]) for r in rows if r["fold"] < 0} == {
        (POOLED_FOLD, "val"),
        (REFIT_FOLD, "train"),
        (REFIT_FOLD, "test"),
    }
    assert all(set(r) <= set(SCHEMA.names) for r in rows)
    pooled = next(r for r in rows if r["fold"] == POOLED_FOLD)
    assert sorted(pooled["sample"]) == list(range(60)) and pooled["score"] == corn_results[0].cv_score
    folds = [r for r in rows if r["fold"] >= 0]
    assert sorted(s for r in folds for s in r["sample"]) == list(range(60))


def test_sweep_results_are_bit_identical_to_single_runs(corn, corn_results):
    configs = expand(CORN_TEMPLATE)
    for i in (1, 9, 20):  # SNV (stateless), SG, MSC (stateful, per fold)
        alone = execute(configs[i], corn)
        swept = corn_results[i]
        assert alone.cv_score == swept.cv_score and alone.test_score == swept.test_score
        for a, b in zip(alone.predictions, swept.predictions, strict=True):
            assert a["y_pred"] == b["y_pred"] and a["fold"] == b["fold"]
        assert alone.graph.structure_hash() == swept.graph.structure_hash()
        assert sorted(alone.artifacts) == sorted(swept.artifacts)


def test_swept_refit_model_equals_a_fresh_fit(corn, corn_results, corn_arrays):
    result = corn_results[16]  # MSC, n_components 8
    model_node = next(n for n in result.graph.nodes if n.kind == "model")
    assert model_node.params["n_components"] == 8
    state = state_from_bytes(result.artifacts[model_node.artifacts["refit"]])
    msc_node = next(
        n for n in result.graph.nodes if (n.class_path or "").endswith("MultiplicativeScatterCorrection")
    )
    msc_state = state_from_bytes(result.artifacts[msc_node.artifacts["refit"]])
    from nirs_core.operators.scatter import MultiplicativeScatterCorrection

    msc = MultiplicativeScatterCorrection().fit(corn_arrays["Xcal"])
    fresh = PLSRegression(n_components=8).fit(msc.transform(corn_arrays["Xcal"]), corn_arrays["ycal"])
    kernel, kwargs = fresh.replay_spec()
    assert model_node.kernel == kernel and set(state) == set(kwargs)
    for key, value in kwargs.items():
        assert np.array_equal(state[key], value), key
    assert np.array_equal(msc_state["reference"], msc.reference_)


def _replay(graph, artifacts, sources, fit="refit"):
    values = {}
    for node in graph.topological_order():
        if node.kind == "domain":  # a side branch (tests/test_domain.py)
            continue
        parents = [values[p] for p in node.parents]
        if node.kind == "input":
            values[node.id] = sources[node.meta["source"]]
        elif node.kind in ("concat", "stack"):
            values[node.id] = np.hstack([p.reshape(p.shape[0], -1) for p in parents])
        elif node.kind in ("identity", "output"):
            values[node.id] = parents[0]
        elif node.kind == "pickled":
            import cloudpickle

            obj = cloudpickle.loads(artifacts[node.artifacts[fit]])
            out = getattr(obj, node.meta["method"])(parents[0])
            values[node.id] = out.reshape(out.shape[0], -1) if node.meta["method"] == "predict" else out
        else:
            module, _, name = node.kernel.partition(":")
            kernel = getattr(importlib.import_module(module), name)
            state = state_from_bytes(artifacts[node.artifacts[fit]])
            out = kernel(parents[0], **state)
            values[node.id] = out.reshape(out.shape[0], -1) if node.kind != "transform" else out
    return values[graph.outputs["node"]]


def _refit_test_predictions(result):
    row = next(
        r
        for r in result.predictions
        if r["fold"] == REFIT_FOLD and r["partition"] == "test" and r["model"] == result.info["best_model"]
    )
    return np.asarray(row["y_pred"]).reshape(row["n_samples"], -1)


def test_sweep_artifacts_replay_the_test_predictions_bit_for_bit(corn, corn_results):
    Xtest = corn.x({"partition": "test"})[0]
    for result in (corn_results[0], corn_results[10], corn_results[18]):
        got = _replay(result.graph, result.artifacts, [Xtest])
        assert np.array_equal(got.reshape(got.shape[0], -1), _refit_test_predictions(result))


def test_branch_and_feature_augmentation_graph_replays(corn):
    steps = [
        {"split": KFOLD},
        {
            "branch": [
                [{"feature_augmentation": [["SNV"], [SG], []]}, "MSC"],
                [{"class": "sklearn.preprocessing.StandardScaler"}],
            ]
        },
        {"model": {"class": "PLS", "params": {"n_components": 6}}},
    ]
    result = execute(steps, corn)
    assert len(result.info["models"]) == 2
    best = result.info["best_model"]
    cv = {m: v["cv_score"] for m, v in result.info["models"].items()}
    assert cv[best] == min(cv.values()) == result.cv_score
    ids = [n.id for n in result.graph.nodes if n.kind != "domain"]
    kinds = {n.id: n.kind for n in result.graph.nodes}
    edges = result.graph.edges
    if best.endswith("PLSRegression") and "StandardScaler" not in " ".join(ids):
        assert ids == [
            "000_input",
            "001_StandardNormalVariate",
            "002_SavitzkyGolay",
            "003_concat",
            "004_MultiplicativeScatterCorrection",
            ids[5],
            ids[6],
        ]
        assert kinds["003_concat"] == "concat"
        assert ("000_input", "003_concat") in edges  # the identity chain of the augmentation
        assert ("001_StandardNormalVariate", "003_concat") in edges and (
            "002_SavitzkyGolay",
            "003_concat",
        ) in edges
    # both branches' predictions are reported, the graph replays the best one bit for bit
    assert {r["model"] for r in result.predictions} == set(result.info["models"])
    Xtest = corn.x({"partition": "test"})[0]
    assert np.array_equal(_replay(result.graph, result.artifacts, [Xtest]), _refit_test_predictions(result))
    # fold artefacts replay the fold's validation predictions
    fold0 = next(r for r in result.predictions if r["fold"] == 0 and r["model"] == best)
    Xval = corn.x(np.asarray(fold0["sample"]))[0]
    got = _replay(result.graph, result.artifacts, [Xval], fit="fold_0")
    assert np.array_equal(got.ravel(), np.asarray(fold0["y_pred"]))


def test_branch_graph_has_the_expected_nodes_and_edges(corn):
    steps = [
        {"split": KFOLD},
        {"feature_augmentation": [["SNV"], [SG]]},
        {"model": {"class": "PLS", "params": {"n_components": 5}}},
    ]
    result = execute(steps, corn)
    g = result.graph
    assert [(n.id, n.kind) for n in g.nodes] == [
        ("000_input", "input"),
        ("001_StandardNormalVariate", "transform"),
        ("002_SavitzkyGolay", "transform"),
        ("003_concat", "concat"),
        ("004_PLSRegression", "model"),
        ("005_output", "output"),
        ("004_PLSRegression_domain", "domain"),  # from the model's input (tests/test_domain.py)
    ]
    assert g.edges == [
        ("000_input", "001_StandardNormalVariate"),
        ("000_input", "002_SavitzkyGolay"),
        ("001_StandardNormalVariate", "003_concat"),
        ("002_SavitzkyGolay", "003_concat"),
        ("003_concat", "004_PLSRegression"),
        ("004_PLSRegression", "005_output"),
        ("003_concat", "004_PLSRegression_domain"),
    ]
    model = g.node("004_PLSRegression")
    assert set(model.artifacts) == {"refit", "fold_0", "fold_1", "fold_2", "fold_3", "fold_4"}
    assert model.kernel == "nirs_core.models._kernels:pls_predict"
    assert g.node("001_StandardNormalVariate").params == {"ddof": 0}
    assert g.inputs[0]["n_features"] == 700 and g.inputs[0]["unit"] == "nm"
    assert g.outputs == {"node": "005_output", "targets": ["oil"], "task": "regression", "classes": None}
    assert all(name in result.artifacts for n in g.nodes for name in n.artifacts.values())


def test_third_party_estimators_are_pickled_nodes_and_y_processing_inverts(corn):
    steps = [
        {"split": KFOLD},
        # not StandardScaler/MinMaxScaler, whose fitted state is exported as arrays (sklearn_fast)
        {"class": "sklearn.preprocessing.RobustScaler"},
        {"y_processing": [{"class": "sklearn.preprocessing.MaxAbsScaler"}]},
        {"model": {"class": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}}},
    ]
    result = execute(steps, corn)
    kinds = [(n.kind, n.meta.get("method")) for n in result.graph.nodes]
    assert kinds == [
        ("input", None),
        ("pickled", "transform"),
        ("pickled", "predict"),
        ("pickled", "inverse_transform"),
        ("output", None),
        ("domain", None),  # a PCA of the model's input: Ridge has no scores
    ]
    assert all(
        name.endswith(".pkl") for n in result.graph.nodes if n.kind != "domain" for name in n.artifacts.values()
    )
    Xtest = corn.x({"partition": "test"})[0]
    got = _replay(result.graph, result.artifacts, [Xtest])
    assert np.array_equal(got.reshape(-1, 1), _refit_test_predictions(result))
    # an independent recomputation of the refit test score
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import MaxAbsScaler, RobustScaler

    Xc, yc = corn.x({"partition": "train"})[0], corn.y({"partition": "train"})
    ss = RobustScaler().fit(Xc)
    ys = MaxAbsScaler().fit(yc)
    pred = ys.inverse_transform(
        Ridge(alpha=1.0)
        .fit(ss.transform(Xc), ys.transform(yc)[:, 0])
        .predict(ss.transform(Xtest))
        .reshape(-1, 1)
    )
    yt = corn.y({"partition": "test"})
    assert result.test_score == pytest.approx(float(np.sqrt(np.mean((pred - yt) ** 2))), rel=1e-9)


def test_no_split_means_one_training_set_and_no_cv_score(corn):
    result = execute([{"model": {"class": "PLS", "params": {"n_components": 10}}}], corn)
    assert result.cv_score is None and result.test_score is not None
    assert {r["fold"] for r in result.predictions} == {REFIT_FOLD}
    assert "val" not in result.scores and "no split" in result.info["note"]


def test_classification_on_coffee_with_plsda():
    coffee = load(shared_path("coffee"), target="origin")
    steps = [
        {
            "split": {
                "class": "sklearn.model_selection.StratifiedKFold",
                "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
            }
        },
        "SNV",
        {"model": {"class": "PLSDA", "params": {"n_components": 5}}},
    ]
    result = execute(steps, coffee)
    assert result.task == "multiclass" and result.metric == "accuracy"
    assert result.test_score is None and result.n_test == 0
    # independent: the same folds, scikit-learn's PLS regression on one-hot indicators
    X = coffee.x(None)[0]
    codes = coffee.y(None, version="category")[:, 0]
    Xs = _snv(X)
    oof = np.empty_like(codes)
    from sklearn.model_selection import StratifiedKFold

    for tr, va in StratifiedKFold(5, shuffle=True, random_state=0).split(X, codes):
        onehot = np.eye(3)[codes[tr]]
        oof[va] = SkPLS(5, scale=False).fit(Xs[tr], onehot).predict(Xs[va]).argmax(axis=1)
    assert result.cv_score == pytest.approx(np.mean(oof == codes))
    assert result.cv_score >= 0.9
    assert set(result.scores["val"]) == {"accuracy", "balanced_accuracy"}
    assert result.graph.outputs["classes"] == ["Brasil", "Ethiopia", "Vietnam"]
    train = next(r for r in result.predictions if r["fold"] == REFIT_FOLD and r["partition"] == "train")
    replayed = _replay(result.graph, result.artifacts, [X[np.asarray(train["sample"])]])
    assert np.array_equal(replayed.ravel().astype(np.float64), np.asarray(train["y_pred"]))
    pooled = next(r for r in result.predictions if r["fold"] == POOLED_FOLD)
    assert pooled["n_classes"] == 3 and len(pooled["y_proba"]) == 3 * 60


def test_group_column_feeds_group_kfold():
    pectin = load(shared_path("pectin"), target="yield_g", group="extraction")
    steps = [
        {"split": {"class": "sklearn.model_selection.GroupKFold", "params": {"n_splits": 3}}},
        {"model": {"class": "PLS", "params": {"n_components": 3}}},
    ]
    result = execute(steps, pectin)
    groups = np.asarray(pectin.index["group"].to_list())
    for r in result.predictions:
        if r["fold"] >= 0:
            assert len(set(groups[np.asarray(r["sample"])])) == 1  # one extraction per fold
    assert result.info["split"]["groups"] == "group"


def test_multi_source_operators_apply_per_source_then_concatenate():
    rng = np.random.default_rng(0)
    X1, X2 = rng.normal(size=(40, 30)), rng.normal(size=(40, 20))
    y = X1[:, :3].sum(axis=1) + X2[:, 0]
    part = np.array(["train"] * 30 + ["test"] * 10)
    ds = SpectroDataset.from_arrays([X1, X2], y, source_names=["nir", "mir"], partition=part)
    steps = [{"split": KFOLD}, "MSC", {"model": {"class": "PLS", "params": {"n_components": 4}}}]
    result = execute(steps, ds)
    ids = [n.id for n in result.graph.nodes]
    assert ids[:4] == [
        "000_input_nir",
        "001_input_mir",
        "002_MultiplicativeScatterCorrection_nir",
        "003_MultiplicativeScatterCorrection_mir",
    ]
    assert result.graph.node("004_concat").parents == ids[2:4]
    got = _replay(result.graph, result.artifacts, [X1[30:], X2[30:]])
    assert np.array_equal(got.reshape(-1, 1), _refit_test_predictions(result))


def test_stacking_replays_and_reports_the_branch_models(corn):
    steps = [
        {"split": KFOLD},
        {
            "branch": [
                ["SNV", {"model": {"class": "PLS", "params": {"n_components": 8}}}],
                [SG, {"model": {"class": "PLS", "params": {"n_components": 10}}}],
            ]
        },
        {"stack": {"class": "sklearn.linear_model.LinearRegression"}, "name": "meta"},
    ]
    result = execute(steps, corn)
    assert result.info["best_model"] == "meta"
    assert {r["model"] for r in result.predictions} == {
        "meta",
        "003_PLSRegression",
        "005_PLSRegression",
    } or len({r["model"] for r in result.predictions}) == 3
    kinds = [n.kind for n in result.graph.nodes]
    assert kinds.count("model") == 2 and "stack" in kinds and kinds[-3] == "pickled"
    # the ensemble's domain: a PCA of the spectra as they enter the graph (tests/test_domain.py)
    assert kinds[-1] == "domain" and result.graph.nodes[-1].parents == ["000_input"]
    Xtest = corn.x({"partition": "test"})[0]
    assert np.array_equal(
        _replay(result.graph, result.artifacts, [Xtest]).reshape(-1, 1), _refit_test_predictions(result)
    )
    assert result.cv_score < 0.1


def test_opls_model_replays_its_predict_kernel(corn):
    result = execute(
        [{"split": KFOLD}, "SNV", {"model": {"class": "OPLS", "params": {"n_orthogonal": 4}}}], corn
    )
    node = next(n for n in result.graph.nodes if n.kind == "model")
    assert node.kernel == "nirs_core.models._kernels:pls_predict"
    Xtest = corn.x({"partition": "test"})[0]
    assert np.array_equal(_replay(result.graph, result.artifacts, [Xtest]), _refit_test_predictions(result))


def test_execute_accepts_live_objects_and_template_id(corn):
    from nirs_core.operators.scatter import StandardNormalVariate

    result = execute(
        [StandardNormalVariate(), {"model": PLSRegression(3)}], corn, template_id="t1", run_id="r"
    )
    assert result.template_id == "t1" and result.predictions[0]["run_id"] == "r"
    assert result.config[0]["class"].endswith("StandardNormalVariate")


def test_cache_stays_under_its_bound_and_batch_keeps_order(corn):
    configs = expand(CORN_TEMPLATE)
    cache = PreprocessingCache(max_bytes=600_000)
    seen = []
    results = execute_batch(configs[::-1], corn, cache=cache, progress=lambda d, t: seen.append((d, t)))
    assert [r.config_id for r in results] == [c.id for c in configs[::-1]]
    assert cache.peak_bytes <= 600_000 and cache.nbytes <= 600_000
    assert seen[-1] == (21, 21)
    assert [r.cv_score for r in results] == [r.cv_score for r in execute_batch(configs, corn)][::-1]


# ----------------------------------------------------------------------------- errors


def _err(steps, ds, match):
    with pytest.raises(ConfigError, match=match):
        execute(steps, ds)


def test_overlapping_validation_sets_pool_every_validation_prediction(corn):
    split = {"class": "sklearn.model_selection.ShuffleSplit", "params": {"n_splits": 3, "random_state": 0}}
    result = execute([{"split": split}, {"model": {"class": "PLS", "params": {"n_components": 3}}}], corn)
    folds = [r for r in result.predictions if r["fold"] >= 0 and r["partition"] == "val"]
    (pooled,) = [r for r in result.predictions if r["fold"] == -2]
    assert result.info["split"]["overlapping"] and len(folds) == 3
    assert len(pooled["sample"]) == sum(len(r["sample"]) for r in folds)  # once per validating fold
    err = np.concatenate([np.ravel(r["y_pred"]) - np.ravel(r["y_true"]) for r in folds])
    assert result.cv_score == pytest.approx(float(np.sqrt(np.mean(err**2))), rel=1e-12)


def test_errors_name_the_step(corn):
    pls = {"model": {"class": "PLS", "params": {"n_components": 3}}}
    _err(["SNV"], corn, r"steps: the pipeline has no model step")
    _err([{"split": KFOLD}, {"split": KFOLD}, pls], corn, r"steps\[1\]: the pipeline has a second split")
    _err(
        [{"branch": [[{"split": KFOLD}, pls]]}],
        corn,
        r"steps\[0\]\.branch\[0\]\[0\]: a split belongs at the top level",
    )
    _err(
        [{"split": {"class": "sklearn.preprocessing.StandardScaler"}}, pls],
        corn,
        r"steps\[0\]\.split: StandardScaler is not a splitter",
    )
    _err(
        [{"split": {"class": "sklearn.model_selection.GroupKFold", "params": {"n_splits": 3}}}, pls],
        corn,
        r"steps\[0\]\.split: GroupKFold failed on the calibration set",
    )
    _err(
        [{"model": {"class": "sklearn.preprocessing.StandardScaler"}}],
        corn,
        r"steps\[0\]\.model: StandardScaler has no predict",
    )
    _err([{"model": {"class": "PLSDA"}}], corn, r"steps\[0\]\.model: PLSDiscriminantAnalysis is a classifier")
    _err(["GaussianNoise", pls], corn, r"steps\[0\]: GaussianNoise is an augmenter")
    _err(["DS", pls], corn, r"steps\[0\]: DirectStandardization maps slave to master")
    # a bare regressor is a model step (template_forms); a predictor that is neither a
    # regressor nor a classifier stays an operator, and has no transform
    _err(
        [{"class": "sklearn.mixture.GaussianMixture"}, pls],
        corn,
        r"steps\[0\]: GaussianMixture is a model \(no transform\)",
    )
    _err(
        [{"y_processing": ["SNV"]}, pls],
        corn,
        r"steps\[0\]\.y_processing\[0\]: StandardNormalVariate has no inverse_transform",
    )
    _err(
        [{"y_processing": [{"model": {"class": "PLS"}}]}, pls],
        corn,
        r"steps\[0\]\.y_processing\[0\]: expected an operator",
    )
    _err(
        [{"sample_augmentation": [["SNV"]]}, pls],
        corn,
        r"steps\[0\]\.sample_augmentation\[0\]\[0\]: expected an augmenter",
    )
    _err(
        [{"sample_augmentation": [["GaussianNoise"]], "count": 0}, pls],
        corn,
        r"steps\[0\]\.count: expected an integer",
    )
    _err(
        [{"feature_augmentation": [["GaussianNoise"]]}, pls],
        corn,
        r"steps\[0\]\.feature_augmentation\[0\]\[0\]: GaussianNoise changes rows",
    )
    _err(
        [{"feature_augmentation": [[pls]]}, pls],
        corn,
        r"steps\[0\]\.feature_augmentation\[0\]\[0\]: feature_augmentation chains hold operators",
    )
    _err(
        [{"branch": [["SNV"], ["MSC"]]}, {"merge": "everything"}, pls],
        corn,
        r"steps\[1\]\.merge: expected 'features' or 'predictions'",
    )
    _err(["SNV", {"merge": "features"}, pls], corn, r"steps\[1\]: merge 'features' needs a branch step")
    _err(
        [{"branch": [["SNV"], ["MSC"]]}, {"merge": "predictions"}, pls],
        corn,
        r"steps\[1\]: branch '0' has no model",
    )
    _err(
        [{"branch": [[pls], [pls]]}, {"merge": "predictions", "inner_folds": 1}, pls],
        corn,
        r"steps\[1\]\.inner_folds",
    )
    _err(
        [{"branch": [[{"sample_augmentation": [["GaussianNoise"]]}], ["SNV"]]}, {"merge": "features"}, pls],
        corn,
        r"steps\[1\]: merge 'features' needs the same rows",
    )
    _err(
        [
            {"branch": [[{"y_processing": [{"class": "sklearn.preprocessing.StandardScaler"}]}], ["SNV"]]},
            {"merge": "features"},
            pls,
        ],
        corn,
        r"steps\[1\]: merge 'features' needs the same y_processing",
    )
    _err(
        [
            {
                "branch": [
                    [{"model": {"class": "PLS", "params": {"n_components": 2}}, "name": "m"}],
                    [{"model": {"class": "PLS", "params": {"n_components": 3}}, "name": "m"}],
                ]
            }
        ],
        corn,
        r"two models have the same name",
    )
    _err(
        [{"class": "PCAOutliers", "params": {"confidence": 1e-9}}, pls],
        corn,
        r"steps\[0\]: PCAOutlierDetector flagged every",
    )
    coffee = load(shared_path("coffee"), target="origin")
    _err([pls], coffee, r"steps\[0\]\.model: PLSRegression is not a classifier")
    _err(
        [
            {"y_processing": [{"class": "sklearn.preprocessing.StandardScaler"}]},
            {"model": {"class": "PLSDA"}},
        ],
        coffee,
        r"steps\[0\]: y_processing applies to regression",
    )
    with pytest.raises(ConfigError, match="expands to 2 configs"):
        execute([{"_or_": ["SNV", "MSC"]}, pls], corn)
    with pytest.raises(ConfigError, match="expected a PipelineConfig or a list of steps"):
        execute("SNV", corn)
    with pytest.raises(ConfigError, match="no targets"):
        execute([pls], SpectroDataset.from_arrays(np.ones((5, 3))))
    with pytest.raises(ConfigError, match="max_bytes must be an integer"):
        PreprocessingCache(max_bytes=-1)
