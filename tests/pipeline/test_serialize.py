"""The canonical JSON form of steps: every way of writing a step gives one form, live objects
round-trip through it, and the JSON text and hash are stable."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.cross_decomposition import PLSRegression
from sklearn.decomposition import PCA
from sklearn.ensemble import BaggingRegressor
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, LeaveOneOut, PredefinedSplit, ShuffleSplit
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

from nirs_core.errors import ConfigError
from nirs_core.pipeline.serialize import (
    Context,
    canonical_json,
    canonicalize,
    config_hash,
    from_canonical,
    public_path,
    to_canonical,
)
from nirs_core.registry import register


@register("SerTestScaler")
class SerTestScaler(TransformerMixin, BaseEstimator):
    """Test-only transformer registered under a short name."""

    def __init__(self, factor=1.0, center=True):
        self.factor = factor
        self.center = center

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X * self.factor


class StrictInit(BaseEstimator):
    """A third-party style class that validates in ``__init__``."""

    def __init__(self, size=1):
        if size < 0:
            raise ValueError("size must be >= 0")
        self.size = size


class RenamingSplitter:
    """A splitter without get_params that does not store its parameter under its own name."""

    def __init__(self, folds=3):
        self._folds = folds

    def split(self, X, y=None, groups=None):
        yield from ()

    def get_n_splits(self, X=None, y=None, groups=None):
        return self._folds


class VarArgsSplitter:
    """A splitter whose constructor parameters cannot be listed."""

    def __init__(self, *folds):
        self.folds = folds

    def split(self, X, y=None, groups=None):
        yield from ()

    def get_n_splits(self, X=None, y=None, groups=None):
        return len(self.folds)


class _Shadowed:
    """A class that its module no longer exposes under its own name."""


SHADOWED = _Shadowed
del _Shadowed

SS_CANONICAL = {
    "class": "sklearn.preprocessing.StandardScaler",
    "params": {"copy": True, "with_mean": True, "with_std": True},
}
SER_PATH = f"{SerTestScaler.__module__}.SerTestScaler"


@pytest.mark.parametrize(
    "form",
    [
        SerTestScaler(),
        SerTestScaler,
        "SerTestScaler",
        SER_PATH,
        f"{SerTestScaler.__module__}:SerTestScaler",
        {"class": "SerTestScaler"},
        {"class": SER_PATH, "params": {}},
        {"class": SerTestScaler, "params": {"factor": 1.0}},
    ],
    ids=[
        "instance",
        "class",
        "short_name",
        "path",
        "colon_path",
        "mapping",
        "mapping_params",
        "mapping_class",
    ],
)
def test_every_way_of_writing_an_operator_gives_one_form(form):
    assert to_canonical(form) == {"class": SER_PATH, "params": {"center": True, "factor": 1.0}}


def test_every_constructor_parameter_is_explicit_and_the_path_is_public():
    canonical = to_canonical(PLSRegression(n_components=3))
    assert canonical["class"] == "sklearn.cross_decomposition.PLSRegression"
    assert canonical["params"] == {**PLSRegression().get_params(), "n_components": 3}
    assert to_canonical("sklearn.preprocessing.StandardScaler") == SS_CANONICAL
    assert to_canonical({"class": "sklearn.preprocessing._data.StandardScaler"}) == SS_CANONICAL
    assert public_path(KFold) == "sklearn.model_selection.KFold"
    assert public_path(np.log1p) == "numpy.log1p"


def test_numpy_values_become_json():
    canonical = to_canonical(
        {
            "class": "SerTestScaler",
            "params": {"factor": np.array([[1, 2], [3, 4]], dtype=np.int32), "center": np.bool_(False)},
        }
    )
    assert canonical["params"] == {"center": False, "factor": [[1, 2], [3, 4]]}
    assert type(canonical["params"]["center"]) is bool
    scalar = to_canonical(SerTestScaler(factor=np.float64(0.1)))["params"]["factor"]
    assert type(scalar) is float and scalar == 0.1
    assert to_canonical(SerTestScaler(factor=np.int64(3)))["params"]["factor"] == 3
    assert to_canonical(SerTestScaler(factor=(1, 2.5)))["params"]["factor"] == [1, 2.5]


def test_nested_estimators_serialise_recursively():
    canonical = to_canonical(Pipeline([("scale", StandardScaler()), ("pls", PLSRegression(4))]))
    assert canonical["class"] == "sklearn.pipeline.Pipeline"
    assert canonical["params"]["steps"][0] == ["scale", SS_CANONICAL]
    assert canonical["params"]["steps"][1][1]["params"]["n_components"] == 4
    bag = to_canonical(BaggingRegressor(estimator=PLSRegression(2), n_estimators=3))
    assert bag["params"]["estimator"]["class"] == "sklearn.cross_decomposition.PLSRegression"
    func = to_canonical(FunctionTransformer(func=np.log1p, inverse_func=np.expm1))
    assert func["params"]["func"] == {"callable": "numpy.log1p"}
    assert func["params"]["inverse_func"] == {"callable": "numpy.expm1"}


ROUND_TRIP = [
    StandardScaler(with_std=False),
    MinMaxScaler(feature_range=(0, 2)),
    PLSRegression(n_components=5, scale=False),
    PCA(n_components=0.95, svd_solver="full"),
    Pipeline([("scale", StandardScaler()), ("pls", PLSRegression(4))]),
    FeatureUnion([("a", StandardScaler()), ("b", MinMaxScaler())]),
    BaggingRegressor(estimator=Ridge(alpha=0.5), n_estimators=3, random_state=1),
    TransformedTargetRegressor(regressor=PLSRegression(3), transformer=StandardScaler()),
    FunctionTransformer(func=np.log1p, inverse_func=np.expm1),
    KFold(5, shuffle=True, random_state=0),
    ShuffleSplit(n_splits=3, test_size=0.25, random_state=2),
    LeaveOneOut(),
    PredefinedSplit([0, 1, 0, 1, -1]),
    SerTestScaler(factor=np.float64(2.5), center=False),
    {"model": PLSRegression(3), "name": "pls3"},
    {"y_processing": [MinMaxScaler(), None, [StandardScaler()]]},
    {"split": KFold(3)},
    {"branch": [[StandardScaler(), PLSRegression(2)], MinMaxScaler(), []]},
    {"branch": {"snv": [SerTestScaler()], "raw": None}},
    {"feature_augmentation": [StandardScaler(), [MinMaxScaler(), SerTestScaler()]], "action": "extend"},
    {"sample_augmentation": [SerTestScaler(factor=1.01)], "count": 2},
    {"merge": "predictions"},
    {"stack": Ridge(alpha=1.0), "passthrough": False},
    [StandardScaler(), [MinMaxScaler(), None], {"model": PLSRegression(2)}],
]


@pytest.mark.parametrize(
    "obj", ROUND_TRIP, ids=lambda o: type(o).__name__ if not isinstance(o, dict) else next(iter(o))
)
def test_live_to_canonical_to_live_is_a_fixed_point(obj):
    canonical = to_canonical(obj)
    text = canonical_json(canonical)
    assert json.loads(text) == canonical  # plain JSON
    live = from_canonical(json.loads(text))
    assert to_canonical(live) == canonical
    assert canonical_json(to_canonical(live)) == text


def test_rebuilt_objects_work():
    X = np.random.default_rng(0).normal(size=(12, 4))
    y = X[:, 0] * 2.0
    for obj in (
        MinMaxScaler(feature_range=(0, 2)),
        Pipeline([("s", StandardScaler()), ("p", PLSRegression(2))]),
    ):
        live = from_canonical(to_canonical(obj))
        assert type(live) is type(obj)
        np.testing.assert_allclose(
            live.fit(X, y).predict(X) if hasattr(live, "predict") else live.fit_transform(X),
            obj.fit(X, y).predict(X) if hasattr(obj, "predict") else obj.fit_transform(X),
        )
    rebuilt = from_canonical(to_canonical(MinMaxScaler(feature_range=(0, 2))))
    assert rebuilt.feature_range == (0, 2)  # a tuple again: scikit-learn's validation wants one
    assert from_canonical(to_canonical(FunctionTransformer(func=np.log1p))).func is np.log1p
    step = from_canonical(to_canonical({"y_processing": MinMaxScaler()}))
    assert isinstance(step["y_processing"][0], MinMaxScaler)


def test_keyword_step_canonical_shapes():
    assert to_canonical({"model": "sklearn.preprocessing.StandardScaler"}) == {"model": SS_CANONICAL}
    assert to_canonical({"y_processing": StandardScaler()}) == {"y_processing": [SS_CANONICAL]}
    assert to_canonical({"feature_augmentation": StandardScaler()}) == {
        "feature_augmentation": [[SS_CANONICAL]]
    }
    assert to_canonical({"feature_augmentation": [StandardScaler(), [StandardScaler(), None]]}) == {
        "feature_augmentation": [[SS_CANONICAL], [SS_CANONICAL]]
    }
    assert to_canonical({"branch": [StandardScaler(), []]}) == {"branch": [[SS_CANONICAL], []]}
    assert to_canonical({"branch": {"b": StandardScaler(), "a": None}}) == {
        "branch": {"a": [], "b": [SS_CANONICAL]}
    }
    assert to_canonical({"branch": {"class": "sklearn.preprocessing.StandardScaler"}}) == {
        "branch": [[SS_CANONICAL]]
    }
    assert to_canonical({"merge": {"mode": "predictions", "weights": np.array([0.5, 0.5])}}) == {
        "merge": {"mode": "predictions", "weights": [0.5, 0.5]}
    }
    assert to_canonical({"model": StandardScaler(), "name": "x"}) == {"model": SS_CANONICAL, "name": "x"}
    assert to_canonical([StandardScaler(), [None, [StandardScaler()]]]) == [SS_CANONICAL, SS_CANONICAL]


def test_canonicalize_in_each_context():
    assert canonicalize("sklearn.preprocessing.StandardScaler", Context.CHAIN) == [SS_CANONICAL]
    assert canonicalize(None, Context.CHAIN) == []
    assert canonicalize(StandardScaler(), Context.OPERATOR) == SS_CANONICAL
    assert canonicalize(StandardScaler(), Context.CHAINS) == [[SS_CANONICAL]]
    assert canonicalize("features", Context.VALUE) == "features"
    assert canonicalize({"class": "sklearn.preprocessing.StandardScaler"}, Context.VALUE) == SS_CANONICAL


def test_canonical_json_is_sorted_compact_and_stable():
    a = {"b": 1, "a": [0.1, 1e-06, 1.0, 1e20, -0.0], "c": {"y": None, "x": True}, "é": "ü"}
    b = {"é": "ü", "c": {"x": True, "y": None}, "a": [0.1, 1e-06, 1.0, 1e20, -0.0], "b": 1}
    text = canonical_json(a)
    assert text == '{"a":[0.1,1e-06,1.0,1e+20,-0.0],"b":1,"c":{"x":true,"y":null},"é":"ü"}'
    assert canonical_json(b) == text
    assert canonical_json({"v": np.float64(0.1), "w": np.arange(2)}) == '{"v":0.1,"w":[0,1]}'
    assert canonical_json([float("nan"), float("inf")]) == "[NaN,Infinity]"
    assert config_hash(a) == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert config_hash(a) == config_hash(b)
    assert config_hash({"x": 1}) != config_hash({"x": 1.0})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ("NoSuchOperatorAbc", r"^step: operator registry: unknown operator 'NoSuchOperatorAbc'"),
        (
            {"class": "SerTestScaler", "params": {"facter": 2}},
            r"step\.params: SerTestScaler has no parameter 'facter'; its parameters are factor, center\. Did you mean 'factor'\?",
        ),
        (
            {"class": "SerTestScaler", "params": [1]},
            r"step\.params: expected a mapping of parameter names to values; got \[1\]",
        ),
        ({"class": "SerTestScaler", "params": {1: 2}}, r"step\.params: parameter names must be strings"),
        (
            {"class": "SerTestScaler", "extra": 1},
            r"step: an operator mapping holds only 'class' and 'params'; got also 'extra'",
        ),
        ({"class": 5}, r"step\.class: expected an operator name or class path; got 5"),
        (SerTestScaler(factor=lambda x: x), r"step\.params\.factor: cannot name <function"),
        (
            SerTestScaler(factor=np.random.RandomState(0)),
            r"step\.params\.factor: cannot serialise RandomState",
        ),
        (SerTestScaler(factor={1: "a"}), r"step\.params\.factor: mapping keys must be strings"),
        (
            SerTestScaler(factor=np.array(["a", None], dtype=object)),
            r"step\.params\.factor: cannot serialise an array of dtype object",
        ),
        (
            SerTestScaler(factor={"callable": "numpy.no_such_function"}),
            r"step\.params\.factor: cannot import callable 'numpy\.no_such_function'",
        ),
        (
            {"model": StandardScaler(), "split": KFold()},
            r"step: a step holds one keyword; got 'model', 'split'",
        ),
        ({"modle": StandardScaler()}, r"step: expected a step: an operator name, .* got keys \['modle'\]"),
        ({"model": [StandardScaler()]}, r"step\.model: expected an operator .*got \[StandardScaler\(\)\]"),
        ({"model": {"split": KFold()}}, r"step\.model: expected an operator; got a 'split' step"),
        ({"branch": []}, r"step\.branch: expected at least one alternative; got an empty list"),
        ({"branch": {}}, r"step\.branch: expected at least one branch; got an empty mapping"),
        ({"model": StandardScaler(), 3: "x"}, r"step: step keys must be strings"),
        (None, r"step: expected one step; got None"),
        (RenamingSplitter(), r"step: RenamingSplitter does not store its constructor parameter\(s\) folds"),
        (object(), r"step: expected an operator .*got <object object"),
        (
            VarArgsSplitter(5),
            r"step: cannot list the constructor parameters of VarArgsSplitter \(no get_params\)",
        ),
        ({"branch": {1: [StandardScaler()]}}, r"step\.branch: branch names must be strings; got \[1\]"),
        (
            SerTestScaler(factor={"callable": 5}),
            r"step\.params\.factor: expected \{'callable': 'module\.name'\}; got 5",
        ),
    ],
)
def test_errors_name_the_path(obj, message):
    with pytest.raises(ConfigError, match=message):
        to_canonical(obj)


def test_errors_inside_lists_and_decoding(monkeypatch):
    monkeypatch.setenv("NIRS_ALLOWED_MODULES", "no_module_here")  # allowed, but it does not exist
    with pytest.raises(
        ConfigError, match=r"steps\[1\]\[0\]\.model\.params: PLSRegression has no parameter 'ncomp'"
    ):
        to_canonical([StandardScaler(), [{"model": {"class": PLSRegression, "params": {"ncomp": 2}}}]])
    with pytest.raises(ConfigError, match=r"steps\[0\]\.class: operator registry: unknown operator 'Nope'"):
        from_canonical([{"class": "Nope", "params": {}}])
    with pytest.raises(ConfigError, match=r"step\.params\.func: cannot import callable 'no_module_here\.f'"):
        from_canonical(
            {
                "class": "sklearn.preprocessing.FunctionTransformer",
                "params": {"func": {"callable": "no_module_here.f"}},
            }
        )
    with pytest.raises(ConfigError, match=r"step\.params: expected a mapping; got 3"):
        from_canonical({"class": "sklearn.preprocessing.StandardScaler", "params": 3})
    to_canonical({"class": StrictInit, "params": {"size": -2}})  # not constructed: no error yet
    with pytest.raises(ConfigError, match=r"step: StrictInit\(\*\*\{'size': -2\}\) failed"):
        from_canonical({"class": f"{StrictInit.__module__}.StrictInit", "params": {"size": -2}})
    with pytest.raises(
        ConfigError, match=r"canonical_json: object .* is not JSON; pass it through to_canonical first"
    ):
        canonical_json({"x": object()})
    with pytest.raises(ConfigError, match=r"cannot name .* by an importable path"):
        public_path(lambda: 0)


def test_classes_that_cannot_be_named():
    class Local(BaseEstimator):
        pass

    with pytest.raises(ConfigError, match=r"^step: cannot name <class .*Local'> by an importable path"):
        to_canonical(Local())
    with pytest.raises(ConfigError, match=r"test_serialize\._Shadowed does not import back"):
        public_path(SHADOWED)


def test_a_class_given_as_a_callable_reference():
    assert to_canonical({"class": {"callable": "sklearn.preprocessing.StandardScaler"}}) == SS_CANONICAL
