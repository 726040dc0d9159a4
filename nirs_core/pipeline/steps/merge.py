"""``merge`` (branches' features side by side, or their predictions stacked) and ``stack``
(``merge: predictions`` then a meta model fit on inner out-of-fold predictions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from nirs_core.errors import ConfigError
from nirs_core.pipeline.cache import processing_key
from nirs_core.pipeline.keywords import Context
from nirs_core.pipeline.steps._base import (
    Block,
    Env,
    Flow,
    Record,
    controller,
    run_step,
)
from nirs_core.pipeline.steps.model import fit_model

# --------------------------------------------------------------------------- merge and stack


def _union_records(lanes: Sequence[Flow], with_tails: bool) -> list[Record]:
    records: list[Record] = []
    known: set[str] = set()
    for lane in lanes:
        tails = [r for ps in lane.preds for r in ps.tail] if with_tails else []
        for r in (*lane.records, *tails):
            if r.id not in known:
                records.append(r)
                known.add(r.id)
    return records


def _merge_features(step: dict, lanes: list[Flow], env: Env, path: str) -> list[Flow]:
    if any(lane.branch_origin is None for lane in lanes):
        raise ConfigError(f"{path}: merge 'features' needs a branch step before it (nothing to merge).")
    first = lanes[0]
    for lane in lanes[1:]:
        if lane.n != first.n or not np.array_equal(lane.fit, first.fit):
            raise ConfigError(
                f"{path}: merge 'features' needs the same rows in every branch; a branch augmented or "
                "filtered samples (put sample_augmentation and filters before the branch)."
            )
        same_y = [y.class_path for y in lane.y_steps] == [y.class_path for y in first.y_steps]
        if not (same_y and np.array_equal(lane.y_model, first.y_model)):
            raise ConfigError(f"{path}: merge 'features' needs the same y_processing in every branch.")
    records = _union_records(lanes, with_tails=True)
    heads = tuple(b.head for lane in lanes for b in lane.blocks)
    node_id = env.next_id("merge_features")
    records.append(Record(node_id, "concat", heads, meta={"layout": "2d", "role": "merge"}))
    X = np.hstack([b.data() for lane in lanes for b in lane.blocks])
    side = tuple(ps for lane in lanes for ps in (*lane.side_preds, *lane.preds))
    origin = first.branch_origin.branch_origin if first.branch_origin is not None else None
    merged = replace(
        first,
        blocks=(Block(X, node_id, None, "merged"),),
        records=tuple(records),
        preds=(),
        side_preds=side,
        pristine=False,
        key=processing_key(*(lane.key for lane in lanes), "merge") if all(la.key for la in lanes) else "",
        branch_origin=origin,
        branch_steps=(),
        label=first.branch_origin.label if first.branch_origin is not None else "",
    )
    return [merged]


def _inner_oof(lane: Flow, env: Env, path: str, n_inner: int) -> np.ndarray:
    """Out-of-fold predictions of the lane's branch for the training rows of its branch
    point: the branch's steps rerun on inner folds of the training samples (by origin)."""
    from nirs_core.splitters._sklearn_splits import KFold  # scikit-learn's folds, without importing it

    base = lane.branch_origin
    fit_rows = np.flatnonzero(base.fit)
    samples = np.unique(base.origin[fit_rows])
    k = min(n_inner, samples.size)
    if k < 2:
        raise ConfigError(f"{path}: stacking needs at least 2 training samples for its inner folds.")
    q = lane.preds[-1].y_pred.shape[1]
    oof = np.full((base.n, q), np.nan)
    for tr, va in KFold(k, shuffle=True, random_state=0).split(samples):
        in_tr = base.fit & np.isin(base.origin, samples[tr])
        in_va = base.fit & np.isin(base.origin, samples[va])
        sub = base.subset(in_tr | in_va, in_tr)
        sub = replace(sub, branch_origin=None, branch_steps=(), key="")
        scratch = env.scratch()
        res = [sub]
        for st, st_path in lane.branch_steps:
            res = run_step(st, res, scratch, st_path)
        if len(res) != 1 or not res[0].preds:
            raise ConfigError(f"{path}: a branch to stack must end in one model (one prediction set).")
        pred = res[0].preds[-1].y_pred[: sub.n]
        idx = np.flatnonzero(in_tr | in_va)
        val_local = ~sub.fit
        oof[idx[val_local]] = pred[val_local]
    return oof


def _merge_predictions(step: dict, lanes: list[Flow], env: Env, path: str) -> list[Flow]:
    """Stacking done correctly: within the current fit context, the meta-model is trained on
    out-of-fold predictions of each branch for the training rows (inner K-fold, default 5,
    shuffled with seed 0, by origin, rerunning the branch's steps: option ``inner_folds``),
    and applied to the branches' predictions by their models fit on all training rows."""
    n_inner = step.get("inner_folds", 5)
    if isinstance(n_inner, bool) or not isinstance(n_inner, int) or n_inner < 2:
        raise ConfigError(f"{path}.inner_folds: expected an integer ≥ 2; got {n_inner!r}.")
    if (
        any(lane.branch_origin is None for lane in lanes)
        or len({lane.branch_origin.key for lane in lanes}) != 1
    ):
        raise ConfigError(f"{path}: merge 'predictions' needs the branches of one branch step before it.")
    for lane in lanes:
        if not lane.preds:
            raise ConfigError(
                f"{path}: branch {lane.label!r} has no model; each branch must end in a model to stack."
            )
    base = lanes[0].branch_origin
    columns = []
    for lane in lanes:
        oof = _inner_oof(lane, env, path, n_inner)
        outer = lane.preds[-1].y_pred[: base.n]
        columns.append(np.where(base.fit[:, None], oof, outer))
    X = np.hstack(columns)
    records = _union_records(lanes, with_tails=True)
    node_id = env.next_id("stack")
    records.append(
        Record(node_id, "stack", tuple(lane.preds[-1].node for lane in lanes), meta={"role": "stack"})
    )
    side = tuple(ps for lane in lanes for ps in (*lane.side_preds, *lane.preds))
    merged = replace(
        base,
        blocks=(Block(X, node_id, None, "stack"),),
        records=tuple(records),
        preds=(),
        side_preds=(*base.side_preds, *side),
        pristine=False,
        key=processing_key(*(lane.key for lane in lanes), "stack") if all(la.key for la in lanes) else "",
        branch_origin=base.branch_origin,
        branch_steps=(),
    )
    return [merged]


@controller("merge", context=Context.VALUE, lanes=True)
def _merge(step: dict, lanes: list[Flow], env: Env, path: str) -> list[Flow]:
    mode = step["merge"]
    if isinstance(mode, dict):
        mode = mode.get("mode")
    if mode == "features":
        return _merge_features(step, lanes, env, path)
    if mode == "predictions":
        return _merge_predictions(step, lanes, env, path)
    raise ConfigError(f"{path}.merge: expected 'features' or 'predictions'; got {step['merge']!r}.")


@controller("stack", context=Context.OPERATOR, lanes=True)
def _stack(step: dict, lanes: list[Flow], env: Env, path: str) -> list[Flow]:
    options = {k: v for k, v in step.items() if k not in ("stack", "name")}
    merged = _merge_predictions({"merge": "predictions", **options}, lanes, env, path)
    return [fit_model(step["stack"], step.get("name"), merged[0], env, path, f"{path}.stack")]
