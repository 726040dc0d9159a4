"""The seven assets; their lineage is the pipeline's (design.md §4)::

spectra ─▶ fitted_pipeline ─▶ predictions ─▶ leaderboard ─▶ datasheet
[dataset]  [dataset×config]   [dataset×config] [dataset]     model_bundle ─▶ champion_model
                                                                   [dataset]       [dataset]

From ``fitted_pipeline`` on, the values are references into the engine's workspace
(:mod:`nirs_dagster.records`): a run of these assets is an engine run.
"""

from nirs_dagster.assets.data import spectra
from nirs_dagster.assets.modelling import fitted_pipeline, predictions
from nirs_dagster.assets.registry import champion_model
from nirs_dagster.assets.reporting import datasheet, leaderboard, model_bundle

__all__ = [
    "ALL_ASSETS",
    "champion_model",
    "datasheet",
    "fitted_pipeline",
    "leaderboard",
    "model_bundle",
    "predictions",
    "spectra",
]

ALL_ASSETS = [spectra, fitted_pipeline, predictions, leaderboard, datasheet, model_bundle, champion_model]
