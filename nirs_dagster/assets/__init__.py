"""The eight assets; their lineage is the pipeline's (design.md §4)::

spectra ─▶ preprocessed ─▶ fitted_pipeline ─▶ predictions ─▶ leaderboard ─▶ datasheet
[dataset]  [dataset×config] [dataset×config]  [dataset×config] [dataset]     model_bundle ─▶ champion_model
                                                                                    [dataset]       [dataset]
"""

from nirs_dagster.assets.data import spectra
from nirs_dagster.assets.modelling import fitted_pipeline, predictions, preprocessed
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
    "preprocessed",
    "spectra",
]

ALL_ASSETS = [
    spectra,
    preprocessed,
    fitted_pipeline,
    predictions,
    leaderboard,
    datasheet,
    model_bundle,
    champion_model,
]
