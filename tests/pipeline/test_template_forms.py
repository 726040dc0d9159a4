"""The template forms of nirs4all's examples and of the seed syntax (bare splitters, bare
models, standalone generators that set the next operator's parameter, live objects, ``seed``
beside ``count``), and ``count == len(expand)`` over a generated corpus of templates."""

from __future__ import annotations

import itertools
import random

import pytest
from sklearn.cross_decomposition import PLSRegression as SkPLS
from sklearn.model_selection import KFold, ShuffleSplit

from nirs_core.errors import ConfigError
from nirs_core.operators import MSC, SNV
from nirs_core.pipeline.generators import count, expand
from nirs_core.pipeline.template_forms import normalize_steps, step_role

SK_PLS = "sklearn.cross_decomposition.PLSRegression"


def test_the_seed_form_expands_to_what_count_says():
    template = [{"_or_": [SNV(), MSC()]}, {"_range_": [5, 15, 5], "param": "n_components"}, SkPLS()]
    configs = expand(template)
    assert count(template) == len(configs) == 6
    # the product in order: the first generator varies slowest
    got = [
        (c.steps[0]["class"].rsplit(".", 1)[-1], c.steps[1]["model"]["params"]["n_components"])
        for c in configs
    ]
    prep = ["StandardNormalVariate", "MultiplicativeScatterCorrection"]
    assert got == list(itertools.product(prep, [5, 10, 15]))
    assert all(c.steps[1]["model"]["class"] == SK_PLS for c in configs)


@pytest.mark.parametrize(
    "splitter",
    [
        ShuffleSplit(3, test_size=0.25, random_state=0),
        "sklearn.model_selection.ShuffleSplit",
        {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 3}},
        KFold,
        "KennardStoneSplit",
    ],
)
def test_a_bare_splitter_is_a_split_step(splitter):
    (config,) = expand([splitter, "SNV", {"model": "PLS"}])
    assert set(config.steps[0]) == {"split"}
    assert "class" in config.steps[1]


def test_a_bare_model_is_a_model_step_and_a_transformer_stays_an_operator():
    assert step_role(SkPLS()) == "model"
    assert step_role("PLS") == "model"
    assert step_role("sklearn.preprocessing.StandardScaler") is None
    assert step_role({"model": "PLS"}) is None
    (config,) = expand(["sklearn.preprocessing.StandardScaler", SkPLS(4)])
    assert config.steps[1]["model"]["params"]["n_components"] == 4


def test_several_models_and_names_are_kept():
    (config,) = expand(["SNV", {"model": SkPLS(3), "name": "PLS-3"}, {"model": "PLS", "name": "ours"}])
    assert [s.get("name") for s in config.steps] == [None, "PLS-3", "ours"]


def test_a_standalone_generator_sets_the_param_of_a_model_step_and_keeps_its_options():
    template = [
        {"_or_": [2, 4], "param": "n_components"},
        {"model": {"class": "PLS", "params": {"scale": True}}, "name": "m"},
    ]
    configs = expand(template)
    assert [c.steps[0]["model"]["params"] for c in configs] == [
        {"algorithm": "auto", "n_components": 2, "scale": True},
        {"algorithm": "auto", "n_components": 4, "scale": True},
    ]
    assert all(c.steps[0]["name"] == "m" for c in configs)


def test_a_standalone_generator_sets_a_transformer_param_too():
    template = [
        {"_range_": [11, 15, 2], "param": "window_length"},
        {"class": "SavitzkyGolay", "params": {"polyorder": 2}},
        "PLS",
    ]
    configs = expand(template)
    assert [c.steps[0]["params"]["window_length"] for c in configs] == [11, 13, 15]
    assert all(c.steps[0]["params"]["polyorder"] == 2 for c in configs)


def test_a_standalone_grid_sets_each_of_its_names():
    template = [{"_grid_": {"n_components": [2, 3], "scale": [True, False]}}, SkPLS()]
    configs = expand(template)
    got = [
        (c.steps[0]["model"]["params"]["n_components"], c.steps[0]["model"]["params"]["scale"])
        for c in configs
    ]
    assert got == list(itertools.product([2, 3], [True, False]))  # sorted names, last fastest


def test_bare_forms_inside_or_alternatives_and_branches_are_normalised():
    steps = normalize_steps(
        [{"_or_": [KFold(3), ShuffleSplit(2)]}, {"branch": [["SNV", "PLS"], ["MSC", SkPLS()]]}], "steps"
    )
    assert all(set(alt) == {"split"} for alt in steps[0]["_or_"])
    assert steps[1]["branch"][0][1] == {"model": "PLS"}
    assert set(steps[1]["branch"][1][1]) == {"model"}


def test_template_keys_of_nirs4all_are_accepted():
    template = {"name": "t", "description": "d", "schema_version": 1, "id": "abc", "pipeline": ["SNV", "PLS"]}
    assert count(template) == len(expand(template)) == 1


def test_count_with_a_seed_samples_and_records_the_seed():
    alternatives = ["SNV", "MSC", "Detrend", "RNV", "LSNV"]
    template = [{"_or_": alternatives, "count": 3, "seed": 7}, "PLS"]
    configs = expand(template)
    assert count(template) == len(configs) == 3
    # the same draw as random.Random(7), in the alternatives' order
    expected = sorted(random.Random(7).sample(range(5), 3))
    assert [c.choices[0]["index"] for c in configs] == expected
    assert all(c.choices[0]["seed"] == 7 for c in configs)
    assert [c.id for c in expand(template)] == [c.id for c in configs]  # deterministic


@pytest.mark.parametrize(
    ("template", "match"),
    [
        (
            [{"_range_": [2, 4], "param": "n_components"}],
            r"steps\[0\]: a standalone generator .* no step follows",
        ),
        (
            [{"_range_": [2, 4], "param": "n_components"}, {"y_processing": "MinMaxScaler"}, "PLS"],
            r"steps\[0\]: .*'y_processing' step",
        ),
        (
            [{"_range_": [2, 4], "param": "n_components"}, {"_or_": ["PLS", "PCR"]}],
            r"steps\[0\]: .*not one operator",
        ),
        (
            [{"_or_": [2, 4], "param": "n_components"}, {"_or_": [1, 2], "param": "scale"}, "PLS"],
            r"steps\[0\]: .*followed by another",
        ),
        ([{"_range_": [2, 4], "param": ""}, "PLS"], r"steps\[0\]\.param: expected a parameter name"),
        (
            [{"_or_": ["SNV", "MSC"], "seed": 1}, "PLS"],
            r"steps\[0\]\.seed: expected an integer >= 0 beside 'count'",
        ),
        ([{"_grid_": [1, 2]}, "PLS"], r"steps\[0\]\._grid_: expected a mapping"),
        (
            [
                {"_range_": [2, 4], "param": "n_components"},
                {"class": "PLS", "params": {"_or_": [{}, {"scale": True}]}},
            ],
            r"params .* are a generator already",
        ),
        (
            [{"_range_": [2, 4], "param": "n_components"}, {"class": "PLS", "params": 3}],
            r"steps\[1\]\.model\.params: expected a mapping",
        ),
    ],
)
def test_malformed_forms_raise_naming_the_path(template, match):
    with pytest.raises(ConfigError, match=match):
        expand(template)


def test_an_object_without_get_params_cannot_take_a_param():
    class NoParams:
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return X

    with pytest.raises(ConfigError, match=r"steps\[1\]: cannot set a parameter on NoParams"):
        normalize_steps([{"_range_": [2, 4], "param": "k"}, NoParams()], "steps")


# ------------------------------------------------------------------ count == len(expand)

_PREPS = [
    "SNV",
    "MSC",
    "Detrend",
    "RNV",
    {"class": "SavitzkyGolay", "params": {"window_length": 11, "polyorder": 2}},
]


def _random_template(rng: random.Random):
    steps: list = []
    if rng.random() < 0.6:
        steps.append(
            rng.choice(
                [
                    KFold(3, shuffle=True, random_state=0),
                    "sklearn.model_selection.ShuffleSplit",
                    {"split": "sklearn.model_selection.KFold"},
                ]
            )
        )
    kind = rng.randrange(4)
    alts = rng.sample(_PREPS, rng.randint(2, 5))
    if kind == 0:
        gen = {"_or_": alts}
        if rng.random() < 0.4:
            gen["pick"] = rng.choice([1, [0, 2], [1, 2]])
        elif rng.random() < 0.3:
            gen["arrange"] = rng.choice([1, 2])
        if rng.random() < 0.5:
            gen["count"] = rng.randint(1, 6)
            if rng.random() < 0.5:
                gen["seed"] = rng.randint(0, 99)
        steps.append(gen)
    elif kind == 1:
        steps.append({"feature_augmentation": {"_or_": alts, "pick": rng.choice([1, 2])}})
    elif kind == 2:
        steps.append(
            {
                "class": "SavitzkyGolay",
                "params": {"window_length": {"_or_": [7, 11, 15]}, "deriv": {"_range_": [0, 2]}},
            }
        )
    else:
        steps.append(rng.choice(_PREPS))
    model = rng.randrange(5)
    if model == 0:
        start = rng.randint(1, 4)
        steps += [
            {"_range_": [start, start + rng.randint(0, 8), rng.randint(1, 3)], "param": "n_components"},
            SkPLS(),
        ]
    elif model == 1:
        steps += [
            {
                "_or_": rng.sample([1, 2, 3, 5, 8], rng.randint(1, 4)),
                "param": "n_components",
                "count": 2,
                "seed": 3,
            },
            "PLS",
        ]
    elif model == 2:
        steps += [{"_grid_": {"n_components": [2, 3], "scale": [True, False]}}, {"model": "PLS", "name": "g"}]
    elif model == 3:
        steps.append(
            {
                "model": {"class": "PLS", "params": {"scale": False}},
                "param": "n_components",
                "_range_": [2, 10, rng.randint(2, 4)],
            }
        )
    else:
        steps += [{"_log_range_": [1, 100, rng.randint(1, 4)], "param": "n_components"}, {"model": "PCR"}]
        if rng.random() < 0.5:
            steps.append({"model": SkPLS(2), "name": "second"})
    return steps if rng.random() < 0.5 else {"name": "generated", "pipeline": steps}


def test_count_equals_the_number_of_expanded_configs_over_a_generated_corpus():
    rng = random.Random(20261203)
    n_checked = 0
    for _ in range(150):
        template = _random_template(rng)
        n = count(template)
        assert n == len(expand(template, max_configs=None)), template
        n_checked += n
    assert n_checked > 1000  # the corpus is not trivially small


class _NestedTemplates:
    """Random templates with generators nested in one another: ``_or_`` alternatives that are
    steps, chains or none, ``pick``/``arrange``/``count``/``seed``, branches (lists and named),
    ``feature_augmentation``, ``y_processing``, generators in parameters, standalone generators
    setting the next operator's parameter, model sweeps. Every leaf operator carries its own
    ``sigma`` values, so no two alternatives can make the same pipeline (which ``expand``
    refuses, as it should, and which would say nothing about ``count``)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.k = rng, 0

    def leaf(self) -> dict:
        self.k += 1
        k, kind = self.k, self.rng.randrange(4)
        if kind == 0:
            sigma = float(k)
        elif kind == 1:
            sigma = {"_or_": [k + 0.25, k + 0.5, k + 0.75][: self.rng.randint(2, 3)]}
        elif kind == 2:
            sigma = {"_range_": [k + 0.1, k + 0.3, 0.1]}
        else:
            sigma = {"_log_range_": [k + 0.01, k + 0.02, self.rng.randint(1, 3)]}
        return {"class": "GaussianSmoothing", "params": {"sigma": sigma}}

    def alternative(self, depth: int):
        # never "none" here: two nested ways to make no step would be the same pipeline
        if self.rng.random() < 0.3:
            return [self.step(depth), self.step(depth)]
        return self.step(depth)

    def step(self, depth: int):
        rng = self.rng
        if depth <= 0 or rng.random() < 0.35:
            return self.leaf()
        kind = rng.randrange(3)
        if kind == 0:
            combine = rng.random() < 0.4
            alts = [self.alternative(depth - 1) for _ in range(rng.randint(2, 3))]
            gen: dict = {"_or_": alts}
            if combine:
                key = rng.choice(["pick", "arrange"])
                gen[key] = rng.choice([1, 2, [1, 2]])
            if rng.random() < 0.3:
                gen["count"] = rng.randint(1, 5)
                if rng.random() < 0.6:
                    gen["seed"] = rng.randint(0, 99)
            return gen
        if kind == 1:
            chains = [[self.step(depth - 1)] for _ in range(rng.randint(2, 3))]
            if rng.random() < 0.5:
                return {"branch": dict(zip("abc", chains))}
            return {"branch": chains}
        leaves = [self.leaf() for _ in range(rng.randint(2, 4))]
        if rng.random() < 0.5:
            return {"feature_augmentation": {"_or_": leaves, "pick": rng.choice([1, 2])}}
        return {"feature_augmentation": [[leaf] for leaf in leaves]}

    def template(self):
        rng = self.rng
        steps: list = []
        if rng.random() < 0.5:
            steps.append(
                rng.choice([KFold(3, shuffle=True, random_state=0), "sklearn.model_selection.ShuffleSplit"])
            )
        if rng.random() < 0.3:
            scalers = ["sklearn.preprocessing.StandardScaler", "sklearn.preprocessing.MinMaxScaler", None]
            steps.append({"y_processing": {"_or_": scalers[: rng.randint(2, 3)]}})
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.2:  # one step or none (the only way to make no step)
                steps.append({"_or_": [self.leaf(), None]})
            elif rng.random() < 0.2:  # a standalone generator: sets the next operator's sigma
                self.k += 1
                steps += [{"_or_": [self.k + 0.5, self.k + 0.6], "param": "sigma"}, "GaussianSmoothing"]
            else:
                steps.append(self.step(rng.randint(1, 3)))
        if rng.random() < 0.5:
            steps.append({"model": "PLS", "param": "n_components", "_range_": [2, 2 + rng.randint(0, 6), 2]})
        else:
            steps += [{"_grid_": {"n_components": [2, 3], "scale": [True, False]}}, "PLS"]
        return steps if rng.random() < 0.5 else {"name": "nested", "pipeline": steps}


def test_count_equals_len_expand_over_generated_nested_templates():
    rng = random.Random(1203)
    gen = _NestedTemplates(rng)
    n_templates = n_configs = 0
    kinds: set[str] = set()
    while n_templates < 80:
        template = gen.template()
        n = count(template)
        if n > 1000:
            # not expanded: slow, and beyond ~10^4 configs the 8-hex-digit ids may collide,
            # which expand refuses (a 32-bit prefix: 1 % odds at 9 300 configs)
            continue
        configs = expand(template, max_configs=None)
        assert n == len(configs), template
        assert len({c.id for c in configs}) == n  # every config a different pipeline
        text = repr(template)
        kinds |= {k for k in ("branch", "feature_augmentation", "y_processing", "pick", "arrange", "seed", "None")
                  if k in text}  # fmt: skip
        n_templates += 1
        n_configs += n
    assert n_configs > 5000  # not a trivially small corpus
    assert kinds == {"branch", "feature_augmentation", "y_processing", "pick", "arrange", "seed", "None"}
