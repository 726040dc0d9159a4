"""Template expansion: counts against hand-computed numbers, determinism across processes,
the generator semantics the docs promise, and one ConfigError test per way a template fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.cross_decomposition import PLSRegression
from sklearn.model_selection import KFold
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from nirs_core.errors import ConfigError
from nirs_core.pipeline.generators import (
    DEFAULT_MAX_CONFIGS,
    ID_LENGTH,
    PipelineConfig,
    count,
    expand,
    load_template,
    template_id,
    template_to_json,
)
from nirs_core.pipeline.serialize import config_hash
from nirs_core.registry import register

REPO = Path(__file__).resolve().parents[2]


@register("GenTestSmoother")
class GenTestSmoother(TransformerMixin, BaseEstimator):
    """Test-only transformer with two parameters to sweep."""

    def __init__(self, window=5, order=2):
        self.window = window
        self.order = order

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


@register("GenTestModel")
class GenTestModel(RegressorMixin, BaseEstimator):
    """Test-only model with two parameters to sweep."""

    def __init__(self, n_components=2, alpha=1.0):
        self.n_components = n_components
        self.alpha = alpha

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(len(X))


SS = "sklearn.preprocessing.StandardScaler"
MM = "sklearn.preprocessing.MinMaxScaler"
MA = "sklearn.preprocessing.MaxAbsScaler"
PLS = "sklearn.cross_decomposition.PLSRegression"
RIDGE = "sklearn.linear_model.Ridge"
SM = "GenTestSmoother"
GM = "GenTestModel"
KF = {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 5, "shuffle": True, "random_state": 0}}
MODEL = {"model": {"class": PLS, "params": {"n_components": 2}}}


def sm(**params):
    return {"class": SM, "params": params}


# (id, template, expected count computed by hand)
CORPUS = [
    ("plain", [SS, MODEL], 1),
    ("or3", [{"_or_": [SS, MM, MA]}, MODEL], 3),
    (
        "issue_example_standins",
        {
            "name": "sweep",
            "pipeline": [
                {"split": KF},
                {"_or_": [SS, sm(window=15, order=2), MA]},
                {
                    "model": {"class": PLS, "params": {"scale": False}},
                    "param": "n_components",
                    "_range_": [2, 20, 3],
                },
            ],
        },
        3 * 7,
    ),
    ("or_one_two_or_no_steps", [{"_or_": [SS, [SS, MM], None]}, MODEL], 3),
    ("pick2_of4", [{"_or_": [SS, MM, MA, SM], "pick": 2}, MODEL], 6),
    ("pick_0_to_2_of3", [{"_or_": [SS, MM, MA], "pick": [0, 2]}, MODEL], 1 + 3 + 3),
    ("arrange2_of3", [{"_or_": [SS, MM, MA], "arrange": 2}, MODEL], 6),
    ("pick_range_count", [{"_or_": [SS, MM, MA, SM], "pick": [1, 3], "count": 5}, MODEL], 5),
    ("or_in_or", [{"_or_": [SS, {"_or_": [MM, MA]}, [SM, {"_or_": [SS, MM]}]]}, MODEL], 1 + 2 + 2),
    ("generators_in_params", [sm(window={"_range_": [5, 15, 5]}, order={"_or_": [1, 2]}), MODEL], 3 * 2),
    (
        "grid_as_params",
        [{"class": SM, "params": {"_grid_": {"window": [5, 7, 9], "order": [1, 2]}}}, MODEL],
        6,
    ),
    (
        "grid_in_or",
        [{"_or_": [SS, {"class": SM, "params": {"_grid_": {"window": [5, 7], "order": [1, 2]}}}]}, MODEL],
        5,
    ),
    (
        "model_grid_with_generator_axes",
        [
            SS,
            {
                "model": GM,
                "_grid_": {"n_components": {"_range_": [1, 4, 1]}, "alpha": {"_log_range_": [0.01, 1, 3]}},
            },
        ],
        4 * 3,
    ),
    ("model_or_param", [SS, {"model": PLS, "param": "n_components", "_or_": [1, 3, 5]}], 3),
    (
        "model_is_a_generator_too",
        [SS, {"model": {"_or_": [PLS, {"class": GM}]}, "param": "n_components", "_range_": [2, 4, 1]}],
        3 * 2,
    ),
    ("branch_list", [{"branch": [[SS, MODEL], [{"_or_": [MM, MA]}, MODEL]]}], 2),
    (
        "branch_named_then_merge",
        [{"branch": {"a": [SS], "b": [sm(window={"_or_": [5, 9]})]}}, {"merge": "features"}, MODEL],
        2,
    ),
    ("branches_picked", [{"branch": {"_or_": [SS, MM, MA, [SS, SM]], "pick": 2}}, MODEL], 6),
    (
        "feature_augmentation_pick_count",
        [{"feature_augmentation": {"_or_": [SS, MM, MA], "pick": [1, 2], "count": 4}}, MODEL],
        4,
    ),
    ("y_processing_or", [{"y_processing": {"_or_": [MM, SS, None]}}, SS, MODEL], 3),
    (
        "pick_expanding_alternatives",
        [{"_or_": [sm(window={"_or_": [5, 7]}), SS, {"_or_": [MM, MA]}], "pick": 2}, MODEL],
        2 * 1 + 2 * 2 + 1 * 2,
    ),
    (
        "arrange_expanding_alternatives",
        [{"_or_": [sm(window={"_or_": [5, 7]}), SS, {"_or_": [MM, MA]}], "arrange": 2}, MODEL],
        2 * 8,
    ),
    ("whole_pipeline_or", {"pipeline": {"_or_": [[SS, MODEL], [MM, {"model": RIDGE}]]}}, 2),
    (
        "log_range_count_in_params",
        [SS, {"model": {"class": RIDGE, "params": {"alpha": {"_log_range_": [0.001, 10, 5], "count": 3}}}}],
        3,
    ),
    ("float_range", [sm(window={"_range_": [0.5, 2.0, 0.5]}), MODEL], 4),
    (
        "or_inside_value_list",
        [{"class": MM, "params": {"feature_range": [0, {"_or_": [1, 2, 3]}]}}, MODEL],
        3,
    ),
    ("pick_in_value", [sm(window={"_or_": [3, 5, 7], "pick": 2}), MODEL], 3),
    ("param_without_model", [{"class": SM, "params": {"_range_": [3, 7, 2], "param": "window"}}, MODEL], 3),
    (
        "sample_augmentation_with_option",
        [{"sample_augmentation": [{"_or_": [SS, MM]}, SM], "count": 2}, MODEL],
        2,
    ),
    (
        "deep_or_grid_or_in_branch",
        [
            {
                "branch": [
                    [
                        {
                            "_or_": [
                                SS,
                                {
                                    "class": SM,
                                    "params": {"_grid_": {"window": [{"_or_": [3, 5]}, 9], "order": [1]}},
                                },
                            ]
                        }
                    ],
                    [MA],
                ]
            },
            MODEL,
        ],
        1 + 3,
    ),
    (
        "two_independent_sweeps",
        [
            {"_or_": [SS, MM], "pick": [0, 1]},
            sm(window={"_range_": {"from": 3, "to": 11, "step": 4}}),
            {"model": GM, "param": "alpha", "_log_range_": {"from": 0.1, "to": 10, "num": 3}},
        ],
        3 * 3 * 3,
    ),
]
CORPUS_IDS = [c[0] for c in CORPUS]


def _signature(configs):
    return [[c.id, c.name, c.choices] for c in configs]


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize(("template", "expected"), [c[1:] for c in CORPUS], ids=CORPUS_IDS)
def test_count_equals_len_expand(template, expected):
    configs = expand(template)
    assert count(template) == expected
    assert len(configs) == expected
    assert [c.index for c in configs] == list(range(expected))
    assert len({c.id for c in configs}) == expected


def test_corpus_is_large_and_nested():
    assert len(CORPUS) >= 20


def test_count_does_not_expand_a_huge_template():
    template = [
        {"_or_": [SS, MM, MA, SM, RIDGE] * 8, "pick": [0, 20]},
        {"class": SM, "params": {"window": {"_range_": [1, 10**6, 1]}}},
    ]
    # sum_{k<=20} C(40, k) * 10**6, far too many to expand
    from math import comb

    assert count(template) == sum(comb(40, k) for k in range(21)) * 10**6


def test_max_configs_is_checked_before_expanding():
    template = [sm(window={"_range_": [1, 10**9, 1]}), MODEL]
    with pytest.raises(
        ConfigError, match=r"steps: the template expands to 1000000000 configs, more than max_configs=10000"
    ):
        expand(template)
    assert DEFAULT_MAX_CONFIGS == 10_000
    assert len(expand([sm(window={"_range_": [1, 10**9, 1], "count": 3}), MODEL])) == 3


# --------------------------------------------------------------------------- determinism


def test_expansion_is_stable_across_processes_and_hash_seeds():
    module = sys.modules[__name__]
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location({module.__name__!r}, {str(Path(__file__))!r})\n"
        "mod = importlib.util.module_from_spec(spec)\n"
        f"sys.modules[{module.__name__!r}] = mod\n"
        "spec.loader.exec_module(mod)\n"
        "from nirs_core.pipeline.generators import expand\n"
        "print(json.dumps([[[c.id, c.name, c.choices] for c in expand(t)] for _, t, _ in mod.CORPUS]))\n"
    )
    outputs = []
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    here = json.loads(json.dumps([_signature(expand(t)) for _, t, _ in CORPUS]))
    assert outputs[0] == here


def test_dict_order_does_not_change_order_or_ids():
    a = [{"class": SM, "params": {"_grid_": {"window": [5, 7], "order": [1, 2]}}}, MODEL]
    b = [{"params": {"_grid_": {"order": [1, 2], "window": [5, 7]}}, "class": SM}, MODEL]
    assert _signature(expand(a)) == _signature(expand(b))
    assert template_id(a) == template_id(b)
    # the grid's names in sorted order, the last varying fastest, as ParameterGrid
    windows_orders = [(c.steps[0]["params"]["order"], c.steps[0]["params"]["window"]) for c in expand(a)]
    assert windows_orders == [(1, 5), (1, 7), (2, 5), (2, 7)]


def test_ids_are_hashes_of_the_canonical_steps_and_names_are_readable():
    for _, template, _ in CORPUS:
        tid = template_id(template)
        for config in expand(template):
            assert config.id == config_hash(config.steps)[:ID_LENGTH]
            assert re.fullmatch(r"\d{4}_[A-Za-z0-9_.+-]*_[0-9a-f]{8}", config.name), config.name
            assert config.name.startswith(f"{config.index:04d}_") and config.name.endswith(config.id)
            assert config.template_id == tid


def test_the_same_pipeline_has_the_same_id_from_any_template():
    alone = expand([MM, MODEL])[0]
    among = expand([{"_or_": [SS, MM]}, MODEL])[1]
    assert alone.id == among.id and alone.steps == among.steps


# --------------------------------------------------------------------------- semantics


def _param_values(template, param="window"):
    return [c.steps[0]["params"][param] for c in expand(template)]


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ([5, 15, 5], [5, 10, 15]),
        ([2, 20, 3], [2, 5, 8, 11, 14, 17, 20]),
        ([1, 10, 4], [1, 5, 9]),
        ([3, 3, 1], [3]),
        ([3, 6], [3, 4, 5, 6]),
        ({"from": 5, "to": 15, "step": 5}, [5, 10, 15]),
        ({"from": 1, "to": 3}, [1, 2, 3]),
        ([0.1, 0.5, 0.1], [0.1, 0.2, 0.3, 0.4, 0.5]),
        ([0, 1, 0.25], [0.0, 0.25, 0.5, 0.75, 1.0]),
    ],
)
def test_range_includes_stop(spec, values):
    got = _param_values([sm(window={"_range_": spec}), MODEL])
    assert got == values
    assert [type(v) for v in got] == [type(v) for v in values]


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ([0.001, 1, 4], [0.001, 0.01, 0.1, 1.0]),
        ([1, 100, 3], [1.0, 10.0, 100.0]),
        ({"from": 2, "to": 2, "num": 1}, [2.0]),
        ([1, 1000, 7], [1.0, 3.16227766017, 10.0, 31.6227766017, 100.0, 316.227766017, 1000.0]),
    ],
)
def test_log_range(spec, values):
    got = _param_values([sm(window={"_log_range_": spec}), MODEL])
    assert got == values
    np.testing.assert_allclose(got, np.geomspace(values[0], values[-1], len(values)), rtol=1e-11)


def test_a_generator_in_a_step_list_makes_one_step_several_steps_or_none():
    configs = expand([{"_or_": [SS, [SS, MM], None, [MA, None, [SS]]]}, MODEL])
    classes = [[s.get("class", "model") for s in c.steps] for c in configs]
    assert classes == [
        ["sklearn.preprocessing.StandardScaler", "model"],
        ["sklearn.preprocessing.StandardScaler", "sklearn.preprocessing.MinMaxScaler", "model"],
        ["model"],
        ["sklearn.preprocessing.MaxAbsScaler", "sklearn.preprocessing.StandardScaler", "model"],
    ]


def test_pick_and_arrange_orders():
    def names(template):
        return [[s["class"].rsplit(".", 1)[1] for s in c.steps[:-1]] for c in expand(template)]

    assert names([{"_or_": [SS, MM, MA], "pick": 2}, MODEL]) == [
        ["StandardScaler", "MinMaxScaler"],
        ["StandardScaler", "MaxAbsScaler"],
        ["MinMaxScaler", "MaxAbsScaler"],
    ]
    assert names([{"_or_": [SS, MM], "arrange": 2}, MODEL]) == [
        ["StandardScaler", "MinMaxScaler"],
        ["MinMaxScaler", "StandardScaler"],
    ]
    assert names([{"_or_": [SS, MM, MA], "pick": [0, 1], "count": 3}, MODEL]) == [
        [],
        ["StandardScaler"],
        ["MinMaxScaler"],
    ]


def test_pick_in_a_value_makes_a_list_and_in_augmentation_makes_alternatives():
    assert _param_values([sm(window={"_or_": [3, 5, 7], "pick": 2}), MODEL]) == [[3, 5], [3, 7], [5, 7]]
    configs = expand([{"feature_augmentation": {"_or_": [SS, MM, [MA, SS]], "pick": 2}}, MODEL])
    shapes = [[len(chain) for chain in c.steps[0]["feature_augmentation"]] for c in configs]
    assert shapes == [[1, 1], [1, 2], [1, 2]]


def test_model_sweep_builds_model_steps():
    configs = expand(
        [
            SS,
            {
                "model": {"class": PLS, "params": {"scale": False}},
                "param": "n_components",
                "_range_": [2, 6, 2],
            },
        ]
    )
    models = [c.steps[1]["model"] for c in configs]
    assert [m["params"]["n_components"] for m in models] == [2, 4, 6]
    assert all(
        m["params"]["scale"] is False and m["class"] == "sklearn.cross_decomposition.PLSRegression"
        for m in models
    )
    assert set(models[0]["params"]) == set(PLSRegression().get_params())


def test_choices_are_recorded_with_template_paths():
    template = {
        "pipeline": [
            {"_or_": [SS, sm(window={"_range_": [3, 7, 4]})]},
            {"model": GM, "param": "alpha", "_or_": [0.1, 1.0]},
        ]
    }
    configs = expand(template)
    assert len(configs) == 6
    assert configs[0].choices == [
        {
            "generator": "_or_",
            "index": 0,
            "path": "pipeline[0]._or_",
            "value": [expand([SS, MODEL])[0].steps[0]],
        },
        {"generator": "_or_", "index": 0, "param": "alpha", "path": "pipeline[1]._or_", "value": 0.1},
    ]
    nested = configs[5].choices
    assert [(c["path"], c["index"], c["value"]) for c in nested[1:]] == [
        ("pipeline[0]._or_[1].params.window._range_", 1, 7),
        ("pipeline[1]._or_", 1, 1.0),
    ]
    assert nested[0]["path"] == "pipeline[0]._or_" and nested[0]["index"] == 1
    picked = expand([{"_or_": [SS, MM, MA], "pick": 2}, MODEL])[2].choices
    assert picked[0]["index"] == [1, 2] and len(picked[0]["value"]) == 2
    grid = expand([{"class": SM, "params": {"_grid_": {"window": [5, 7], "order": [1, 2]}}}, MODEL])[
        3
    ].choices
    assert grid == [
        {
            "generator": "_grid_",
            "index": 3,
            "path": "steps[0].params._grid_",
            "value": {"order": 2, "window": 7},
        }
    ]


def test_names_show_short_names_and_swept_parameters():
    configs = expand([{"_or_": [SS, SM]}, {"model": GM, "param": "n_components", "_range_": [2, 4, 2]}])
    assert [c.name.rsplit("_", 1)[0] for c in configs] == [
        "0000_StandardScaler_GenTestModel-nc2",
        "0001_StandardScaler_GenTestModel-nc4",
        "0002_GenTestSmoother_GenTestModel-nc2",
        "0003_GenTestSmoother_GenTestModel-nc4",
    ]
    long = expand([SS, MM, SS, MM, {"_or_": [SM, MM]}, {"model": GM, "param": "alpha", "_or_": [0.5, 2.0]}])
    assert long[3].name.split("_")[1:-1] == ["SS", "MMS", "SS", "MMS", "MMS", "GTM-alpha2"]
    branched = expand([{"branch": [[SS], [MM, MA], []]}, {"split": KF}, {"model": PLS}])[0]
    assert branched.name.split("_")[1:3] == ["StandardScaler+MinMaxScaler.MaxAbsScaler+id", "PLS"]


def test_live_objects_in_a_python_template():
    template = [
        {"split": KFold(5, shuffle=True, random_state=0)},
        {"_or_": [StandardScaler(), MinMaxScaler(feature_range=(0, 2)), GenTestSmoother]},
        {"model": PLSRegression(scale=False), "param": "n_components", "_range_": [2, 4, 2]},
    ]
    configs = expand(template)
    assert len(configs) == count(template) == 6
    as_json = template_to_json(template)
    json.dumps(as_json)  # plain JSON
    assert _signature(expand(as_json)) == _signature(configs)
    assert template_id(as_json) == template_id(template)


def test_issue_example_with_sklearn_stand_ins():
    template = {
        "pipeline": [
            {
                "split": {
                    "class": "sklearn.model_selection.KFold",
                    "params": {"n_splits": 5, "shuffle": True, "random_state": 0},
                }
            },
            {
                "_or_": [
                    SS,
                    {"class": "sklearn.preprocessing.MinMaxScaler", "params": {"feature_range": [0, 2]}},
                    MA,
                ]
            },
            {
                "model": {"class": PLS, "params": {"scale": False}},
                "param": "n_components",
                "_range_": [2, 20, 3],
            },
        ]
    }
    configs = expand(template)
    assert count(template) == len(configs) == 21
    sizes = [c.steps[2]["model"]["params"]["n_components"] for c in configs]
    assert sizes == [2, 5, 8, 11, 14, 17, 20] * 3
    assert all(
        c.steps[0]["split"]["params"] == {"n_splits": 5, "random_state": 0, "shuffle": True} for c in configs
    )
    assert [c.choices[0]["index"] for c in configs] == [0] * 7 + [1] * 7 + [2] * 7
    assert configs[3].name.startswith("0003_StandardScaler_PLS-nc11_")


def _require_registered(*names):
    """The short names the example template uses must resolve (a ConfigError fails the test)."""
    from nirs_core.registry import resolve

    for name in names:
        resolve(name)


def test_example_template_counts_without_the_registry():
    loaded = load_template(REPO / "examples" / "corn_pls_sweep.yaml")
    assert count(loaded.data, source=loaded.path) == 21


def test_example_template_with_short_names():
    _require_registered("SNV", "SavitzkyGolay", "MSC", "PLS")
    loaded = load_template(REPO / "examples" / "corn_pls_sweep.yaml")
    configs = expand(loaded.data, source=loaded.path)
    assert len(configs) == 21
    sg = configs[7].steps[1]
    assert (
        sg["params"]["window_length"] == 15 and sg["params"]["polyorder"] == 2 and sg["params"]["deriv"] == 1
    )
    assert [c.steps[2]["model"]["params"]["n_components"] for c in configs[:7]] == [2, 5, 8, 11, 14, 17, 20]
    assert all(c.steps[2]["model"]["params"]["scale"] is False for c in configs)
    assert re.fullmatch(r"0003_SNV_PLS-nc11_[0-9a-f]{8}", configs[3].name)


# --------------------------------------------------------------------------- configs


def test_pipeline_config_dict_round_trip():
    config = expand([{"_or_": [SS, MM]}, {"model": PLS, "param": "n_components", "_range_": [2, 4, 2]}])[3]
    data = config.to_dict()
    assert list(data) == ["index", "id", "name", "template_id", "choices", "steps"]
    again = PipelineConfig.from_dict(yaml.safe_load(yaml.safe_dump(data)))
    assert again == config
    data["steps"][1]["model"]["params"]["n_components"] = 3
    with pytest.raises(ConfigError, match=r"id '[0-9a-f]{8}' does not match its steps"):
        PipelineConfig.from_dict(data)
    with pytest.raises(ConfigError, match=r"pipeline config: missing key\(s\) choices"):
        PipelineConfig.from_dict({k: v for k, v in data.items() if k != "choices"})
    live = config.build()
    assert isinstance(live[0], MinMaxScaler) and live[1]["model"].n_components == 4
    assert config.canonical_json() == json.dumps(config.steps, sort_keys=True, separators=(",", ":"))
    with pytest.raises(AttributeError):
        config.id = "x"


# --------------------------------------------------------------------------- errors


def _range_step(spec):
    return [SS, {"model": PLS, "param": "n_components", "_range_": spec}]


STRUCTURE_ERRORS = [
    (
        _range_step([5, 15, 0]),
        r"^templates/pls\.yaml: steps\[1\]\._range_: expected \[start, stop, step\] with step > 0; got \[5, 15, 0\]\.$",
    ),
    (_range_step([5, 15, -1]), r"steps\[1\]\._range_: expected \[start, stop, step\] with step > 0"),
    (
        _range_step([15, 5, 1]),
        r"steps\[1\]\._range_: expected \[start, stop, step\] with start <= stop; got \[15, 5, 1\]",
    ),
    (_range_step([1, "a", 1]), r"steps\[1\]\._range_: .*all numbers; got \[1, 'a', 1\]"),
    (_range_step([1]), r"steps\[1\]\._range_: expected \[start, stop, step\] with step > 0; got \[1\]"),
    (_range_step({"from": 1, "upto": 3}), r"steps\[1\]\._range_: expected .* or \{from, to, step\}"),
    (_range_step([1, 2, float("nan")]), r"steps\[1\]\._range_: .*all numbers"),
    (
        [sm(window={"_log_range_": [0, 1, 3]}), MODEL],
        r"steps\[0\]\.params\.window\._log_range_: expected \[start, stop, num\] with 0 < start",
    ),
    ([sm(window={"_log_range_": [1, 10, 2.5]}), MODEL], r"steps\[0\]\.params\.window\._log_range_: expected"),
    ([{"_or_": []}, MODEL], r"steps\[0\]\._or_: expected a non-empty list of alternatives; got \[\]"),
    ([{"_or_": SS}, MODEL], r"steps\[0\]\._or_: expected a non-empty list of alternatives"),
    (
        [{"_or_": [SS, MM], "pick": 3}, MODEL],
        r"steps\[0\]\.pick: pick=3 is larger than the number of alternatives \(2\)",
    ),
    (
        [{"_or_": [SS, MM], "pick": [1, 3]}, MODEL],
        r"steps\[0\]\.pick: pick=\[1, 3\] is larger than the number of alternatives \(2\)",
    ),
    ([{"_or_": [SS, MM], "arrange": 3}, MODEL], r"steps\[0\]\.arrange: arrange=3 is larger"),
    ([{"_or_": [SS, MM], "pick": 0}, MODEL], r"steps\[0\]\.pick: expected an integer >= 1"),
    (
        [{"_or_": [SS, MM], "pick": [2, 1]}, MODEL],
        r"steps\[0\]\.pick: expected \[k1, k2\] with 0 <= k1 <= k2",
    ),
    ([{"_or_": [SS, MM], "pick": "two"}, MODEL], r"steps\[0\]\.pick: expected an integer k or a range"),
    (
        [{"_or_": [SS, MM], "pick": 1, "arrange": 1}, MODEL],
        r"steps\[0\]: 'pick' \(combinations\) and 'arrange'",
    ),
    (
        [sm(window={"_ranges_": [1, 3, 1]}), MODEL],
        r"steps\[0\]\.params\.window\._ranges_: unknown generator key '_ranges_'",
    ),
    (
        [{"branch": [[{"_cartesian_": [SS]}]]}],
        r"steps\[0\]\.branch\[0\]\[0\]\._cartesian_: unknown generator key",
    ),
    (
        [{"_or_": [SS], "_range_": [1, 2, 1]}, MODEL],
        r"steps\[0\]: one generator per mapping; got '_or_', '_range_'",
    ),
    ([{"_or_": [SS, MM], "window": 3}, MODEL], r"steps\[0\]: unexpected key 'window' beside '_or_'"),
    ([{"_or_": [SS, MM], "count": 0}, MODEL], r"steps\[0\]\.count: expected an integer >= 1; got 0"),
    ([{"_or_": [SS, MM], "count": -2}, MODEL], r"steps\[0\]\.count: expected an integer >= 1; got -2"),
    ([{"_or_": [SS, MM], "count": "3"}, MODEL], r"steps\[0\]\.count: expected an integer >= 1; got '3'"),
    ([{"_or_": [SS, MM], "count": True}, MODEL], r"steps\[0\]\.count: expected an integer >= 1; got True"),
    (
        [sm(window={"_range_": [1, 3, 1], "param": 7}), MODEL],
        r"steps\[0\]\.params\.window\.param: expected a parameter name",
    ),
    (
        [SS, {"model": PLS, "_range_": [1, 3, 1]}],
        r"steps\[1\]\._range_: a model sweep over numbers needs 'param'",
    ),
    (
        [{"class": SM, "params": {"window": {"model": PLS, "param": "n_components", "_or_": [1, 2]}}}],
        r"steps\[0\]\.params\.window\.model: a 'model' sweep makes a whole model step",
    ),
    ([SS, {"_range_": [1, 3, 1]}], r"steps\[1\]\._range_: generates numbers where a step is expected"),
    (
        [{"feature_augmentation": {"_grid_": {"a": [1]}}}],
        r"steps\[0\]\.feature_augmentation\._grid_: generates mappings of parameters where a list of chains",
    ),
    (
        [{"model": {"_or_": [PLS, RIDGE], "pick": 2}}],
        r"steps\[0\]\.model\.pick: 'pick' makes a list of alternatives, but here an operator is expected",
    ),
    ([{"model": [PLS, {"_or_": [PLS]}]}], r"steps\[0\]\.model: expected an operator; got a list"),
    (
        [{"class": SM, "params": {"_grid_": {"window": 5}}}],
        r"steps\[0\]\.params\._grid_\.window: expected a non-empty list of values or a generator; got 5",
    ),
    (
        [{"class": SM, "params": {"_grid_": {}}}],
        r"steps\[0\]\.params\._grid_: expected a mapping of names to lists",
    ),
    (
        [{"class": SM, "params": {"_grid_": {"window": []}}}],
        r"steps\[0\]\.params\._grid_\.window: expected a non-empty list",
    ),
    (
        [{"model": PLS, "extra": {"_or_": [1, 2]}, "split": KF}],
        r"steps\[0\]: a step holds one keyword; got 'model', 'split'",
    ),
    ([{"nonsense": {"_or_": [1, 2]}}], r"steps\[0\]: expected a step: an operator name"),
    ([], r"steps: a template needs at least one step; got \[\]\.$"),
    (
        {"pipeline": [SS], "steps": [SS]},
        r"template: expected exactly one of 'pipeline' or 'steps'; got 'pipeline', 'steps'",
    ),
    ({"pipeline": [SS], "metric": "rmse"}, r"template: unknown key 'metric'"),
    ({"name": 3, "pipeline": [SS]}, r"name: expected a string; got 3"),
    ("SNV", r"template: expected a list of steps or a mapping with 'pipeline'"),
    (
        [{"class": SM, "params": {"_grid_": {1: [2]}}}],
        r"steps\[0\]\.params\._grid_: grid names must be strings; got \[1\]",
    ),
    (
        [{"class": SM, "params": {"window": {"_or_": [1, 2]}, 3: 4}}],
        r"steps\[0\]\.params: keys must be strings; got \[3\]",
    ),
    (
        [{"model": {"split": {"_or_": [KF, KF]}}}],
        r"steps\[0\]\.model: expected an operator; got a 'split' step",
    ),
]


@pytest.mark.parametrize("function", [expand, count], ids=["expand", "count"])
@pytest.mark.parametrize(("template", "message"), STRUCTURE_ERRORS, ids=range(len(STRUCTURE_ERRORS)))
def test_malformed_templates_raise_config_error_naming_the_path(function, template, message):
    with pytest.raises(ConfigError, match=message):
        function(template, source="templates/pls.yaml")
    with pytest.raises(ConfigError, match=r"^templates/pls\.yaml: "):
        function(template, source="templates/pls.yaml")


RESOLUTION_ERRORS = [
    (
        [{"_or_": [SS, "NoSuchOperatorXyz"]}, MODEL],
        r"steps\[0\]\._or_\[1\]: operator registry: unknown operator 'NoSuchOperatorXyz'",
    ),
    (
        [{"_or_": [SS, "nirs_core.no_such_module.Thing"]}, MODEL],
        r"steps\[0\]\._or_\[1\]: operator registry: cannot import module",
    ),
    (
        [sm(windw={"_or_": [1, 2]}), MODEL],
        r"steps\[0\]\.params: GenTestSmoother has no parameter 'windw'; its parameters are window, order\. Did you mean 'window'\?",
    ),
    (
        [SS, {"model": "NoSuchModelXyz", "param": "n_components", "_range_": [1, 2, 1]}],
        r"steps\[1\]\.model.*unknown operator 'NoSuchModelXyz'",
    ),
    (
        [SS, {"model": PLS, "param": "n_comp", "_range_": [1, 2, 1]}],
        r"steps\[1\]\._range_\.params: PLSRegression has no parameter 'n_comp'.*Did you mean 'n_components'",
    ),
    ([{"_or_": [SS, 5]}, MODEL], r"steps\[0\]\._or_\[1\]: expected an operator .*got 5"),
    (
        [{"_or_": [SS, SS]}, MODEL],
        r"steps: configs 0 and 1 are the same pipeline \(steps\[0\]\._or_=0 vs steps\[0\]\._or_=1\)",
    ),
    ([{"_or_": [SS, None]}], r"steps: config 1 has no steps \(steps\[0\]\._or_=1\)"),
    (
        [SS, {"model": GM, "_or_": [1, 2]}],
        r"steps\[1\]\._or_: with 'model' and no 'param', each generated value must be a mapping",
    ),
    (
        [{"class": SM, "params": {"window": {"_or_": [1, 2]}, "order": lambda: 0}}, MODEL],
        r"steps\[0\]\.params\.order: cannot name <function <lambda>",
    ),
    (
        [{"branch": {"_or_": [[SS], []]}}, MODEL],
        r"steps\[0\]\.branch\._or_\[1\]: expected at least one alternative; got an empty list",
    ),
]


@pytest.mark.parametrize(("template", "message"), RESOLUTION_ERRORS, ids=range(len(RESOLUTION_ERRORS)))
def test_unresolvable_configs_raise_before_anything_is_returned(template, message):
    with pytest.raises(ConfigError, match=message):
        expand(template)
    with pytest.raises(ConfigError, match=r"^t\.yaml: " + message):
        expand(template, source="t.yaml")


# --------------------------------------------------------------------------- files


def test_load_yaml_and_json_keep_the_verbatim_text(tmp_path):
    text = "# a comment that must survive\npipeline:\n  - sklearn.preprocessing.StandardScaler\n  - model: {class: GenTestModel, params: {alpha: 1e-3}}\n"
    path = tmp_path / "t.yaml"
    path.write_text(text)
    loaded = load_template(path)
    assert loaded.text == text and loaded.path == path
    assert loaded.data["pipeline"][1]["model"]["params"]["alpha"] == 0.001  # YAML 1.2 float
    data, raw, where = loaded
    assert (data, raw, where) == tuple(loaded)
    json_path = tmp_path / "t.json"
    json_path.write_text(json.dumps(loaded.data, indent=1))
    assert load_template(json_path).data == loaded.data
    assert _signature(expand(loaded.data, source=loaded.path)) == _signature(
        expand(load_template(json_path).data)
    )
    assert _signature(expand(loaded)) == _signature(expand(loaded.data)) and count(loaded) == 1
    assert template_id(loaded) == template_id(loaded.data) and template_to_json(loaded) == loaded.data


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad.yaml",
            "pipeline:\n  - SNV\n  - {class: PLS, params: {n_components: 3}\n",
            r"bad\.yaml: line 4, column 1: invalid YAML: .*expected ',' or '}'",
        ),
        (
            "tab.yaml",
            "pipeline:\n\t- SNV\n",
            r"tab\.yaml: line 2, column 1: invalid YAML: .*cannot start any token",
        ),
        (
            "dup.yaml",
            "pipeline:\n  - class: SNV\n    params: {}\n    params: {a: 1}\n",
            r"dup\.yaml: line 4, column 5: invalid YAML: .*duplicate key 'params' \(first at line 3\)",
        ),
        (
            "bad.json",
            '{"pipeline": ["SNV",\n  ]}',
            r"bad\.json: line 2, column 3: invalid JSON: Expecting value",
        ),
        (
            "dup.json",
            '{"pipeline": [], "pipeline": []}',
            r"dup\.json: invalid JSON: duplicate key 'pipeline'",
        ),
        ("empty.yaml", "# nothing\n", r"empty\.yaml: the template is empty"),
        ("bell.yaml", "pipeline:\n  - SNV\x07\n", r"bell\.yaml: invalid YAML: unacceptable character #x0007"),
        ("t.toml", "pipeline = []", r"t\.toml: expected a \.yaml, \.yml or \.json template; got '\.toml'"),
    ],
)
def test_load_template_errors_name_file_line_and_column(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_template(path)


def test_load_template_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: template file not found"):
        load_template(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8 text"):
        load_template(bad)


def test_errors_in_a_loaded_file_name_the_file(tmp_path):
    path = tmp_path / "templates" / "pls.yaml"
    path.parent.mkdir()
    path.write_text(
        "pipeline:\n  - sklearn.preprocessing.StandardScaler\n  - model: sklearn.cross_decomposition.PLSRegression\n    param: n_components\n    _range_: [5, 15, 0]\n"
    )
    loaded = load_template(path)
    with pytest.raises(
        ConfigError,
        match=re.escape(
            f"{path}: pipeline[1]._range_: expected [start, stop, step] with step > 0; got [5, 15, 0]."
        ),
    ):
        expand(loaded.data, source=loaded.path)
    with pytest.raises(
        ConfigError, match=r"pls\.yaml: pipeline\[1\]\._range_: expected \[start, stop, step\]"
    ):
        expand(loaded)  # a LoadedTemplate brings its path as the source
    with pytest.raises(
        ConfigError, match=r"pls\.yaml: pipeline\[1\]\._range_: expected \[start, stop, step\]"
    ):
        count(loaded)


def test_classes_inside_a_generator_and_template_json_errors():
    configs = expand([{"class": {"_or_": [StandardScaler, MinMaxScaler]}}, MODEL])
    assert [c.steps[0]["class"] for c in configs] == [
        "sklearn.preprocessing.StandardScaler",
        "sklearn.preprocessing.MinMaxScaler",
    ]
    with pytest.raises(ConfigError, match=r"^steps\[0\]\.params: keys must be strings; got \[3\]"):
        template_to_json([{"class": SM, "params": {3: 4}}])


def test_an_id_prefix_collision_is_an_error(monkeypatch):
    from nirs_core.pipeline import generators

    monkeypatch.setattr(generators, "ID_LENGTH", 1)  # 16 possible ids for 40 distinct configs
    with pytest.raises(
        ConfigError, match=r"steps: configs \d+ and \d+ share the id [0-9a-f] \(a sha256 prefix collision\)"
    ):
        expand([sm(window={"_range_": [1, 40, 1]}), MODEL])
