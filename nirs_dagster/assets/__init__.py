"""The seven assets; their lineage is the pipeline's (design.md §4)::

spectra ─▶ preprocessed ─▶ fitted_pipeline ─▶ predictions ─▶ leaderboard ─▶ datasheet
[dataset]  [dataset×config] [dataset×config]  [dataset×config] [dataset]     model_bundle [dataset]
"""

from nirs_dagster.assets.data import spectra
from nirs_dagster.assets.modelling import fitted_pipeline, predictions, preprocessed
from nirs_dagster.assets.reporting import datasheet, leaderboard, model_bundle

__all__ = [
    "ALL_ASSETS",
    "datasheet",
    "fitted_pipeline",
    "leaderboard",
    "model_bundle",
    "predictions",
    "preprocessed",
    "spectra",
]

ALL_ASSETS = [spectra, preprocessed, fitted_pipeline, predictions, leaderboard, datasheet, model_bundle]
