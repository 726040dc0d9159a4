"""The ``branch`` step: parallel sub-pipelines on copies of the lane; later steps run in each."""

from __future__ import annotations

from dataclasses import replace

from nirs_core.pipeline.cache import processing_key
from nirs_core.pipeline.keywords import Context
from nirs_core.pipeline.steps._base import (
    Env,
    Flow,
    controller,
)

# --------------------------------------------------------------------------- branch


@controller("branch", context=Context.BRANCHES)
def _branch(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    payload = step["branch"]
    items = (
        list(payload.items()) if isinstance(payload, dict) else [(str(i), c) for i, c in enumerate(payload)]
    )
    out: list[Flow] = []
    for i, (name, chain) in enumerate(items):
        sub = f"{path}.branch[{name!r}]" if isinstance(payload, dict) else f"{path}.branch[{i}]"
        start = replace(
            lane,
            key=processing_key(lane.key, f"branch:{name}") if lane.key else "",
            branch_origin=lane,
            branch_steps=(),
            label=f"{lane.label}/{name}" if lane.label else name,
            preds=(),
        )
        out.extend(env.run_steps(chain, [start], sub))
    return out
