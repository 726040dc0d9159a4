"""The applicability domain of a refit model, computed where the model is fit (its training
rows are at hand): :mod:`nirs_core.models.domain`, stored by the executor as a ``domain`` node."""

from __future__ import annotations

from typing import Any

from nirs_core.pipeline.steps._base import Block, Env, Flow

__all__ = ["refit_domain"]


def refit_domain(est: Any, lane: Flow, block: Block, env: Env, n_components: int | None = None):
    """The applicability domain of a refit model on its training rows (input node, state,
    meta), or None: in cross-validation folds, unrecorded contexts, and for a stack's meta-model
    (whose input are predictions, not spectra)."""
    if env.context != "refit" or not env.record:
        return None
    if any(r.id == block.head and r.kind == "stack" for r in lane.records) or int(lane.fit.sum()) < 3:
        return None
    from nirs_core.models.domain import fit_domain, test_flags

    state, meta = fit_domain(est, block.data(lane.fit), n_components=n_components)
    test = lane.report == "test"
    if test.any():  # how many test spectra the refit model would flag (the leaderboard's warning)
        meta.update(test_flags(state, meta, block.data(test)))
    return block.head, state, meta
