"""nirs_core.estimator: scikit-learn's protocol without importing scikit-learn, checked against
scikit-learn itself (its clone, Pipeline, GridSearchCV, cross_val_score, r2_score,
validate_data, KFold and PLSRegression); and the import rule of issue 12: a run imports
scikit-learn only when its template needs it (checked in fresh processes)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone as sk_clone
from sklearn.cross_decomposition import PLSRegression as SkPLS
from sklearn.metrics import r2_score as sk_r2
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.model_selection import KFold as SkKFold
from sklearn.pipeline import make_pipeline
from sklearn.utils import Tags
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import validate_data as sk_validate_data

from nirs_core import estimator as est
from nirs_core import validation
from nirs_core.errors import ConfigError, DataError
from nirs_core.models._sklearn_pls import PLSRegression as StandInPLS
from nirs_core.models.pls import PLSRegression as OurPLS
from nirs_core.operators.scatter import StandardNormalVariate
from nirs_core.pipeline.serialize import to_canonical
from nirs_core.registry import resolve
from nirs_core.splitters._sklearn_splits import KFold


def _rel(a, b):
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# ------------------------------------------------------------------ scikit-learn's tools on ours


def test_sklearn_clone_pipeline_and_search_work_on_our_operators(corn_arrays):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    pipe = make_pipeline(StandardNormalVariate(), OurPLS(n_components=4))
    twin = sk_clone(pipe)
    assert twin is not pipe and twin.get_params()["plsregression__n_components"] == 4
    pipe.set_params(plsregression__n_components=6)
    assert pipe.steps[1][1].n_components == 6
    folds = SkKFold(5, shuffle=True, random_state=0)
    scores = cross_val_score(pipe, X, y, cv=folds, scoring="neg_root_mean_squared_error")
    ref = []
    for tr, te in folds.split(X):
        Xs = StandardNormalVariate().fit_transform(X)
        m = SkPLS(6, scale=False).fit(Xs[tr], y[tr])
        ref.append(-np.sqrt(np.mean((m.predict(Xs[te]) - y[te]) ** 2)))
    np.testing.assert_allclose(scores, ref, rtol=1e-9)
    search = GridSearchCV(pipe, {"plsregression__n_components": [2, 8]}, cv=folds).fit(X, y)
    assert search.best_params_["plsregression__n_components"] in (2, 8)
    assert isinstance(search.best_estimator_.steps[1][1], OurPLS)


def test_nested_set_params_and_errors_match_scikit_learn():
    pls = OurPLS()
    with pytest.raises(ValueError, match="Invalid parameter 'n_comp' for estimator"):
        pls.set_params(n_comp=3)
    assert pls.set_params(n_components=3) is pls and pls.n_components == 3
    assert repr(OurPLS(n_components=7)) == "PLSRegression(n_components=7)"
    assert repr(OurPLS()) == "PLSRegression()"


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("targets", [1, 3])
def test_score_is_scikit_learns_r2(corn_arrays, weights, targets):
    X, y = corn_arrays["Xcal"], corn_arrays["ycal"]
    rng = np.random.default_rng(3)
    Y = y if targets == 1 else np.column_stack([y, y**2, rng.normal(size=y.size)])
    w = rng.uniform(0.5, 2.0, size=y.size) if weights else None
    model = OurPLS(n_components=5).fit(X, Y)
    assert model.score(X, Y, sample_weight=w) == pytest.approx(
        sk_r2(Y, model.predict(X), sample_weight=w), rel=1e-14
    )


def test_r2_of_constant_targets_follows_scikit_learn():
    y = np.ones(5)
    assert est.r2_score(y, y) == sk_r2(y, y) == 1.0
    assert est.r2_score(y, y + np.array([0, 0, 0, 0, 1])) == sk_r2(y, y + np.array([0, 0, 0, 0, 1])) == 0.0


def test_classifier_score_is_accuracy():
    from sklearn.metrics import accuracy_score

    from nirs_core.models.plsda import PLSDiscriminantAnalysis

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    y = np.where(X[:, 0] > 0, "a", "b")
    m = PLSDiscriminantAnalysis(n_components=2).fit(X, y)
    assert m.score(X, y) == accuracy_score(y, m.predict(X))


# ------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dtype": np.float64},
        {"dtype": (np.float64, np.float32), "order": "C"},
        {"dtype": np.float64, "ensure_min_samples": 2},
        {"dtype": np.float64, "ensure_all_finite": False},
    ],
)
def test_fast_validation_returns_what_scikit_learn_returns(corn_arrays, kwargs):
    X = corn_arrays["Xcal"]
    a, b = StandardNormalVariate(), StandardNormalVariate()
    got = est.validate_data(a, X, reset=True, **kwargs)
    ref = sk_validate_data(b, X, reset=True, **kwargs)
    assert (
        got.dtype == ref.dtype
        and np.array_equal(got, ref)
        and got.flags.c_contiguous == ref.flags.c_contiguous
    )
    assert a.n_features_in_ == b.n_features_in_ == X.shape[1]
    assert np.shares_memory(got, X) == np.shares_memory(ref, X)


def test_what_the_fast_path_does_not_take_gets_scikit_learns_errors(corn_arrays):
    X = corn_arrays["Xcal"].copy()
    model = OurPLS(n_components=2).fit(X, corn_arrays["ycal"])
    with pytest.raises(ValueError, match="X has 3 features, but PLSRegression is expecting 700 features"):
        model.predict(X[:, :3])
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        OurPLS().fit(X, corn_arrays["ycal"])
    listed = est.validate_data(StandardNormalVariate(), [[1.0, 2.0], [3.0, 4.0]], dtype=np.float64)
    assert isinstance(listed, np.ndarray) and listed.dtype == np.float64
    with pytest.raises(ValueError, match="not fitted yet"):
        OurPLS().predict(X)


def test_check_random_state_is_scikit_learns():
    from sklearn.utils import check_random_state as sk_crs

    assert (
        est.check_random_state(7).randint(1000, size=5).tolist() == sk_crs(7).randint(1000, size=5).tolist()
    )
    rs = np.random.RandomState(1)
    assert est.check_random_state(rs) is rs
    assert est.check_random_state(None) is sk_crs(None)
    with pytest.raises(ValueError, match="cannot be used to seed"):
        est.check_random_state("seven")


def test_tags_are_scikit_learns_once_it_is_imported():
    tags = est.get_tags(StandardNormalVariate())
    assert isinstance(tags, Tags) and tags.requires_fit is False and tags.transformer_tags is not None
    assert (
        est.get_tags(OurPLS()).estimator_type == "regressor"
        and est.get_tags(OurPLS()).target_tags.multi_output
    )


def test_without_scikit_learn_tags_clone_and_fit_work_on_numpy_alone():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        from nirs_core import estimator as est
        from nirs_core.models.pls import PLSRegression
        from nirs_core.operators.scatter import StandardNormalVariate
        X = np.random.default_rng(0).normal(size=(30, 12)); y = X[:, 0] + 0.1 * X[:, 1]
        snv = StandardNormalVariate()
        tags = est.get_tags(snv)
        assert type(tags) is est.Tags and tags.requires_fit is False, tags
        pls = est.clone(PLSRegression(n_components=3)).fit(snv.fit_transform(X), y)
        assert pls.predict(snv.transform(X)).shape == (30,)
        assert est.is_classifier(pls) is False and 0 < pls.score(snv.transform(X), y) <= 1
        assert "sklearn" not in sys.modules and "scipy.stats" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------ KFold


def test_kfold_folds_are_scikit_learns():
    for n in (2, 3, 7, 10, 31, 100, 430):
        for k in (2, 3, 5, 10):
            if k > n:
                continue
            for shuffle, seed in (
                (False, None),
                (True, None),
                (True, 0),
                (True, 1),
                (True, 42),
                (True, 2**31 - 1),
            ):
                X = np.zeros((n, 2))
                if seed is None and shuffle:
                    np.random.seed(n * 31 + k)  # noqa: NPY002  (None draws from numpy's global state, as scikit-learn)
                ours = list(KFold(k, shuffle=shuffle, random_state=seed).split(X))
                if seed is None and shuffle:
                    np.random.seed(n * 31 + k)  # noqa: NPY002  (None draws from numpy's global state, as scikit-learn)
                ref = list(SkKFold(k, shuffle=shuffle, random_state=seed).split(X))
                assert len(ours) == len(ref)
                for (a, b), (c, d) in zip(ours, ref, strict=True):
                    assert np.array_equal(a, c) and np.array_equal(b, d), (n, k, shuffle, seed)
                    assert a.dtype == c.dtype


def test_kfold_with_a_random_state_object_draws_like_scikit_learn():
    ours = [t for _, t in KFold(4, shuffle=True, random_state=np.random.RandomState(5)).split(np.zeros(23))]
    ref = [t for _, t in SkKFold(4, shuffle=True, random_state=np.random.RandomState(5)).split(np.zeros(23))]
    assert all(np.array_equal(a, b) for a, b in zip(ours, ref, strict=True))


def test_kfold_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="n_splits must be at least 2"):
        KFold(1)
    with pytest.raises(ConfigError, match="n_splits must be an integer"):
        KFold(2.5)
    with pytest.raises(ConfigError, match="shuffle must be True or False"):
        KFold(3, shuffle="yes")
    with pytest.raises(ConfigError, match="random_state has no effect with shuffle=False"):
        KFold(3, random_state=0)
    with pytest.raises(DataError, match="n_splits=5 greater than the number of samples: n_samples=3"):
        list(KFold(5).split(np.zeros((3, 1))))
    with pytest.warns(UserWarning, match="groups parameter is ignored"):
        list(KFold(2).split(np.zeros((4, 1)), groups=np.arange(4)))
    assert repr(KFold(3, shuffle=True, random_state=0)) == "KFold(n_splits=3, random_state=0, shuffle=True)"


def test_sklearn_paths_resolve_to_the_stand_ins_and_keep_their_identity():
    assert resolve("sklearn.model_selection.KFold") is KFold
    assert resolve("sklearn.cross_decomposition.PLSRegression") is StandInPLS
    assert resolve("sklearn.cross_decomposition._pls.PLSRegression") is StandInPLS
    step = to_canonical({"class": "sklearn.cross_decomposition.PLSRegression", "params": {"n_components": 3}})
    assert step == {
        "class": "sklearn.cross_decomposition.PLSRegression",
        "params": {"copy": True, "max_iter": 500, "n_components": 3, "scale": True, "tol": 1e-06},
    }
    # the same canonical form as a live scikit-learn object
    assert to_canonical(SkPLS(3)) == step
    assert to_canonical(SkKFold(5, shuffle=True, random_state=0)) == to_canonical(
        {
            "class": "sklearn.model_selection.KFold",
            "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
        }
    )


# ------------------------------------------------------------------------------- PLSRegression


@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("n_components", [1, 5, 15, 40])
def test_pls_stand_in_agrees_with_scikit_learn_on_corn(corn_arrays, scale, n_components):
    Xc, yc, Xv = corn_arrays["Xcal"], corn_arrays["ycal"], corn_arrays["Xval"]
    ours = StandInPLS(n_components, scale=scale).fit(Xc, yc)
    ref = SkPLS(n_components, scale=scale).fit(Xc, yc)
    assert ours.fitted_by_ == "nirs_core"
    assert _rel(ours.predict(Xv), ref.predict(Xv)) <= 1e-10
    assert ours.predict(Xv).shape == ref.predict(Xv).shape
    # predictions to 1e-10 (above); coefficients of 40 components on 60 rows are worse conditioned
    assert _rel(ours.coef_, ref.coef_) <= 1e-8 and _rel(ours.intercept_, ref.intercept_) <= 1e-12
    xs, ys = ours.transform(Xv, yc[:20])
    rxs, rys = ref.transform(Xv, yc[:20])
    assert _rel(xs, rxs) <= 1e-8 and _rel(ys, rys) <= 1e-8
    kernel, kwargs = ours.replay_spec()
    assert kernel == "nirs_core.operators._linear_kernels:linear_predict"
    from nirs_core.operators._linear_kernels import linear_predict

    assert np.array_equal(linear_predict(Xv, **kwargs).ravel(), ours.predict(Xv))


def test_pls_stand_in_fits_scikit_learn_where_the_models_differ(corn_arrays):
    Xc, yc = corn_arrays["Xcal"], corn_arrays["ycal"]
    Y = np.column_stack([yc, np.sqrt(yc)])
    ours, ref = StandInPLS(4).fit(Xc, Y), SkPLS(4).fit(Xc, Y)
    assert ours.fitted_by_ == "sklearn"
    assert np.array_equal(ours.predict(Xc), ref.predict(Xc))  # the same arithmetic in the same order
    many = StandInPLS(60).fit(Xc, yc)  # more components than the 60 rows allow: scikit-learn's own result
    np.testing.assert_array_equal(many.predict(Xc), SkPLS(60).fit(Xc, yc).predict(Xc))
    assert many.fitted_by_ == "sklearn"


@parametrize_with_checks([StandInPLS(), StandInPLS(n_components=1, scale=False)])
def test_pls_stand_in_keeps_the_contract(estimator, check):
    check(estimator)


def test_a_live_sklearn_pls_in_a_python_template_still_runs(corn_arrays):
    from nirs_core.data import SpectroDataset
    from nirs_core.pipeline.executor import execute

    X = np.vstack([corn_arrays["Xcal"], corn_arrays["Xval"]])
    y = np.concatenate([corn_arrays["ycal"], corn_arrays["yval"]])
    part = np.array(["train"] * 60 + ["test"] * 20)
    ds = SpectroDataset.from_arrays(X, y, partition=part, wavelengths=corn_arrays["wavelengths"])
    by_object = execute([{"split": SkKFold(5, shuffle=True, random_state=0)}, {"model": SkPLS(6)}], ds)
    by_path = execute(
        [
            {
                "split": {
                    "class": "sklearn.model_selection.KFold",
                    "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
                }
            },
            {"model": {"class": "sklearn.cross_decomposition.PLSRegression", "params": {"n_components": 6}}},
        ],
        ds,
    )
    assert by_object.cv_score == by_path.cv_score and by_object.test_score == by_path.test_score
    ref = SkPLS(6).fit(corn_arrays["Xcal"], corn_arrays["ycal"]).predict(corn_arrays["Xval"])
    (row,) = [r for r in by_path.predictions if r["fold"] == -1 and r["partition"] == "test"]
    assert _rel(row["y_pred"], ref) <= 1e-10
    classes = {n.class_path for n in by_path.graph.nodes}
    assert "sklearn.cross_decomposition.PLSRegression" in classes


# --------------------------------------------------------------------------------- quantiles


def test_quantiles_are_scipy_stats_bits():
    for q in (0.9, 0.95, 0.975, 0.99, 0.999):
        assert validation.norm_ppf(q) == stats.norm.ppf(q)
        for d1 in (1, 2, 3, 7, 19, 40):
            assert validation.t_ppf(q, d1) == stats.t.ppf(q, d1)
            assert validation.chi2_ppf(q, d1 + 0.37) == stats.chi2.ppf(q, d1 + 0.37)
            for d2 in (1, 4, 25, 409):
                assert validation.f_ppf(q, d1, d2) == stats.f.ppf(q, d1, d2)


# ----------------------------------------------------------------------------- the import rule

_DRIVER = textwrap.dedent(
    """
    import json, sys
    from nirs_core.cli import main
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
    print(json.dumps({"code": code, "sklearn": "sklearn" in sys.modules,
                      "scipy_stats": "scipy.stats" in sys.modules}), file=sys.stderr)
    """
)

_SPLIT_PATH = """\
  - split:
      class: sklearn.model_selection.KFold
      params: {n_splits: 3, shuffle: true, random_state: 0}
"""
_SPLIT_OURS = """\
  - split:
      class: GroupKFoldSplit
      params: {n_splits: 3}
"""


def _imports_of_a_run(tmp_path, corn_arrays, split: str, steps: str) -> dict:
    folder = tmp_path / "corn"
    folder.mkdir()
    for name, arr in (("Xcal", corn_arrays["Xcal"]), ("Xval", corn_arrays["Xval"])):
        header = ";".join(f"{w:g}" for w in corn_arrays["wavelengths"])
        np.savetxt(folder / f"{name}.csv", arr, delimiter=";", header=header, comments="", fmt="%.10g")
    for name, arr in (("Ycal", corn_arrays["ycal"]), ("Yval", corn_arrays["yval"])):
        np.savetxt(folder / f"{name}.csv", arr, header="y", comments="", fmt="%.10g")
    template = tmp_path / "t.yaml"
    template.write_text(f"name: imports\npipeline:\n{split}{steps}")
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER)
    out = subprocess.run(
        [sys.executable, str(driver), "run", str(template), "--data", str(folder), "--workspace",
         str(tmp_path / "ws"), "--json", "--no-progress"],
        capture_output=True, text=True,
    )  # fmt: skip
    report = json.loads(out.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), out.stderr
    return report


@pytest.mark.parametrize("split", [_SPLIT_OURS, _SPLIT_PATH], ids=["project_split", "sklearn_kfold_path"])
def test_a_run_of_project_operators_never_imports_sklearn_or_scipy_stats(tmp_path, corn_arrays, split):
    steps = "  - SNV\n  - model: {class: PLS, params: {n_components: 4}}\n"
    report = _imports_of_a_run(tmp_path, corn_arrays, split, steps)
    assert report == {"code": report["code"], "sklearn": False, "scipy_stats": False}


def test_a_run_naming_sklearn_kfold_and_pls_paths_does_not_import_it(tmp_path, corn_arrays):
    steps = (
        "  - MSC\n  - model: {class: sklearn.cross_decomposition.PLSRegression, params: {n_components: 4}}\n"
    )
    report = _imports_of_a_run(tmp_path, corn_arrays, _SPLIT_PATH, steps)
    assert report["sklearn"] is False and report["scipy_stats"] is False


def test_a_run_naming_a_sklearn_transformer_imports_it(tmp_path, corn_arrays):
    steps = "  - sklearn.preprocessing.StandardScaler\n  - model: {class: PLS, params: {n_components: 4}}\n"
    report = _imports_of_a_run(tmp_path, corn_arrays, _SPLIT_PATH, steps)
    assert report["sklearn"] is True


def test_set_output_gives_scikit_learns_containers(corn_arrays):
    import polars as pl
    from sklearn import config_context
    from sklearn.preprocessing import StandardScaler

    X = corn_arrays["Xcal"][:, :6]
    plain = StandardNormalVariate().fit_transform(X)
    snv = StandardNormalVariate().set_output(transform="polars")
    out = snv.fit_transform(X)
    ref = StandardScaler().set_output(transform="polars").fit_transform(X)  # scikit-learn's own naming
    assert isinstance(out, pl.DataFrame) and out.columns == ref.columns
    np.testing.assert_array_equal(out.to_numpy(), plain)
    with config_context(transform_output="polars"):
        assert isinstance(StandardNormalVariate().fit(X).transform(X), pl.DataFrame)
        assert isinstance(
            make_pipeline(StandardNormalVariate(), StandardScaler()).fit_transform(X), pl.DataFrame
        )
    assert isinstance(StandardNormalVariate().fit(X).transform(X), np.ndarray)
    assert not hasattr(OurPLS(), "set_output")  # a model names no outputs: no set_output, as scikit-learn
