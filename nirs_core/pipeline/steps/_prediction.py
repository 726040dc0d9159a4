"""What every model-like step shares (``model``, the PLS sweep, stacking): the model's input
block, the rows it predicts, predictions spread back to every row, y_processing inverted, the
model checked against the task and its replay kernel."""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any

import cloudpickle
import numpy as np

from nirs_core.errors import ConfigError
from nirs_core.estimator import is_classifier
from nirs_core.graph.runtime import state_to_bytes
from nirs_core.pipeline import sklearn_fast
from nirs_core.pipeline.steps._base import (
    Block,
    Env,
    Flow,
    Record,
    _label,
)

# --------------------------------------------------------------------------- model


def model_input(lane: Flow, env: Env) -> tuple[Flow, Block]:
    """The lane's features as one block (sources side by side, a ``concat`` node when several)."""
    if len(lane.blocks) == 1:
        return lane, lane.blocks[0]
    node_id = env.next_id("concat")
    X = np.hstack([b.data() for b in lane.blocks])
    rec = Record(node_id, "concat", tuple(b.head for b in lane.blocks), meta={"layout": "2d"})
    block = Block(X, node_id, None, "+".join(b.source for b in lane.blocks))
    return replace(lane, blocks=(block,), records=(*lane.records, rec), pristine=False), block


def predicted_rows(lane: Flow) -> np.ndarray:
    """Rows whose predictions are used: every row that is not a training row, and the
    reported training rows (the refit's calibration samples)."""
    return ~lane.fit | (lane.report != "")


def spread(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full((mask.shape[0], values.shape[1]), np.nan)
    out[mask] = values
    return out


def predict_2d(est: Any, X: np.ndarray) -> np.ndarray:
    pred = np.asarray(est.predict(X))
    return pred.reshape(pred.shape[0], -1).astype(np.float64, copy=False)


def inverse_y(lane: Flow, env: Env, y_pred: np.ndarray, parent: str) -> tuple[np.ndarray, str, list[Record]]:
    """Predictions (of the predicted rows) back in target units, and the inverse nodes."""
    records = []
    for ys in reversed(lane.y_steps):
        node_id = env.next_id(_label(ys.class_path) + "_inverse")
        y_pred = np.asarray(ys.estimator.inverse_transform(y_pred), dtype=np.float64).reshape(
            y_pred.shape[0], -1
        )
        spec = getattr(ys.estimator, "inverse_replay_spec", None)
        exported = sklearn_fast.inverse_replay_spec(ys.estimator) if spec is None else None
        if spec is not None or exported is not None:
            kernel, kwargs = exported if exported is not None else spec()
            blob = state_to_bytes(kwargs) if env.record else None
            records.append(Record(node_id, "y_inverse", (parent,), ys.class_path, ys.params, kernel, blob))
        else:
            blob = cloudpickle.dumps(ys.estimator) if env.record else None
            meta = {"method": "inverse_transform", "role": "y_inverse"}
            records.append(
                Record(node_id, "pickled", (parent,), ys.class_path, ys.params, None, blob, "pkl", meta)
            )
        parent = node_id
    return y_pred, parent, records


def check_model(est: Any, env: Env, path: str) -> None:
    name = type(est).__name__
    if not hasattr(est, "predict"):
        raise ConfigError(f"{path}: {name} has no predict; a model step needs a regressor or classifier.")
    classifier = is_classifier(est)
    if env.task == "regression" and classifier:
        raise ConfigError(f"{path}: {name} is a classifier; the dataset's task is regression.")
    if env.task != "regression" and not classifier:
        raise ConfigError(
            f"{path}: {name} is not a classifier; the dataset's task is {env.task} (use PLSDA or a classifier)."
        )


def replay_function(est: Any) -> Any:
    """The kernel function a fitted model's ``replay_spec()`` names (``"module:function"``)."""
    module_name, _, func_name = est.replay_spec()[0].partition(":")
    return getattr(importlib.import_module(module_name), func_name)


def label_of(op: dict) -> str:
    return _label(op["class"])
