"""The operator step: a transformer fit on the lane's training rows and applied to every row,
per source; outlier filters (``_nirs_role == "filter"``) clear the training flag of the rows
they flag."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from nirs_core.errors import ConfigError
from nirs_core.pipeline.cache import processing_key
from nirs_core.pipeline.serialize import canonical_json
from nirs_core.pipeline.steps._base import (
    Block,
    Env,
    Flow,
    Record,
    _axis_after,
    _build,
    _cache_takes,
    _check_training_rows,
    _fit_takes_wavelengths,
    _fit_transform_block,
    _fit_y,
    _is_stateless,
    _label,
    _node_suffix,
    _operator_class,
    _role,
    _state,
    controller,
    map_rows,
)

# --------------------------------------------------------------------------- operator


@controller("operator", priority=0, cacheable=True)
def _operator(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    cls = _operator_class(step)
    role = getattr(cls, "_nirs_role", None)
    if role == "augmenter":
        raise ConfigError(
            f"{path}: {cls.__name__} is an augmenter; put it inside a sample_augmentation step "
            "(it would otherwise perturb validation and test spectra)."
        )
    if cls.__module__.startswith("nirs_core.operators.transfer"):
        raise ConfigError(
            f"{path}: {cls.__name__} maps slave to master spectra and is fit on transfer samples "
            "(master spectra as y); fit it outside the pipeline and transform the spectra first."
        )
    if not hasattr(cls, "transform"):
        what = "a model" if hasattr(cls, "predict") else "not a transformer"
        raise ConfigError(
            f"{path}: {cls.__name__} is {what} (no transform); write a model as {{'model': ...}}."
        )
    class_path, params = step["class"], step["params"]
    text = canonical_json(step)
    blocks = []
    records = list(lane.records)
    stateless = _is_stateless(_build(step, path))
    pristine = lane.pristine and stateless
    for block in lane.blocks:
        node_id = env.next_id(_label(class_path) + _node_suffix(lane, block))
        full_key = (
            processing_key(env.dataset_hash, "all", block.full_key, text) if block.full is not None else ""
        )
        hit = env.cache.get(full_key) if (pristine and full_key and env.cache is not None) else None
        # dataset-wide only when the cache can keep the result for the other fit contexts
        # (its size estimated by the input's); else on this context's rows, like a stateful op
        if pristine and block.full is not None and (hit is not None or _cache_takes(env, block.full)):
            if hit is None:
                est = _build(step, path)
                kwargs = {}
                if block.axis is not None and _fit_takes_wavelengths(cls):
                    kwargs["wavelengths"] = block.axis
                est.fit(block.full, **kwargs)
                env.stats["fits"] += 1
                out_full = map_rows(est.transform, block.full, np.arange(block.full.shape[0]))
                axis = _axis_after(est, block.full.shape[1], out_full, block.axis)
                hit = (out_full, axis, _state(est, replace(env, record=True), "transform"))
                if env.cache is not None:
                    env.cache.put(full_key, hit, [out_full], tag=env.tag(path))
            else:
                env.stats["cache_hits"] += 1
            out_full, axis, (kind, kernel, blob, ext, meta) = hit
            blocks.append(Block(None, node_id, axis, block.source, out_full, full_key, lane.pos))
        else:
            _check_training_rows(lane, path, cls.__name__)
            est, X = _fit_transform_block(_build(step, path), block, lane, env)
            axis = _axis_after(est, block.width, X, block.axis)
            kind, kernel, blob, ext, meta = _state(est, env, "transform")
            blocks.append(Block(X, node_id, axis, block.source))
        records.append(Record(node_id, kind, (block.head,), class_path, params, kernel, blob, ext, meta))
    return [replace(lane, blocks=tuple(blocks), records=tuple(records), pristine=pristine)]


@controller("operator", priority=10, when=lambda step: _role(step) == "filter", cacheable=True)
def _outlier_filter(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    """An outlier detector: fit on the training rows (sources side by side), which lose their
    training flag when flagged. Recorded as identity nodes (training time only)."""
    class_path = step["class"]
    _check_training_rows(lane, path, _label(class_path))
    est = _build(step, path)
    X = np.hstack([b.data(lane.fit) for b in lane.blocks])
    keep = np.asarray(est.fit_filter(X, _fit_y(lane, env)), dtype=bool)
    env.stats["fits"] += 1
    fit = lane.fit.copy()
    fit[np.flatnonzero(lane.fit)[~keep]] = False
    if not fit.any():
        raise ConfigError(f"{path}: {_label(class_path)} flagged every training row as an outlier.")
    records = list(lane.records)
    blocks = []
    for block in lane.blocks:
        node_id = env.next_id(_label(class_path) + _node_suffix(lane, block))
        meta = {"role": "filter", "n_removed": int((~keep).sum())}
        records.append(Record(node_id, "identity", (block.head,), class_path, step["params"], meta=meta))
        blocks.append(replace(block, head=node_id))
    return [replace(lane, blocks=tuple(blocks), records=tuple(records), fit=fit, pristine=False)]
