"""``feature_augmentation`` (chains side by side, concatenated per source) and
``sample_augmentation`` (augmented copies of the training rows, never predicted)."""

from __future__ import annotations

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
    _build,
    _label,
    _node_suffix,
    _role,
    controller,
)

# --------------------------------------------------------------------------- feature augmentation


@controller("feature_augmentation", context=Context.CHAINS, cacheable=True)
def _feature_augmentation(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    outputs: list[Flow] = []
    for j, chain in enumerate(step["feature_augmentation"]):
        sub = f"{path}.feature_augmentation[{j}]"
        for k, inner in enumerate(chain):
            if "class" not in inner:
                raise ConfigError(f"{sub}[{k}]: feature_augmentation chains hold operators only.")
            if _role(inner) in ("augmenter", "filter"):
                raise ConfigError(
                    f"{sub}[{k}]: {_label(inner['class'])} changes rows, not features; it cannot sit in "
                    "feature_augmentation."
                )
        start = replace(lane, key=processing_key(lane.key, f"fa:{j}") if lane.key else "")
        res = env.run_steps(chain, [start], sub)
        outputs.append(res[0])
    blocks = []
    records = list(lane.records)
    known = {r.id for r in records}
    for res in outputs:
        for r in res.records:
            if r.id not in known:
                records.append(r)
                known.add(r.id)
    for s, block in enumerate(lane.blocks):
        parts = [res.blocks[s] for res in outputs]
        node_id = env.next_id("concat" + _node_suffix(lane, block))
        records.append(Record(node_id, "concat", tuple(b.head for b in parts), meta={"layout": "2d"}))
        if all(b.full is not None for b in parts) and all(res.pristine for res in outputs):
            full = np.hstack([b.full for b in parts])
            full_key = processing_key(*(b.full_key for b in parts))
            blocks.append(Block(None, node_id, None, block.source, full, full_key, lane.pos))
        else:
            blocks.append(Block(np.hstack([b.data() for b in parts]), node_id, None, block.source))
    pristine = all(res.pristine for res in outputs)
    return [replace(lane, blocks=tuple(blocks), records=tuple(records), pristine=pristine)]


# --------------------------------------------------------------------------- sample augmentation


@controller("sample_augmentation", context=Context.CHAINS, cacheable=True)
def _sample_augmentation(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    copies = step.get("count", 1)
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ConfigError(f"{path}.count: expected an integer ≥ 1 (copies per chain); got {copies!r}.")
    parents = np.flatnonzero(lane.fit & (lane.sample == lane.origin))
    if parents.size == 0:
        raise ConfigError(f"{path}: sample_augmentation has no measured training rows to augment.")
    new_X: list[list[np.ndarray]] = [[] for _ in lane.blocks]
    new_parent: list[np.ndarray] = []
    for j, chain in enumerate(step["sample_augmentation"]):
        sub = f"{path}.sample_augmentation[{j}]"
        if not chain:
            raise ConfigError(f"{sub}: expected at least one augmenter; got an empty chain.")
        rows = None
        for s, block in enumerate(lane.blocks):
            Xc = block.data()[parents]
            origin = np.arange(parents.size)
            for k, op in enumerate(chain):
                if "class" not in op or _role(op) != "augmenter":
                    raise ConfigError(
                        f"{sub}[{k}]: expected an augmenter (an operator with _nirs_role 'augmenter'); "
                        f"got {op.get('class', next(iter(op)))!r}."
                    )
                est = _build(op, f"{sub}[{k}]").fit(Xc)
                env.stats["fits"] += 1
                Xc, _, o = est.augment(Xc, None, copies if k == 0 else 1)
                origin = origin[np.asarray(o, dtype=np.int64)]
            new_X[s].append(np.asarray(Xc))
            if rows is None:
                rows = parents[origin]
            elif not np.array_equal(rows, parents[origin]):
                raise ConfigError(f"{sub}: the augmenters made different rows for different sources.")
        new_parent.append(rows)
    parent_rows = np.concatenate(new_parent)
    m = parent_rows.size
    start = int(min(lane.sample.min(), 0)) - 1
    new_ids = np.arange(start, start - m, -1, dtype=np.int64)
    records = list(lane.records)
    blocks = []
    for s, block in enumerate(lane.blocks):
        node_id = env.next_id("sample_augmentation" + _node_suffix(lane, block))
        meta = {"role": "sample_augmentation", "n_new_rows": int(m)}
        records.append(Record(node_id, "identity", (block.head,), meta=meta))
        X = np.vstack([block.data(), *new_X[s]])
        blocks.append(Block(X, node_id, block.axis, block.source))
    return [
        replace(
            lane,
            blocks=tuple(blocks),
            records=tuple(records),
            y=np.concatenate([lane.y, lane.y[parent_rows]]),
            y_model=np.concatenate([lane.y_model, lane.y_model[parent_rows]]),
            fit=np.concatenate([lane.fit, np.ones(m, dtype=bool)]),
            sample=np.concatenate([lane.sample, new_ids]),
            origin=np.concatenate([lane.origin, lane.origin[parent_rows]]),
            pos=np.concatenate([lane.pos, np.full(m, -1, dtype=np.int64)]),
            report=np.concatenate([lane.report, np.full(m, "", dtype=lane.report.dtype)]),
            pristine=False,
        )
    ]
