"""The result of one pipeline config on one dataset: what the executor returns and what a run
stores in the workspace (``runs/<run_id>/results/<dataset>/<config_id>/manifest.yaml``, the
artefacts under ``artifacts/`` and the prediction rows in ``predictions/<dataset>.parquet``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nirs_core.graph.runtime import RuntimeGraph

GRAPH_FILE = "graph.json"  # beside manifest.yaml in the result's folder

__all__ = ["FailedResult", "Result"]


@dataclass
class Result:
    """One dataset × one pipeline config.

    ``metric`` is the config's selection metric (``rmse`` for regression, ``accuracy`` for
    classification; its direction is in :data:`nirs_core.metrics.METRICS`). ``cv_score`` is
    that metric on the pooled out-of-fold predictions of the calibration set (RMSECV);
    ``test_score`` on the test partition by the model refit on the whole calibration set
    (RMSEP), ``None`` without a test partition. ``scores`` holds every metric per partition
    (``val`` = pooled out-of-fold, ``train`` = refit on calibration, ``test``).

    ``predictions`` are rows in the schema of :mod:`nirs_core.store.predictions` (one per
    model × fold × partition, fold −1 for the refit, −2 for the pooled out-of-fold row).
    ``graph`` is the runtime DAG; each node's ``artifacts`` maps a fit name (``refit``,
    ``fold_0``…) to a file name ``<sha256>.<ext>`` that is a key of ``artifacts`` (the bytes:
    ``.npz`` from :func:`nirs_core.graph.runtime.state_to_bytes`, ``.pkl`` cloudpickle for
    third-party estimators).
    """

    dataset: str
    config_id: str
    config_name: str
    config: list[Any]
    choices: list[dict[str, Any]]
    task: str
    metric: str
    cv_score: float | None
    test_score: float | None
    scores: dict[str, dict[str, float]]
    n_train: int
    n_test: int
    predictions: list[dict[str, Any]]
    graph: RuntimeGraph
    artifacts: dict[str, bytes] = field(default_factory=dict)
    template_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        """Everything but the arrays, the artefact bytes and the runtime graph, as plain
        YAML/JSON values. The graph is stored beside the manifest as ``graph.json``
        (:data:`GRAPH_FILE`), which the manifest names: JSON is its format everywhere
        (bundles too), and a graph is most of a result's metadata."""
        return {
            "dataset": self.dataset,
            "config_id": self.config_id,
            "config_name": self.config_name,
            "template_id": self.template_id,
            "config": self.config,
            "choices": self.choices,
            "task": self.task,
            "metric": self.metric,
            "cv_score": self.cv_score,
            "test_score": self.test_score,
            "scores": self.scores,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "graph": GRAPH_FILE,
            "artifacts": sorted(self.artifacts),
            "timings": self.timings,
            "info": self.info,
        }


@dataclass
class FailedResult:
    """One dataset × one pipeline config that could not be computed on that dataset (too many
    components for its rows, a singular fit…): what ``execute_batch(..., isolate=True)``
    returns in its place, and what a run stores as a manifest with ``status: failed``."""

    dataset: str
    config_id: str
    config_name: str
    config: list[Any]
    choices: list[dict[str, Any]]
    error: str
    error_type: str
    template_id: str | None = None
    artifacts: dict[str, bytes] = field(default_factory=dict)  # none: the shape of a Result's

    def manifest(self) -> dict[str, Any]:
        """The failure as plain YAML/JSON values: the config, the error and its type."""
        return {
            "status": "failed",
            "dataset": self.dataset,
            "config_id": self.config_id,
            "config_name": self.config_name,
            "template_id": self.template_id,
            "config": self.config,
            "choices": self.choices,
            "error": self.error,
            "error_type": self.error_type,
        }
