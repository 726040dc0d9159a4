"""The ``y_processing`` step: invertible transformers fit on the training targets; the model
learns the transformed targets and its predictions are inverted."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from nirs_core.errors import ConfigError
from nirs_core.pipeline.keywords import Context
from nirs_core.pipeline.steps._base import (
    Env,
    Flow,
    YStep,
    _build,
    _check_training_rows,
    controller,
)

# --------------------------------------------------------------------------- y_processing


@controller("y_processing", context=Context.CHAIN, label_prefix="y", cacheable=True)
def _y_processing(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    if env.task != "regression":
        raise ConfigError(f"{path}: y_processing applies to regression targets; the task is {env.task}.")
    _check_training_rows(lane, path, "y_processing")
    y = lane.y_model
    steps = list(lane.y_steps)
    for j, op in enumerate(step["y_processing"]):
        sub = f"{path}.y_processing[{j}]"
        if "class" not in op:
            raise ConfigError(f"{sub}: expected an operator in a y_processing chain; got a keyword step.")
        est = _build(op, sub)
        if not hasattr(est, "inverse_transform"):
            raise ConfigError(
                f"{sub}: {type(est).__name__} has no inverse_transform; y_processing must be invertible."
            )
        est.fit(y[lane.fit])
        env.stats["fits"] += 1
        y = np.asarray(est.transform(y), dtype=np.float64).reshape(y.shape[0], -1)
        steps.append(YStep(est, op["class"], op["params"]))
    return [replace(lane, y_model=y, y_steps=tuple(steps), pristine=lane.pristine)]
