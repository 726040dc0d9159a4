"""The ``model`` step: sources side by side, the estimator fit on the training rows, predictions
of every row in target units (y_processing inverted), the replay state recorded."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from nirs_core.errors import ConfigError
from nirs_core.estimator import clone
from nirs_core.pipeline import sklearn_fast
from nirs_core.pipeline.keywords import Context
from nirs_core.pipeline.steps._base import (
    Block,
    Env,
    Flow,
    PredictionSet,
    Record,
    _build,
    _check_training_rows,
    _fit_y,
    _state,
    controller,
    map_rows,
)
from nirs_core.pipeline.steps._domain import refit_domain
from nirs_core.pipeline.steps._prediction import (
    check_model,
    inverse_y,
    label_of,
    model_input,
    predict_2d,
    predicted_rows,
    spread,
)
from nirs_core.pipeline.steps.pls_sweep import pls_sweep

# --------------------------------------------------------------------------- model


def fit_model(
    op: dict, name: str | None, lane: Flow, env: Env, path: str, mpath: str, finetune: Any = None
) -> Flow:
    """Fit ``op`` on the lane's training rows and add its prediction set(s) to the lane;
    with ``finetune`` (a model step's ``finetune_params``) its parameters are searched first
    on the training rows (:mod:`nirs_core.pipeline.tuning`)."""
    est = _build(op, mpath)
    check_model(est, env, mpath)
    _check_training_rows(lane, path, type(est).__name__)
    lane, block = model_input(lane, env)
    if finetune is not None:
        est, op = _tuned(est, op, finetune, lane, block, env, path)
    est = sklearn_fast.fast_model(est, int(lane.fit.sum()), block.width, _fit_y(lane, env))
    if env.sweep is not None and path == env.sweep_path:
        if not hasattr(est, "_replay_kwargs"):
            raise ConfigError(f"{mpath}: {type(est).__name__} cannot share a component sweep here.")
        sets = pls_sweep(est, op, lane, block, env, name)
    else:
        est.fit(block.data(lane.fit), _fit_y(lane, env))
        env.stats["fits"] += 1
        node_id = env.next_id(label_of(op))
        kind, kernel, blob, ext, meta = _state(est, env, "predict")
        rec = Record(node_id, kind, (block.head,), op["class"], op["params"], kernel, blob, ext, meta)
        mask = predicted_rows(lane)
        arr, idx = block.row_index(mask)
        y_pred = map_rows(lambda X: predict_2d(est, X), arr, idx)
        proba = None
        if env.task != "regression" and hasattr(est, "predict_proba"):
            proba = map_rows(lambda X: np.asarray(est.predict_proba(X), dtype=np.float64), arr, idx)
            proba = spread(proba, mask)
        y_out, last, inv = inverse_y(lane, env, y_pred, node_id)
        dom = refit_domain(est, lane, block, env)
        sets = [PredictionSet(name or node_id, spread(y_out, mask), last, (rec, *inv), y_proba=proba, domain=dom)]
    return replace(lane, preds=(*lane.preds, *sets), pristine=False)


def _tuned(
    est: Any, op: dict, finetune: Any, lane: Flow, block: Block, env: Env, path: str
) -> tuple[Any, dict]:
    """The model with the best parameters of a search on the lane's training rows, its
    canonical form with them; the search recorded in ``env.stats["tuning"]``."""
    from nirs_core.pipeline import tuning
    from nirs_core.pipeline.scoring import selection_metric

    spec = tuning.check(finetune, None, f"{path}.finetune_params")

    def fit_predict(params: dict, X_fit: np.ndarray, y_fit: np.ndarray, X_val: np.ndarray) -> np.ndarray:
        model = clone(est).set_params(**params)
        model = sklearn_fast.fast_model(model, X_fit.shape[0], X_fit.shape[1], y_fit)
        return predict_2d(model.fit(X_fit, y_fit), X_val)

    X, y = block.data(lane.fit), _fit_y(lane, env)
    found = tuning.tune(fit_predict, X, y, lane.origin[lane.fit], spec, selection_metric(env.task), path)
    env.stats["fits"] += spec.cv * len(found["trials"])
    if env.record:
        env.stats.setdefault("tuning", {})[f"{env.context}/{path}"] = found
    best = found["best_params"]
    return clone(est).set_params(**best), {**op, "params": {**op["params"], **best}}


@controller("model", context=Context.OPERATOR)
def _model(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    finetune = step.get("finetune_params")
    return [fit_model(step["model"], step.get("name"), lane, env, path, f"{path}.model", finetune)]
