"""The workspace: the folder that holds runs, the datasets registry, fitted artefacts,
predictions and bundles (layout in design.md §5)::

    <root>/
    ├── datasets.yaml                       registry (nirs_core.store.registry)
    ├── runs/<run_id>/
    │   ├── run.yaml                        status, timestamps, name, info, checkpoints
    │   ├── templates/<template_id>.yaml    verbatim, before expansion
    │   ├── configs.yaml                    expanded configs
    │   ├── datasets.yaml                   references into the registry
    │   └── results/<dataset>/<config_id>/manifest.yaml
    ├── artifacts/<sha256>.<ext>            content-addressed
    ├── predictions/<dataset>.parquet       footer holds a JSON summary
    └── bundles/<name>.zip

Every file is written atomically (nirs_core.store._atomic); ``run.yaml`` is changed under the
run's lock, the registry under the ``datasets`` lock, a predictions file under its own lock.

A run's status follows :data:`TRANSITIONS`::

    queued ──▶ running ──▶ completed
      │          │ ├─────▶ failed ──▶ running   (resume)
      │          │ └─────▶ paused ──▶ running | cancelled
      └──────────┴───────▶ cancelled

``completed`` and ``cancelled`` are final. A checkpoint (``<dataset>/<config_id>``) is added to
``run.yaml`` when a result's manifest is written; a resumed run skips the checkpointed results.
A config that could not be computed on a dataset is a *failed result*: its manifest holds
``status: failed`` and the error, and its key is listed under ``failed`` in ``run.yaml``
(a resumed run skips it unless asked to retry; a later success moves it to the checkpoints).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from nirs_core.errors import ConfigError, DataError, NirsError
from nirs_core.store import predictions as _predictions
from nirs_core.store._atomic import (
    YAML_LOADER,
    atomic_write_bytes,
    atomic_write_text,
    atomic_write_yaml,
    cleanup_partial,
    is_partial_name,
)
from nirs_core.store.lock import DEFAULT_TIMEOUT, workspace_lock
from nirs_core.store.registry import DatasetRegistry

__all__ = [
    "TRANSITIONS",
    "RunRecord",
    "RunStatus",
    "RunTransitionError",
    "Workspace",
    "check_transition",
    "graph_text",
    "result_key",
]

#: Bytes a running run keeps in ``<workspace>/.reserve``, freed to record a full disk.
RESERVE_BYTES = 256 << 10
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXT = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)*$")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _segment(kind: str, value: str) -> str:
    """``value`` when it is safe as one path segment (no separator, no leading dot)."""
    if not isinstance(value, str) or not _SEGMENT.match(value) or value.endswith(".lock"):
        raise ConfigError(
            f"workspace: {kind} must match {_SEGMENT.pattern} (it becomes a file or folder name); got {value!r}."
        )
    return value


def result_key(dataset: str, config_id: str) -> str:
    """The checkpoint key of a result: ``<dataset>/<config_id>``."""
    return f"{_segment('dataset', dataset)}/{_segment('config_id', config_id)}"


def graph_text(graph: Any) -> str:
    """The text of a result's ``graph.json``: its runtime graph as compact JSON."""
    return graph.to_json(indent=None) + "\n"


# ----------------------------------------------------------------------------- run status


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PAUSED = "paused"
    CANCELLED = "cancelled"


TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.PAUSED, RunStatus.CANCELLED}
    ),
    RunStatus.PAUSED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.FAILED: frozenset({RunStatus.RUNNING}),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}


class RunTransitionError(NirsError, ValueError):
    """A run was asked to change status along an edge that :data:`TRANSITIONS` does not have."""


def _status(value: str | RunStatus, where: str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        raise RunTransitionError(
            f"{where}: status must be one of {[s.value for s in RunStatus]}; got {value!r}."
        ) from None


def check_transition(current: str | RunStatus, target: str | RunStatus, where: str = "run") -> RunStatus:
    """Return ``target`` as a :class:`RunStatus` when ``current → target`` is allowed; raise
    :class:`RunTransitionError` naming both otherwise."""
    a, b = _status(current, where), _status(target, where)
    if b not in TRANSITIONS[a]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[a])) or f"none ({a.value!r} is final)"
        raise RunTransitionError(
            f"{where}: cannot change status from {a.value!r} to {b.value!r}; allowed from {a.value!r}: {allowed}."
        )
    return b


@dataclass
class RunRecord:
    """The content of ``run.yaml``."""

    run_id: str
    name: str
    status: RunStatus = RunStatus.QUEUED
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, str]] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> RunRecord:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping; got {type(data).__name__}.")
        try:
            record = cls(**data)
        except TypeError as exc:
            raise ConfigError(f"{where}: malformed run record ({exc}).") from None
        record.status = _status(record.status, where)
        return record


# ----------------------------------------------------------------------------- workspace


class Workspace:
    """A workspace folder: path helpers, runs, artefacts, predictions, the registry and a
    summary. Creates its top-level folders on construction."""

    def __init__(self, root: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.root = Path(root).resolve()
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"Workspace: expected a folder at {self.root}; found a file.")
        self.lock_timeout = lock_timeout
        for folder in (self.runs_dir, self.artifacts_dir, self.predictions_dir, self.bundles_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.datasets = DatasetRegistry(self.root, lock_timeout=lock_timeout)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -- paths

    @property
    def datasets_path(self) -> Path:
        return self.root / "datasets.yaml"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def predictions_dir(self) -> Path:
        return self.root / "predictions"

    @property
    def bundles_dir(self) -> Path:
        return self.root / "bundles"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / _segment("run_id", run_id)

    def run_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "run.yaml"

    def template_path(self, run_id: str, template_id: str) -> Path:
        return self.run_dir(run_id) / "templates" / f"{_segment('template_id', template_id)}.yaml"

    def configs_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "configs.yaml"

    def run_datasets_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "datasets.yaml"

    def result_dir(self, run_id: str, dataset: str, config_id: str) -> Path:
        return (
            self.run_dir(run_id) / "results" / _segment("dataset", dataset) / _segment("config_id", config_id)
        )

    def manifest_path(self, run_id: str, dataset: str, config_id: str) -> Path:
        return self.result_dir(run_id, dataset, config_id) / "manifest.yaml"

    def graph_path(self, run_id: str, dataset: str, config_id: str) -> Path:
        return self.result_dir(run_id, dataset, config_id) / "graph.json"

    def artifact_path(self, sha256: str, ext: str) -> Path:
        if not isinstance(sha256, str) or not _SHA256.match(sha256):
            raise ConfigError(
                f"{self.artifacts_dir}: artefact id must be 64 lowercase hex digits; got {sha256!r}."
            )
        if not isinstance(ext, str) or not _EXT.match(ext):
            raise ConfigError(
                f"{self.artifacts_dir}: artefact extension must match {_EXT.pattern} (no leading dot); got {ext!r}."
            )
        return self.artifacts_dir / f"{sha256}.{ext}"

    def predictions_path(self, dataset: str) -> Path:
        return self.predictions_dir / f"{_segment('dataset', dataset)}.parquet"

    def bundle_path(self, name: str) -> Path:
        return self.bundles_dir / _segment("bundle name", name)

    # -- artefacts

    def put_artifact(self, data: bytes, ext: str) -> str:
        """Store ``data`` as ``artifacts/<sha256>.<ext>`` (once: storing it again is a no-op)
        and return its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.artifact_path(sha, ext)
        try:
            stored = os.stat(path).st_size == len(data)
        except FileNotFoundError:
            stored = False
        if not stored:
            atomic_write_bytes(path, data)
        return sha

    def get_artifact(self, sha256: str, ext: str, *, verify: bool = True) -> bytes:
        """The bytes of an artefact; with ``verify``, check that they still hash to its id."""
        path = self.artifact_path(sha256, ext)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such artefact in {self.artifacts_dir}.")
        data = path.read_bytes()
        if verify:
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha256:
                raise DataError(
                    f"{path}: content hashes to sha256 {actual}; expected {sha256} (the file was modified or corrupted)."
                )
        return data

    # -- runs

    def _run_lock(self, run_id: str):
        return workspace_lock(self.root, f"run-{_segment('run_id', run_id)}", timeout=self.lock_timeout)

    def new_run_id(self) -> str:
        """A fresh, sortable run id: ``YYYYmmdd-HHMMSS-<6 hex>`` (UTC)."""
        return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"

    def create_run(
        self,
        name: str,
        *,
        run_id: str | None = None,
        info: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> RunRecord:
        """Create ``runs/<run_id>/run.yaml`` with status ``queued`` (and ``tags``: who or what
        made the run) and return the record."""
        run_id = run_id or self.new_run_id()
        with self._run_lock(run_id):
            path = self.run_path(run_id)
            if path.exists():
                raise ConfigError(f"{path}: run {run_id!r} already exists; expected a new run id.")
            record = RunRecord(run_id=run_id, name=name, info=dict(info or {}), tags=dict(tags or {}))
            record.history.append({"status": record.status.value, "at": record.created_at})
            atomic_write_yaml(path, record.to_dict())
        return record

    def load_run(self, run_id: str) -> RunRecord:
        """The record in ``runs/<run_id>/run.yaml``."""
        path = self.run_path(run_id)
        if not path.is_file():
            known = ", ".join(self.run_ids()) or "none"
            raise FileNotFoundError(f"{path}: no run {run_id!r} in {self.root} (runs: {known}).")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc}).") from None
        return RunRecord.from_dict(data, str(path))

    def run_ids(self) -> list[str]:
        """Ids of the runs that have a ``run.yaml``, sorted (oldest first for generated ids)."""
        return sorted(p.parent.name for p in self.runs_dir.glob("*/run.yaml"))

    def runs(self) -> list[RunRecord]:
        return [self.load_run(run_id) for run_id in self.run_ids()]

    def set_run_status(self, run_id: str, status: str | RunStatus, *, error: str | None = None) -> RunRecord:
        """Move the run to ``status`` (a valid transition, else :class:`RunTransitionError`),
        stamp the time and return the updated record."""
        with self._run_lock(run_id):
            record = self.load_run(run_id)
            target = check_transition(record.status, status, str(self.run_path(run_id)))
            now = _now()
            record.status, record.updated_at = target, now
            if target is RunStatus.RUNNING:
                record.started_at = record.started_at or now
                record.finished_at, record.error = None, None
            elif target in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED):
                record.finished_at = now
            if error is not None:
                record.error = error
            record.history.append({"status": target.value, "at": now})
            atomic_write_yaml(self.run_path(run_id), record.to_dict())
            return record

    def reopen_failed(self, run_id: str) -> RunRecord:
        """Move a ``completed`` run that has failed results back to ``paused`` so that a resume
        retries them (the one way out of ``completed``); ``RunTransitionError`` otherwise."""
        with self._run_lock(run_id):
            record = self.load_run(run_id)
            if record.status is not RunStatus.COMPLETED or not record.failed:
                raise RunTransitionError(
                    f"{self.run_path(run_id)}: only a completed run with failed results reopens to "
                    f"retry them; this one is {record.status.value!r} with {len(record.failed)} failed."
                )
            now = _now()
            record.status, record.updated_at, record.finished_at = RunStatus.PAUSED, now, None
            record.history.append(
                {"status": RunStatus.PAUSED.value, "at": now, "why": "retry failed results"}
            )
            atomic_write_yaml(self.run_path(run_id), record.to_dict())
            return record

    def add_checkpoint(self, run_id: str, dataset: str, config_id: str) -> RunRecord:
        """Record that the result ``dataset × config_id`` of the run is complete (idempotent)."""
        return self.add_checkpoints(run_id, dataset, [config_id])

    def add_checkpoints(self, run_id: str, dataset: str, config_ids: Sequence[str]) -> RunRecord:
        """Record that the results ``dataset × config_ids`` of the run are complete, in one
        write of ``run.yaml`` (idempotent)."""
        with self._run_lock(run_id):
            record = self.load_run(run_id)
            known = set(record.checkpoints)
            keys = [result_key(dataset, c) for c in config_ids]
            new = [k for k in keys if k not in known]
            retried = set(keys) & set(record.failed)
            if new or retried:
                record.checkpoints.extend(dict.fromkeys(new))
                record.failed = [k for k in record.failed if k not in retried]
                record.updated_at = _now()
                atomic_write_yaml(self.run_path(run_id), record.to_dict())
            return record

    def add_failed(self, run_id: str, dataset: str, config_ids: Sequence[str]) -> RunRecord:
        """Record that the results ``dataset × config_ids`` failed (their manifests hold the
        error), in one write of ``run.yaml`` (idempotent)."""
        with self._run_lock(run_id):
            record = self.load_run(run_id)
            known = set(record.failed)
            new = [k for k in (result_key(dataset, c) for c in config_ids) if k not in known]
            if new:
                record.failed.extend(dict.fromkeys(new))
                record.updated_at = _now()
                atomic_write_yaml(self.run_path(run_id), record.to_dict())
            return record

    def failed_results(self, run_id: str) -> set[str]:
        """Keys of the run's failed results whose manifest exists."""
        record = self.load_run(run_id)
        return {k for k in record.failed if self.manifest_path(run_id, *k.split("/", 1)).is_file()}

    def completed_results(self, run_id: str) -> set[str]:
        """Checkpoint keys of the run whose manifest exists (what a resumed run skips)."""
        record = self.load_run(run_id)
        done = set()
        for key in record.checkpoints:
            dataset, config_id = key.split("/", 1)
            if self.manifest_path(run_id, dataset, config_id).is_file():
                done.add(key)
        return done

    def write_template(
        self, run_id: str, template_id: str, template: str | Mapping[str, Any] | Sequence[Any]
    ) -> Path:
        """Store a template verbatim: YAML/JSON text as given, an object as YAML."""
        path = self.template_path(run_id, template_id)
        if isinstance(template, str):
            return atomic_write_text(path, template)
        return atomic_write_yaml(path, template)

    def write_configs(self, run_id: str, configs: Sequence[Mapping[str, Any]]) -> Path:
        return atomic_write_yaml(self.configs_path(run_id), {"configs": [dict(c) for c in configs]})

    def write_run_datasets(self, run_id: str, datasets: Sequence[Mapping[str, Any]]) -> Path:
        return atomic_write_yaml(self.run_datasets_path(run_id), {"datasets": [dict(d) for d in datasets]})

    def write_manifest(
        self, run_id: str, dataset: str, config_id: str, manifest: Mapping[str, Any] | str
    ) -> Path:
        """Store a result's manifest: a mapping as YAML, or a ``str`` already rendered by
        :func:`~nirs_core.store._atomic.dump_yaml` (where the result was computed)."""
        path = self.manifest_path(run_id, dataset, config_id)
        if isinstance(manifest, str):
            return atomic_write_text(path, manifest)
        return atomic_write_yaml(path, dict(manifest))

    def read_manifest(self, run_id: str, dataset: str, config_id: str) -> dict[str, Any]:
        path = self.manifest_path(run_id, dataset, config_id)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no manifest for result {dataset}/{config_id} of run {run_id!r}."
            )
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc}).") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping; got {type(data).__name__}.")
        return data

    def write_graph(self, run_id: str, dataset: str, config_id: str, graph: Any) -> Path:
        """Store a result's runtime graph (a :class:`RuntimeGraph`, or the ``str`` that
        :func:`graph_text` made of it) as its ``graph.json``."""
        text = graph if isinstance(graph, str) else graph_text(graph)
        return atomic_write_text(self.graph_path(run_id, dataset, config_id), text)

    def read_graph(self, run_id: str, dataset: str, config_id: str) -> Any:
        """The runtime graph of a stored result (its ``graph.json``)."""
        from nirs_core.graph.runtime import GraphError, RuntimeGraph

        path = self.graph_path(run_id, dataset, config_id)
        try:
            return RuntimeGraph.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path}: no runtime graph for result {dataset}/{config_id} of run {run_id!r}."
            ) from None
        except (ValueError, KeyError, TypeError, GraphError) as exc:
            raise ConfigError(f"{path}: not a runtime graph ({exc}).") from None

    # -- predictions

    def append_predictions(self, dataset: str, rows: Any) -> dict[str, Any]:
        """Append rows to ``predictions/<dataset>.parquet``; return its new summary."""
        return _predictions.append_predictions(
            self.predictions_path(dataset), rows, lock_timeout=self.lock_timeout
        )

    def read_predictions(self, dataset: str, **filters: Any):
        return _predictions.read_predictions(self.predictions_path(dataset), **filters)

    def predictions_summary(self, dataset: str) -> dict[str, Any]:
        return _predictions.read_summary(self.predictions_path(dataset))

    def prediction_files(self) -> list[Path]:
        return sorted(p for p in self.predictions_dir.glob("*.parquet") if not is_partial_name(p.name))

    def rebuild_summaries(self) -> dict[str, dict[str, Any]]:
        """Recompute the footer summary of every predictions file; ``{dataset: summary}``."""
        return {
            p.stem: _predictions.rebuild_summary(p, lock_timeout=self.lock_timeout)
            for p in self.prediction_files()
        }

    # -- maintenance

    @property
    def reserve_path(self) -> Path:
        return self.root / ".reserve"

    def reserve_space(self) -> None:
        """Keep :data:`RESERVE_BYTES` of the file system in ``.reserve``: when a run fills the
        disk, :meth:`release_reserve` frees them so that the run's record can still say so."""
        if self.reserve_path.is_file() and self.reserve_path.stat().st_size >= RESERVE_BYTES:
            return
        with open(self.reserve_path, "wb") as fh:
            fh.write(bytes(RESERVE_BYTES))  # real blocks (a sparse file would reserve nothing)

    def release_reserve(self) -> None:
        """Free the space kept by :meth:`reserve_space`."""
        with contextlib.suppress(FileNotFoundError):
            self.reserve_path.unlink()

    def cleanup_partial(self, *, force: bool = False) -> list[Path]:
        """Remove the temporary files of interrupted writes (see :func:`cleanup_partial`)."""
        return cleanup_partial(self.root, force=force)

    def summary(self) -> dict[str, Any]:
        """Counts and best scores, read from small files and parquet footers only."""
        runs = self.runs()
        entries = self.datasets.entries()
        artifacts = [p for p in self.artifacts_dir.iterdir() if p.is_file() and not is_partial_name(p.name)]
        predictions: dict[str, Any] = {}
        for path in self.prediction_files():
            footer = _predictions.read_summary(path)
            rankings = footer["top_k"]["rankings"]
            best = {
                metric: {p: ranked[0] for p, ranked in rankings.get(metric, {}).items() if ranked}
                for metric in footer["facets"]["metrics"]
            }
            predictions[path.stem] = {
                "rows": footer["n_rows"],
                "configs": len(footer["configs"]),
                "best": best,
                "ranked": rankings,  # per metric and partition, the top-k configs (best first)
            }
        return {
            "root": str(self.root),
            "runs": {
                "total": len(runs),
                "by_status": dict(sorted(Counter(r.status.value for r in runs).items())),
            },
            "datasets": {
                "total": len(entries),
                "by_status": dict(sorted(Counter(e.status for e in entries).items())),
            },
            "run_list": [
                {
                    "run_id": r.run_id,
                    "name": r.name,
                    "status": r.status.value,
                    "created_at": r.created_at,
                    "results": len(r.checkpoints),
                    "tags": dict(r.tags),
                }
                for r in runs
            ],
            "results": sum(1 for _ in self.runs_dir.glob("*/results/*/*/manifest.yaml")),
            "failed_results": sum(len(r.failed) for r in runs),
            "artifacts": {"count": len(artifacts), "bytes": sum(p.stat().st_size for p in artifacts)},
            "predictions": predictions,
        }
