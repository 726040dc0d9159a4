"""scikit-learn's PLSRegression, StandardScaler, MinMaxScaler and PCA on the project's kernels:
numbers equal to scikit-learn's own (1e-10 relative on real spectra), the PLS sweep shared,
and bundles that replay them on numpy alone."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml
from sklearn.cross_decomposition import PLSRegression as SkPLS
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from test_bundle_fixtures import KEY

from nirs_core.data import SpectroDataset
from nirs_core.errors import ConfigError
from nirs_core.models.pls import PLSRegression as OurPLS
from nirs_core.operators import _linear_kernels as lk
from nirs_core.pipeline import sklearn_fast
from nirs_core.pipeline.executor import execute, execute_batch
from nirs_core.pipeline.generators import expand

SK_PLS = "sklearn.cross_decomposition.PLSRegression"
KFOLD = {
    "class": "sklearn.model_selection.KFold",
    "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
}


def _rel(a, b):
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _corn(corn_arrays):
    X = np.vstack([corn_arrays["Xcal"], corn_arrays["Xval"]])
    y = np.concatenate([corn_arrays["ycal"], corn_arrays["yval"]])
    part = np.array(["train"] * 60 + ["test"] * 20)
    return SpectroDataset.from_arrays(X, y, partition=part, wavelengths=corn_arrays["wavelengths"])


def _test_predictions(result):
    (row,) = [r for r in result.predictions if r["fold"] == -1 and r["partition"] == "test"]
    return np.asarray(row["y_pred"], dtype=float).ravel()


@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("n_components", [1, 5, 15, 40])
def test_sklearn_pls_on_our_kernel_equals_sklearn_on_corn(corn_arrays, scale, n_components):
    Xc, yc = corn_arrays["Xcal"], corn_arrays["ycal"]
    ours = sklearn_fast.fast_model(SkPLS(n_components, scale=scale), *Xc.shape, yc)
    assert isinstance(ours, OurPLS)
    ref = SkPLS(n_components, scale=scale).fit(Xc, yc).predict(corn_arrays["Xval"])
    assert _rel(ours.fit(Xc, yc).predict(corn_arrays["Xval"]), ref) <= 1e-10


def test_sklearn_pls_agrees_on_the_other_real_sets(shared_data):
    from nirs_core.data import load

    for name, kwargs in (("fermentation", {}), ("pectin", {"target": "yield_g"})):
        ds = load(shared_data / name, **kwargs)
        X = np.asarray(ds.x({"partition": "train"})[0], dtype=float)
        y = np.asarray(ds.y({"partition": "train"}), dtype=float).ravel()
        a = min(8, X.shape[0] - 2)
        ours = sklearn_fast.fast_model(SkPLS(a), *X.shape, y).fit(X, y)
        assert _rel(ours.predict(X), SkPLS(a).fit(X, y).predict(X)) <= 1e-10, name


def test_a_pipeline_with_sklearn_pls_predicts_what_sklearn_predicts(corn_arrays):
    corn = _corn(corn_arrays)
    result = execute([{"split": KFOLD}, StandardScaler(), {"model": SkPLS(6)}], corn)
    scaler = StandardScaler().fit(corn_arrays["Xcal"])
    ref = SkPLS(6).fit(scaler.transform(corn_arrays["Xcal"]), corn_arrays["ycal"])
    assert _rel(_test_predictions(result), ref.predict(scaler.transform(corn_arrays["Xval"]))) <= 1e-10
    kinds = {n.id: (n.kind, n.kernel) for n in result.graph.nodes}
    assert ("transform", "nirs_core.operators._linear_kernels:affine_scale") in kinds.values()
    assert ("model", "nirs_core.models._kernels:pls_predict") in kinds.values()
    assert not any(kind == "pickled" for kind, _ in kinds.values())


def test_the_sklearn_pls_sweep_shares_one_fit_per_fold_and_equals_configs_run_alone(corn_arrays):
    corn = _corn(corn_arrays)
    template = [
        {"split": KFOLD},
        "SNV",
        {"model": {"class": SK_PLS}, "param": "n_components", "_range_": [2, 20, 3]},
    ]
    configs = expand(template)
    batch = execute_batch(configs, corn)
    assert {r.info["shared_sweep"] for r in batch} == {7}
    assert batch[0].info["fits"] == 1 + 6  # SNV once; PLS in 5 folds and the refit, for 7 configs
    for cfg, shared in zip(configs, batch, strict=True):
        alone = execute(cfg, corn)
        assert alone.cv_score == shared.cv_score and alone.test_score == shared.test_score


def test_several_targets_fit_with_sklearn_and_still_replay_from_arrays():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 40))
    Y = np.column_stack([X[:, :3].sum(axis=1), X[:, 5] - X[:, 7]]) + 0.01 * rng.normal(size=(50, 2))
    est = SkPLS(4)
    assert sklearn_fast.fast_model(est, 50, 40, Y) is est  # NIPALS iterates: scikit-learn fits
    est.fit(X, Y)
    kernel, kwargs = sklearn_fast.replay_spec(est)
    assert kernel.endswith(":linear_predict")
    assert _rel(lk.linear_predict(X, **kwargs), est.predict(X)) <= 1e-12


def test_too_many_components_for_the_rows_stay_with_sklearn(corn_arrays):
    est = SkPLS(60)
    assert sklearn_fast.fast_model(est, 60, 700, corn_arrays["ycal"]) is est
    assert sklearn_fast.fast_model("not an estimator", 60, 700, corn_arrays["ycal"]) == "not an estimator"


@pytest.mark.parametrize(
    "est",
    [
        StandardScaler(),
        StandardScaler(with_mean=False),
        StandardScaler(with_std=False),
        MinMaxScaler(),
        MinMaxScaler(feature_range=(-1, 2), clip=True),
        PCA(10),
        PCA(5, whiten=True),
    ],
    ids=repr,
)
def test_exported_transformers_replay_what_sklearn_transforms(corn_arrays, est):
    est.fit(corn_arrays["Xcal"])
    kernel, kwargs = sklearn_fast.replay_spec(est)
    fn = getattr(lk, kernel.partition(":")[2])
    X = corn_arrays["Xval"] * 1.05  # outside the training range: clipping matters
    assert _rel(fn(X, **kwargs), est.transform(X)) <= 1e-12


@pytest.mark.parametrize(
    "est", [StandardScaler(), StandardScaler(with_mean=False, with_std=False), MinMaxScaler()], ids=repr
)
def test_exported_inverses_replay_what_sklearn_inverts(corn_arrays, est):
    y = corn_arrays["ycal"].reshape(-1, 1)
    est.fit(y)
    kernel, kwargs = sklearn_fast.inverse_replay_spec(est)
    fn = getattr(lk, kernel.partition(":")[2])
    z = est.transform(y) * 0.9
    np.testing.assert_allclose(fn(z, **kwargs), est.inverse_transform(z), rtol=1e-14, atol=0)
    assert sklearn_fast.inverse_replay_spec(PCA()) is None and sklearn_fast.replay_spec(object()) is None


def test_a_bundle_of_sklearn_estimators_replays_on_numpy_alone(
    corn_arrays, shared_data, tmp_path, no_ambient_key
):
    from nirs_core.app.train import train_bundle

    template = tmp_path / "sk.yaml"
    template.write_text(
        yaml.safe_dump(
            {
                "pipeline": [
                    {"split": KFOLD},
                    {"class": "sklearn.preprocessing.StandardScaler"},
                    {
                        "class": "sklearn.decomposition.PCA",
                        "params": {"n_components": 20, "svd_solver": "full"},
                    },
                    {"y_processing": {"class": "sklearn.preprocessing.MinMaxScaler"}},
                    {"model": {"class": SK_PLS, "params": {"n_components": 8}}},
                ]
            }
        )
    )
    bundle = tmp_path / "sk.zip"
    train_bundle(template, shared_data / "corn", bundle, workspace=tmp_path / "ws", key=KEY)
    scaler = StandardScaler().fit(corn_arrays["Xcal"])
    pca = PCA(20, svd_solver="full").fit(scaler.transform(corn_arrays["Xcal"]))
    ys = MinMaxScaler().fit(corn_arrays["ycal"].reshape(-1, 1))
    Z = pca.transform(scaler.transform(corn_arrays["Xcal"]))
    pls = SkPLS(8).fit(Z, ys.transform(corn_arrays["ycal"].reshape(-1, 1)).ravel())
    expected = ys.inverse_transform(
        pls.predict(pca.transform(scaler.transform(corn_arrays["Xval"]))).reshape(-1, 1)
    )
    np.save(tmp_path / "x.npy", corn_arrays["Xval"])
    code = (
        "import sys, numpy as np, nirs_core\n"
        f"p = nirs_core.predict({str(bundle)!r}, np.load({str(tmp_path / 'x.npy')!r}), key={KEY!r}, values_only=True)\n"
        "np.save(sys.argv[1], p)\n"
        "bad = [m for m in ('sklearn', 'cloudpickle', 'polars') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = tmp_path / "p.npy"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True)
    assert _rel(np.load(out), expected) <= 1e-10


def test_a_sweep_group_that_cannot_share_runs_config_by_config():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 30))
    Y = np.column_stack([X[:, 0] + X[:, 1], X[:, 2]])
    ds = SpectroDataset.from_arrays(X, Y, partition=np.array(["train"] * 30 + ["test"] * 10))
    configs = expand(
        [{"split": KFOLD}, {"model": {"class": SK_PLS}, "param": "n_components", "_range_": [2, 4]}]
    )
    batch = execute_batch(configs, ds)  # two targets: scikit-learn fits each config
    for cfg, result in zip(configs, batch, strict=True):
        assert result.info["shared_sweep"] is None
        assert result.cv_score == execute(cfg, ds).cv_score
    with pytest.raises(ConfigError, match=r"PLSRegression cannot share a component sweep here"):
        from nirs_core.pipeline.executor import _Batch

        _Batch(ds, None, "")._run(configs)
