"""The ``split`` step: the folds over the measured calibration samples, made once per config
before any fit (``prepare``), with the dataset's ``group`` column as groups."""

from __future__ import annotations

import numpy as np

from nirs_core.errors import ConfigError
from nirs_core.pipeline.keywords import Context
from nirs_core.pipeline.serialize import canonical_json
from nirs_core.pipeline.steps._base import (
    Env,
    Flow,
    _build,
    controller,
)

# --------------------------------------------------------------------------- split


def _prepare_split(step: dict, path: str, env: Env, top_level: bool) -> None:
    if not top_level:
        raise ConfigError(f"{path}: a split belongs at the top level of the pipeline, not inside a step.")
    if env.folds is not None:
        raise ConfigError(f"{path}: the pipeline has a second split step; one split per pipeline.")
    splitter = _build(step["split"], f"{path}.split")
    if not (hasattr(splitter, "split") and hasattr(splitter, "get_n_splits")):
        raise ConfigError(f"{path}.split: {type(splitter).__name__} is not a splitter (no split method).")
    ds = env.dataset
    cal = np.arange(ds.n_rows)[ds.rows({"partition": "train"}, include_augmented=False)]
    (X,) = ds.x(cal, src_concat=True)
    y = ds.y(cal, version="category" if env.task != "regression" else "regression")
    y = y[:, 0] if y.shape[1] == 1 else y
    groups = ds.index["group"].to_numpy()[cal]
    has_groups = not all(g is None for g in groups)
    try:
        pairs = [
            (np.asarray(a), np.asarray(b))
            for a, b in splitter.split(X, y, groups.astype(str) if has_groups else None)
        ]
    except ValueError as exc:
        raise ConfigError(
            f"{path}.split: {type(splitter).__name__} failed on the calibration set: {exc}"
        ) from exc
    if not pairs:
        raise ConfigError(f"{path}.split: {type(splitter).__name__} made no folds.")
    # validation sets may overlap (ShuffleSplit, repeated K-fold): the pooled out-of-fold row
    # then holds a sample once per fold that validated it (its score: over all those predictions)
    seen = np.zeros(cal.size, dtype=np.int64)
    for _, va in pairs:
        seen[np.unique(va)] += 1
    sample = ds.index["sample"].to_numpy()[cal]
    env.folds = [(sample[a], sample[b]) for a, b in pairs]
    env.split_info = {
        "class": step["split"]["class"],
        "params": step["split"]["params"],
        "n_folds": len(pairs),
        "groups": "group" if has_groups else None,
        "step": canonical_json(step),
        "overlapping": bool((seen > 1).any()),
        "unvalidated": int((seen == 0).sum()),
    }


@controller("split", context=Context.OPERATOR, named=False, prepare=_prepare_split)
def _split(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    """Folds were made before any fit (``prepare``); nothing happens in the step loop."""
    return [lane]
