"""The store's YAML writer reads back, through PyYAML's own parser, as exactly the data given."""

from __future__ import annotations

import math
import random

import pytest
import yaml

from nirs_core.store._atomic import dump_yaml

LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])

TRICKY = [
    "",
    " ",
    " lead",
    "trail ",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "N",
    "true",
    "False",
    "null",
    "NULL",
    "~",
    "-",
    "- x",
    "a: b",
    "a:b",
    "#x",
    "x #y",
    "x#y",
    "1",
    "-1",
    "1.5",
    "1e5",
    "1E-5",
    ".5",
    ".inf",
    "-.Inf",
    ".NaN",
    "0x1F",
    "0o17",
    "0b101",
    "1_000",
    "12:30",
    "190:20:30",
    "2020-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "=",
    "<<",
    "!tag",
    "&anchor",
    "*alias",
    "'",
    '"',
    "%x",
    "@x",
    "`x",
    "{a}",
    "[a]",
    "a,b",
    "|",
    ">",
    "?",
    "? x",
    "a\nb",
    "a\tb",
    "\u2028",
    "\ufeffx",
    "\x85",
    "naïve",
    "λ",
    "日本語",
    "emoji 🙂",
    "path/to/file.csv",
    "x y z",
    "SNV",
    "0003_SNV_PLS-nc10_ab12cd",
    "sklearn.model_selection.KFold",
    "C:\\data",
    "a  b",
    "a - b",
]


def _random_scalar(rng: random.Random):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(TRICKY)
    if kind == 1:
        return rng.choice([0, -1, 7, 2**70, -(2**63)])
    if kind == 2:
        return rng.choice(
            [0.0, -0.0, 1.0, 0.1, 1e-05, 1.5e300, -2.5e-308, 5e-324, math.inf, -math.inf, 1e16, 123456789.125]
        )
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return rng.uniform(-1e6, 1e6)
    return "".join(rng.choice("abc xyz:#-_./'\"\n\t0123456789") for _ in range(rng.randrange(8)))


def _random_value(rng: random.Random, depth: int):
    if depth == 0 or rng.random() < 0.4:
        return _random_scalar(rng)
    if rng.random() < 0.5:
        return [_random_value(rng, depth - 1) for _ in range(rng.randrange(4))]
    keys = [k for k in (_random_scalar(rng) for _ in range(rng.randrange(4))) if isinstance(k, str)]
    return {k: _random_value(rng, depth - 1) for k in keys}


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return (
        type(a) is type(b)
        and a == b
        and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))
    )


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
def test_tricky_strings_read_back_as_themselves(loader):
    data = {s: [s, {"k": s}] for s in TRICKY if s}
    data["empty"] = ""
    assert _same(yaml.load(dump_yaml(data), Loader=loader), data)


@pytest.mark.parametrize("loader", LOADERS, ids=lambda c: c.__name__)
def test_random_documents_read_back_exactly(loader):
    rng = random.Random(20261123)
    for _ in range(2000):
        data = _random_value(rng, 4)
        text = dump_yaml(data)
        assert _same(yaml.load(text, Loader=loader), data), text


def test_plain_values_stay_readable_and_others_go_to_pyyaml():
    text = dump_yaml(
        {"status": "completed", "checkpoints": ["corn/ab12", "corn/cd34"], "count": 3, "x": 0.25}
    )
    assert text == "status: completed\ncheckpoints:\n- corn/ab12\n- corn/cd34\ncount: 3\nx: 0.25\n"
    assert dump_yaml({"t": (1, 2)}) == yaml.safe_dump({"t": [1, 2]}, sort_keys=False)  # tuple → PyYAML
    assert yaml.safe_load(dump_yaml({1: "a"})) == {1: "a"}  # non-string key → PyYAML
