"""Step kinds: one module each (``operator``, ``model``, ``pls_sweep``, ``split``,
``y_processing``, ``branch``, ``augmentation``, ``merge``), found through one registry.

The executor (:mod:`nirs_core.pipeline.executor`) knows no step kind. It runs a pipeline on
one *fit context* (a cross-validation fold, or the refit on the whole calibration set) by
handing each step to the controller that :func:`find_controller` picks. A new kind is one new
module in this package (every public module here is imported with the package): its keyword,
its payload's context and its controller are registered by one decorator::

    @controller("my_keyword", context=Context.VALUE)
    def _my_step(step, lane, env, path) -> list[Flow]: ...

Once registered, templates may hold ``{my_keyword: ...}`` steps: the template reader, the
generators (names) and the executor read the keyword table of :mod:`nirs_core.pipeline.keywords`.

A controller receives the canonical step (see :mod:`nirs_core.pipeline.serialize`), one
*lane* (a :class:`Flow`) and returns the lanes that continue: one for most steps, several
for a ``branch``. Controllers registered with ``lanes=True`` receive every lane at once
(``merge``, ``stack``). ``when`` narrows a controller to some steps of its kind (the outlier
filter is an ``operator`` whose class has ``_nirs_role == "filter"``); among the controllers
that match, the highest ``priority`` wins. ``prepare`` runs once per config before any fit
(the ``split`` controller computes the folds there).

Flows
=====

A :class:`Flow` holds the rows of one fit context: the training rows (``fit`` True) and the
rows to predict (validation rows of a fold; the calibration and test rows of the refit), the
feature blocks (one per source until they are joined), the targets, and the runtime-graph
records made so far. Stateful operators are fit on ``X[fit]`` only and transform every row,
so no validation or test row reaches a fit; stateless ones (``requires_fit`` False) are
computed once on every row of the dataset and sliced (see :data:`~Flow.pristine`). Rows are
only ever appended (sample augmentation), never reordered or removed: an outlier filter
clears their ``fit`` flag instead.

Step semantics
==============

operator
    A transformer: fit on the lane's training rows (with the current targets), transform
    every row. Applied to each feature block (source) separately: a node per source.
    ``_nirs_role == "filter"`` (outlier detectors): ``fit_filter`` on the training rows
    (sources side by side); flagged rows stop being training rows. Augmenters belong in
    ``sample_augmentation``; calibration-transfer operators (DS/PDS, which take master
    spectra as ``y``) are refused: fit them on transfer samples outside the pipeline.
split
    Handled before any fit (``prepare``): folds over the measured calibration samples,
    with the dataset's ``group`` column as ``groups`` when it has one. In the step loop
    it does nothing. One split per pipeline, at the top level.
y_processing
    A chain of transformers with ``inverse_transform``, each fit on the training targets;
    the model learns the transformed targets and its predictions are inverted (nodes of
    kind ``pickled``, method ``inverse_transform``). Regression only.
model
    Sources are concatenated side by side (a ``concat`` node), the model is fit on the
    training rows and predicts every row. Option ``name``: the model's label in the
    predictions (default: its node id).
branch
    Parallel sub-pipelines: each chain runs on a copy of the lane, and every later step
    runs in each branch. Without a merge, each branch's model is its own prediction set.
feature_augmentation
    Several chains side by side on the same input; their outputs are concatenated per
    source (layout ``2d``).
sample_augmentation
    Chains of augmenters applied to the lane's measured training rows; new rows keep their
    origin, are training rows only and never predicted. Option ``count``: copies per chain
    (default 1).
merge
    ``"features"``: the branches' features side by side, one lane again (branches must
    not have changed the rows). ``"predictions"``: stacking; see :func:`_merge_predictions`.
stack
    ``{"stack": meta_model}`` is ``{"merge": "predictions"}`` followed by
    ``{"model": meta_model}``.
"""

from __future__ import annotations

import importlib
import pkgutil

from nirs_core.pipeline.keywords import Context
from nirs_core.pipeline.steps._base import (
    Block,
    Controller,
    Env,
    Flow,
    PredictionSet,
    Record,
    YStep,
    controller,
    controllers,
    find_controller,
    run_step,
)

__all__ = [
    "Block",
    "Context",
    "Controller",
    "Env",
    "Flow",
    "PredictionSet",
    "Record",
    "YStep",
    "controller",
    "controllers",
    "find_controller",
    "run_step",
]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
