"""The PLS component sweep: one NIPALS/SIMPLS fit per fold scores every ``n_components`` of a
``_range_`` over our PLS at once (the executor groups such configs, see
:func:`nirs_core.pipeline.executor.sweep_groups`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nirs_core.estimator import clone
from nirs_core.graph.runtime import state_to_bytes
from nirs_core.pipeline.steps._base import (
    Block,
    Env,
    Flow,
    PredictionSet,
    Record,
    _fit_y,
    map_rows,
)
from nirs_core.pipeline.steps._domain import refit_domain
from nirs_core.pipeline.steps._prediction import (
    inverse_y,
    label_of,
    predicted_rows,
    replay_function,
    spread,
)


def pls_sweep(est: Any, op: dict, lane: Flow, block: Block, env: Env, label: str | None):
    """One fit per distinct algorithm with the largest n_components, predictions for every
    swept n_components from its coefficient path (bit-identical to a fit with that count)."""
    from nirs_core.models._kernels import select_algorithm

    y_fit = _fit_y(lane, env)
    n, p = int(lane.fit.sum()), block.width
    mask = predicted_rows(lane)
    head = block.head
    groups: dict[Any, list[int]] = {}
    for a in env.sweep:
        algo = op["params"].get("algorithm", "auto")
        key = select_algorithm(n, p, a) if algo == "auto" else algo
        groups.setdefault(key, []).append(a)
    out = []
    for values in groups.values():
        # fit first (its rows are a view, or a copy released before predicting)
        big = clone(est).set_params(n_components=max(values)).fit(block.data(lane.fit), y_fit)
        env.stats["fits"] += 1
        arr, idx = block.row_index(mask)

        kernel_fn = replay_function(big)

        def predict_all(
            X: np.ndarray, big: Any = big, values: list[int] = values, fn: Any = kernel_fn
        ) -> np.ndarray:
            # the replay kernel itself, as predict(X, n_components=a) calls it, without
            # re-validating the block for every count
            return np.hstack([fn(X, **big._replay_kwargs(a)).reshape(X.shape[0], -1) for a in values])

        # the rows to predict are gathered once (block by block) for every count
        all_preds = map_rows(predict_all, arr, idx)
        q = all_preds.shape[1] // len(values)
        for j, a in enumerate(values):
            base_counter = env.counter
            node_id = env.next_id(label_of(op))
            kwargs = big._replay_kwargs(a)
            y_pred = np.ascontiguousarray(all_preds[:, j * q : (j + 1) * q])
            params = {**op["params"], "n_components": a}
            kernel = big.replay_spec()[0]
            blob = state_to_bytes(kwargs) if env.record else None
            rec = Record(node_id, "model", (head,), op["class"], params, kernel, blob)
            y_out, last, inv = inverse_y(lane, env, y_pred, node_id)
            dom = refit_domain(big, lane, block, env, a)
            out.append(
                PredictionSet(label or node_id, spread(y_out, mask), last, (rec, *inv), variant=a, domain=dom)
            )
            env.counter = base_counter  # every variant takes the same node ids
    env.counter += 1 + len(lane.y_steps)
    out.sort(key=lambda ps: env.sweep.index(ps.variant))
    return out
