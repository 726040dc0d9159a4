"""A step kind is one module: its keyword, payload context and controller registered by one
decorator. A toy kind written as a standalone module, imported, is read by the template
reader, named by the generators and run by the executor, and its numbers equal the same
pipeline on spectra scaled by hand."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import numpy as np
import pytest

from nirs_core.data import SpectroDataset
from nirs_core.errors import ConfigError
from nirs_core.pipeline import keywords
from nirs_core.pipeline.executor import execute
from nirs_core.pipeline.generators import count, expand
from nirs_core.pipeline.steps import _base

TOY_MODULE = '''
"""scale_by: multiply every spectrum by a number (a toy step kind, stateless)."""
from dataclasses import replace

from nirs_core.pipeline.steps import Block, Context, Record, controller


@controller("scale_by", context=Context.VALUE, cacheable=True)
def _scale_by(step, lane, env, path):
    factor = float(step["scale_by"])
    blocks, records = [], list(lane.records)
    for block in lane.blocks:
        node_id = env.next_id("ScaleBy")
        blocks.append(Block(block.data() * factor, node_id, block.axis, block.source))
        records.append(Record(node_id, "transform", (block.head,), meta={"factor": factor}))
    return [replace(lane, blocks=tuple(blocks), records=tuple(records), pristine=False)]
'''


@pytest.fixture
def toy_kind(tmp_path, monkeypatch):
    """Import the toy module; the registries are restored afterwards."""
    monkeypatch.setattr(_base, "_CONTROLLERS", list(_base._CONTROLLERS))
    monkeypatch.setattr(keywords, "_TABLE", dict(keywords._TABLE))
    path = tmp_path / "toy_scale_by.py"
    path.write_text(textwrap.dedent(TOY_MODULE))
    spec = importlib.util.spec_from_file_location("toy_scale_by", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "toy_scale_by", module)
    spec.loader.exec_module(module)
    return module


def _ridge_pipeline(*middle):
    return [
        {"split": {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 4}}},
        *middle,
        {"model": {"class": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}}},
    ]


def _dataset(corn_arrays, factor=1.0):
    X = np.vstack([corn_arrays["Xcal"], corn_arrays["Xval"]]) * factor
    y = np.concatenate([corn_arrays["ycal"], corn_arrays["yval"]])
    part = ["train"] * len(corn_arrays["ycal"]) + ["test"] * len(corn_arrays["yval"])
    return SpectroDataset.from_arrays(X, y, partition=part, wavelengths=corn_arrays["wavelengths"])


def test_an_unknown_keyword_is_refused_before_the_toy_kind_exists():
    with pytest.raises(ConfigError, match="scale_by"):
        expand({"pipeline": _ridge_pipeline({"scale_by": 3.0})})


def test_a_new_step_kind_is_one_module(toy_kind, corn_arrays):
    template = {"pipeline": _ridge_pipeline({"scale_by": {"_or_": [1.0, 3.0]}})}
    configs = expand(template)
    assert count(template) == len(configs) == 2
    scaled = next(c for c in configs if c.steps[1] == {"scale_by": 3.0})

    result = execute(scaled, _dataset(corn_arrays))
    assert any(n.id.endswith("_ScaleBy") and n.meta == {"factor": 3.0} for n in result.graph.nodes)

    # the independent reference: the same pipeline without the step, on spectra scaled by hand
    reference = execute(_ridge_pipeline(), _dataset(corn_arrays, factor=3.0))
    assert result.cv_score == pytest.approx(reference.cv_score, rel=1e-12)
    assert result.test_score == pytest.approx(reference.test_score, rel=1e-12)
