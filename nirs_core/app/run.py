"""Runs: templates × datasets → results, stored in a workspace, resumable after a crash.

:func:`run` is the explicit API (design.md §6)::

    import nirs_core
    r = nirs_core.run(templates=["examples/corn_pls_sweep.yaml"], datasets=["data/corn"],
                      workspace="ws", name="corn sweep")
    r.status            # "completed"
    r.results[0]        # {"dataset": "corn", "config_name": "0000_SNV_PLS-nc2_cd6e6f46", "cv_score": …}
    r.best("corn")      # the result with the best cv_score, following the metric's direction

What a run does, in order:

1. **Validate** (nothing is written yet): every template is read and expanded
   (:func:`nirs_core.pipeline.generators.expand` builds every config and resolves every
   operator; a bad template raises :class:`~nirs_core.errors.ConfigError` naming its file and
   the path inside it), every dataset path must exist. A dataset given as a
   :class:`~nirs_core.data.SpectroDataset` object is saved into ``<workspace>/datasets/`` so
   that a resumed run can read it back.
2. **Create** ``runs/<run_id>/run.yaml`` (status ``queued``, the dataset specs in ``info``),
   store each template verbatim (``templates/<template_id>.yaml``, before expansion) and the
   expanded configs (``configs.yaml``, with their choices and ids).
3. **Run** (status ``running``): each dataset is loaded, then registered in the workspace
   registry (``datasets.yaml``, identity by content hash; a name already taken by other
   content gets the sha256 prefix appended, ``corn-1a2b3c4d``); the run's ``datasets.yaml``
   references the registry entries. Per dataset, the configs not yet completed are executed
   with :func:`nirs_core.pipeline.executor.execute_batch` in groups: the configs of a
   component sweep (equal but for the ``n_components`` of their final model) together, so
   that the executor scores them from one fit per fold; the others one by one. One bounded
   preprocessing cache (``cache_bytes``) is shared by the groups of a dataset. Each result
   is stored in a fixed order: its artefacts (content-addressed), its ``graph.json`` and
   its ``manifest.yaml`` (atomically), its rows in ``predictions/<dataset>.parquet``, and
   last its checkpoint in ``run.yaml``. Results are committed in batches (every
   ``NIRS_COMMIT_SECONDS`` (1 s) of computation, at the end of a dataset, and when the run stops
   on an error or Ctrl-C): one fsync of the file system for the batch's files, one append
   of its rows, one write of its checkpoints. A result is complete when it is checkpointed;
   a manifest without a checkpoint marks a process killed in between, and the resumed run
   recomputes that result without appending its rows a second time.
4. **End**: ``completed``; on an error ``failed`` with the error recorded (and the error
   re-raised); on Ctrl-C ``paused`` (:class:`RunPaused`, a ``KeyboardInterrupt``, is raised).

:func:`resume` finishes a run that was paused, failed or killed (a run left ``running`` by a
dead process: SIGKILL, power cut): it removes the temporary files of interrupted writes,
finds the datasets again through the registry (at their registered path, else by size and
hash under the candidate folders), skips the checkpointed results and runs the rest. The
computation is deterministic, so the final scores equal those of an uninterrupted run.
While a process executes a run it holds the workspace lock ``exec-<run_id>`` (released by
the kernel if the process dies), so a run is never executed by two processes at once.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nirs_core.errors import ConfigError, DataError, NirsError
from nirs_core.metrics import badness, get_metric
from nirs_core.names import check_name, safe_name
from nirs_core.pipeline.cache import DEFAULT_MAX_BYTES
from nirs_core.pipeline.generators import (
    LoadedTemplate,
    PipelineConfig,
    expand,
    load_template,
    template_id,
    template_to_json,
)
from nirs_core.pipeline.serialize import canonical_json
from nirs_core.store._atomic import is_partial_name, synced_together
from nirs_core.store.lock import LockTimeoutError, workspace_lock
from nirs_core.store.workspace import RunStatus, Workspace, result_key

__all__ = ["RESULT_KEYS", "Run", "RunPaused", "cancel", "load_run", "resume", "run"]

#: The keys of each entry of :attr:`Run.results` (and of ``nirs run --json``'s ``results``).
RESULT_KEYS = (
    "dataset",
    "template",
    "template_id",
    "config_id",
    "config_name",
    "choices",
    "config",
    "metric",
    "cv_score",
    "test_score",
    "n_train",
    "n_test",
    "scores",
)
_TABLE_COLUMNS = {
    "dataset": "String",
    "template": "String",
    "config_id": "String",
    "config_name": "String",
    "metric": "String",
    "cv_score": "Float64",
    "test_score": "Float64",
    "n_train": "Int64",
    "n_test": "Int64",
}
DATASETS_DIR = "datasets"
_LOAD_OPTIONS = ("layout", "target", "group", "unit")


class RunPaused(KeyboardInterrupt):
    """A run was interrupted (Ctrl-C) and marked ``paused``; ``run_id`` says which, so that
    it can be resumed."""

    def __init__(self, run_id: str, workspace: Path) -> None:
        super().__init__(
            f"run {run_id!r} paused; resume it with nirs_core.resume({run_id!r}, {str(workspace)!r})."
        )
        self.run_id = run_id
        self.workspace = workspace


# ----------------------------------------------------------------------------- the Run object


@dataclass
class Run:
    """A run as stored in its workspace: status, timestamps and the completed results.

    ``results`` holds one mapping per completed result (keys :data:`RESULT_KEYS`), in the
    order datasets × configs; ``cv_score`` is the pooled out-of-fold score (RMSECV for
    regression), ``test_score`` the refit model's score on the test partition (RMSEP) or None
    without a test partition, ``scores`` every metric per partition.
    """

    run_id: str
    workspace: Workspace
    name: str
    status: str
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    n_expected: int = 0

    @classmethod
    def load(
        cls,
        run_id: str,
        workspace: str | os.PathLike[str] | Workspace = ".",
        *,
        known: Mapping[str, dict[str, Any]] | None = None,
        configs: list[tuple[PipelineConfig, str]] | None = None,
        datasets: list[str] | None = None,
    ) -> Run:
        """The run ``run_id`` of ``workspace``, read from its files. What the caller holds
        already need not be read again: ``known``, result entries by checkpoint key;
        ``configs``, the run's (config, template name) pairs; ``datasets``, its dataset names."""
        ws = _workspace(workspace, create=False)
        record = _load_record(ws, run_id)
        configs = _read_configs(ws, run_id) if configs is None else configs
        datasets = _dataset_names(ws, run_id) if datasets is None else datasets
        known = known or {}
        keys = [result_key(d, cfg.id) for d in datasets for cfg, _ in configs]
        done = set(keys) if all(k in known for k in keys) else ws.completed_results(run_id)
        results = []
        for dataset in datasets:
            for cfg, template in configs:
                key = result_key(dataset, cfg.id)
                if key in known:
                    results.append(known[key])
                elif key in done:
                    manifest = _read_manifest(ws, run_id, dataset, cfg.id)
                    results.append(_result_entry(manifest, cfg, template))
        return cls(
            run_id=record.run_id,
            workspace=ws,
            name=record.name,
            status=record.status.value,
            results=results,
            error=record.error,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            n_expected=len(record.info.get("datasets", [])) * len(configs),
        )

    @property
    def path(self) -> Path:
        """The run's folder, ``<workspace>/runs/<run_id>``."""
        return self.workspace.run_dir(self.run_id)

    @property
    def datasets(self) -> list[str]:
        """Names of the datasets that have results, in run order."""
        return list(dict.fromkeys(r["dataset"] for r in self.results))

    def best(self, dataset: str | None = None, *, by: str = "cv_score") -> dict[str, Any]:
        """The result of ``dataset`` (optional when the run has one dataset) with the best
        ``by`` score (``cv_score`` or ``test_score``), following its metric's direction
        (:func:`nirs_core.metrics.badness`); ties go to the earlier config."""
        if by not in ("cv_score", "test_score"):
            raise ConfigError(f"Run.best: by must be 'cv_score' or 'test_score'; got {by!r}.")
        names = self.datasets
        dataset = self._dataset_or_only(dataset, "Run.best")
        candidates = [r for r in self.results if r["dataset"] == dataset and r[by] is not None]
        if not candidates:
            raise ConfigError(
                f"Run.best: no result with a {by} for dataset {dataset!r} in run {self.run_id!r} "
                f"(datasets with results: {', '.join(names) or 'none'})."
            )
        return min(candidates, key=lambda r: badness(r["metric"], r[by]))

    def to_dict(self) -> dict[str, Any]:
        """``{"run_id", "status", "results"}`` as strict JSON values (a non-finite score is
        None): what ``nirs run --json`` prints."""
        return {"run_id": self.run_id, "status": self.status, "results": _json_safe(self.results)}

    def table(self):
        """The results as a polars DataFrame, one row per result (the scalar columns)."""
        import polars as pl

        schema = {name: getattr(pl, kind) for name, kind in _TABLE_COLUMNS.items()}
        return pl.DataFrame([{k: r[k] for k in schema} for r in self.results], schema=schema)

    def predictions(self, dataset: str | None = None, **filters: Any):
        """This run's rows of ``predictions/<dataset>.parquet`` (polars DataFrame); ``filters``
        as :func:`nirs_core.store.predictions.read_predictions`."""
        dataset = self._dataset_or_only(dataset, "Run.predictions")
        return self.workspace.read_predictions(dataset, run_id=self.run_id, **filters)

    def _dataset_or_only(self, dataset: str | None, caller: str) -> str:
        """``dataset``, or the run's only dataset when it is None."""
        if dataset is not None:
            return dataset
        names = self.datasets
        if len(names) != 1:
            raise ConfigError(
                f"{caller}: the run {self.run_id!r} has results for {len(names)} datasets "
                f"({', '.join(names) or 'none'}); pass dataset=<name>."
            )
        return names[0]

    def __repr__(self) -> str:
        return (
            f"Run({self.run_id!r}, name={self.name!r}, status={self.status!r}, "
            f"results={len(self.results)}/{self.n_expected}, workspace={str(self.workspace.root)!r})"
        )


def load_run(run_id: str, workspace: str | os.PathLike[str] | Workspace = ".") -> Run:
    """The run ``run_id`` of ``workspace`` (see :meth:`Run.load`)."""
    return Run.load(run_id, workspace)


# ----------------------------------------------------------------------------- the API


def run(
    templates: Any,
    datasets: Any,
    workspace: str | os.PathLike[str] | Workspace = ".",
    name: str | None = None,
    *,
    cache_bytes: int = DEFAULT_MAX_BYTES,
    progress: bool = True,
) -> Run:
    """Run every config of every template on every dataset; return the finished :class:`Run`.

    ``templates``: one or a list of templates, each a YAML/JSON file path or a template object
    (a list of steps or a ``{"pipeline": [...]}`` mapping, live operators allowed).
    ``datasets``: one or a list, each a path (file or folder, read by
    :func:`nirs_core.data.load`), a :class:`~nirs_core.data.SpectroDataset`, or a mapping
    ``{"path": ..., "name": ..., "target": ..., "layout": ..., "group": ..., "unit": ...}``
    (name and loader options optional). ``cache_bytes`` bounds the preprocessing cache;
    ``progress`` shows a progress bar on stderr.

    Raises ``ConfigError``/``DataError`` before anything is written when a template or a
    dataset path is invalid; an error during the run marks it ``failed`` and is re-raised;
    Ctrl-C marks it ``paused`` and raises :class:`RunPaused`.
    """
    if not isinstance(cache_bytes, int) or isinstance(cache_bytes, bool) or cache_bytes < 0:
        raise ConfigError(f"run: cache_bytes must be an integer >= 0; got {cache_bytes!r}.")
    _commit_seconds()  # a bad NIRS_COMMIT_SECONDS fails before anything is written
    ws = _workspace(workspace, create=True)
    plans = _prepare_templates(templates)
    configs = _merge_configs(plans)
    specs = _prepare_datasets(datasets, ws)
    run_name = name if name is not None else "+".join(p.name for p in plans)
    if not isinstance(run_name, str) or not run_name.strip():
        raise ConfigError(f"run: name must be a non-empty string; got {run_name!r}.")
    info = {
        "templates": [{"id": p.id, "name": p.name, "source": p.source} for p in plans],
        "datasets": [s.to_dict() for s in specs],
        "n_configs": len(configs),
        "n_results": len(configs) * len(specs),
    }
    record = ws.create_run(run_name, info=info)
    run_id = record.run_id
    try:
        with synced_together(ws.root):
            for plan in plans:
                ws.write_template(run_id, plan.id, plan.stored)
            ws.write_configs(run_id, [{**cfg.to_dict(), "template": tpl} for cfg, tpl in configs])
    except BaseException as exc:
        ws.set_run_status(
            run_id, RunStatus.CANCELLED, error=f"could not write the run's files: {_describe(exc)}"
        )
        raise
    return _execute(ws, run_id, configs, specs, cache_bytes=cache_bytes, progress=progress)


def resume(
    run_id: str,
    workspace: str | os.PathLike[str] | Workspace = ".",
    *,
    data_dirs: Iterable[str | os.PathLike[str]] = (),
    cache_bytes: int = DEFAULT_MAX_BYTES,
    progress: bool = True,
) -> Run:
    """Finish the run ``run_id``: skip its completed (checkpointed) results and run the rest.

    Works on a run that is ``paused``, ``failed``, ``queued`` or left ``running`` by a process
    that died; a ``completed`` run is returned as it is; a ``cancelled`` run cannot resume.
    Datasets are found through the workspace registry: at their registered path, else by
    size and hash under the folder they were in and under ``data_dirs``.
    """
    ws = _workspace(workspace, create=False)
    record = _load_record(ws, run_id)
    if record.status is RunStatus.COMPLETED:
        return Run.load(run_id, ws)
    if record.status is RunStatus.CANCELLED:
        raise ConfigError(
            f"{ws.run_path(run_id)}: run {run_id!r} was cancelled ({record.error or 'no reason recorded'}); "
            "a cancelled run cannot resume. Start a new run."
        )
    configs = _read_configs(ws, run_id)
    specs = [_DatasetSpec.from_dict(d, str(ws.run_path(run_id))) for d in record.info.get("datasets", [])]
    if not specs:
        raise ConfigError(f"{ws.run_path(run_id)}: info.datasets is empty; expected the run's datasets.")
    return _execute(
        ws,
        run_id,
        configs,
        specs,
        cache_bytes=cache_bytes,
        progress=progress,
        resuming=True,
        data_dirs=[Path(d) for d in data_dirs],
    )


def cancel(
    run_id: str, workspace: str | os.PathLike[str] | Workspace = ".", reason: str | None = None
) -> Run:
    """Mark a ``queued`` or ``paused`` run ``cancelled`` (final: it will not resume)."""
    ws = _workspace(workspace, create=False)
    _load_record(ws, run_id)
    with _exec_lock(ws, run_id):
        ws.set_run_status(run_id, RunStatus.CANCELLED, error=reason or "cancelled")
    return Run.load(run_id, ws)


# ----------------------------------------------------------------------------- templates


@dataclass
class _TemplatePlan:
    id: str
    name: str
    source: str | None  # the file, or None for an object
    stored: Any  # verbatim text (file) or plain JSON data (object)
    configs: list[PipelineConfig]


def _is_template_item(item: Any) -> bool:
    """True for what can only be a whole template inside a list of templates."""
    if isinstance(item, (os.PathLike, LoadedTemplate, list, tuple)):
        return True
    if isinstance(item, str):
        return item.lower().endswith((".yaml", ".yml", ".json")) or Path(item).is_file()
    return isinstance(item, Mapping) and ("pipeline" in item or "steps" in item)


def _template_list(templates: Any) -> list[Any]:
    """One template (a path, a mapping or a bare list of steps) or a list of templates. A list
    is a list of templates when every item is a template file, a template mapping or a list
    (wrap a single bare list of steps made of lists: ``templates=[steps]``)."""
    if isinstance(templates, (str, os.PathLike, Mapping, LoadedTemplate)):
        return [templates]
    if isinstance(templates, (list, tuple)):
        if not templates:
            raise ConfigError("run: templates is empty; expected at least one template.")
        return list(templates) if all(_is_template_item(t) for t in templates) else [templates]
    raise ConfigError(
        f"run: templates must be a template (a file path, a mapping or a list of steps) or a list "
        f"of them; got {type(templates).__name__}."
    )


def _prepare_templates(templates: Any) -> list[_TemplatePlan]:
    plans: list[_TemplatePlan] = []
    seen: dict[str, int] = {}
    for i, template in enumerate(_template_list(templates)):
        loaded = load_template(template) if isinstance(template, (str, os.PathLike)) else template
        if isinstance(loaded, LoadedTemplate):
            source: str | None = str(loaded.path.resolve())
            data, stored = loaded.data, loaded.text
            default_name = loaded.path.stem
            configs = expand(loaded)
        else:
            source = None
            where = f"templates[{i}]"
            try:
                data = template_to_json(loaded)
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
            stored = data
            default_name = None
            configs = expand(loaded, source=where)
        tid = template_id(data)
        if tid in seen:
            continue  # the same template twice: its configs are already planned
        seen[tid] = i
        given = data.get("name") if isinstance(data, Mapping) else None
        tname = given or default_name or f"template-{tid}"
        plans.append(_TemplatePlan(id=tid, name=str(tname), source=source, stored=stored, configs=configs))
    return plans


def _merge_configs(plans: list[_TemplatePlan]) -> list[tuple[PipelineConfig, str]]:
    """Every config of every template, once (a pipeline that two templates share runs once,
    under the first); with its template's name."""
    out: list[tuple[PipelineConfig, str]] = []
    seen: set[str] = set()
    for plan in plans:
        for cfg in plan.configs:
            if cfg.id not in seen:
                seen.add(cfg.id)
                out.append((cfg, plan.name))
    return out


def _read_configs(ws: Workspace, run_id: str) -> list[tuple[PipelineConfig, str]]:
    path = ws.configs_path(run_id)
    if not path.is_file():
        raise ConfigError(f"{path}: missing; the run {run_id!r} was not fully created.")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from None
    entries = data.get("configs") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: expected a mapping with a 'configs' list.")
    out = []
    for i, entry in enumerate(entries):
        try:
            cfg = PipelineConfig.from_dict(entry)
        except (ConfigError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}: configs[{i}]: {exc}") from None
        out.append((cfg, str(entry.get("template") or cfg.template_id)))
    return out


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# ----------------------------------------------------------------------------- datasets


@dataclass
class _DatasetSpec:
    """Where a dataset of the run comes from: a path, an optional name, loader options."""

    path: Path
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    origin: str = "path"  # "path" or "object" (saved into <workspace>/datasets/)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "options": dict(self.options),
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> _DatasetSpec:
        if not isinstance(data, Mapping) or "path" not in data:
            raise ConfigError(f"{where}: info.datasets: expected mappings with a 'path'; got {data!r}.")
        return cls(
            path=Path(data["path"]),
            name=data.get("name"),
            options=dict(data.get("options") or {}),
            origin=str(data.get("origin", "path")),
        )


def _dataset_list(datasets: Any) -> list[Any]:
    if isinstance(datasets, (str, os.PathLike, Mapping)) or not isinstance(datasets, Sequence):
        return [datasets]
    items = list(datasets)
    if not items:
        raise ConfigError("run: datasets is empty; expected at least one dataset.")
    return items


def _prepare_datasets(datasets: Any, ws: Workspace) -> list[_DatasetSpec]:
    from nirs_core.data import SpectroDataset

    specs: list[_DatasetSpec | SpectroDataset] = []
    for i, item in enumerate(_dataset_list(datasets)):
        where = f"datasets[{i}]"
        if isinstance(item, SpectroDataset):
            specs.append(item)  # saved once every path is known to be valid
            continue
        options: dict[str, Any] = {}
        name = None
        if isinstance(item, Mapping):
            unknown = sorted(set(item) - {"path", "name", *_LOAD_OPTIONS})
            if unknown or "path" not in item:
                raise ConfigError(
                    f"{where}: a dataset mapping holds 'path' and optionally 'name', "
                    f"{', '.join(map(repr, _LOAD_OPTIONS))}; got keys {sorted(item)}."
                )
            name = item.get("name")
            options = {k: item[k] for k in _LOAD_OPTIONS if item.get(k) is not None}
            item = item["path"]
        if not isinstance(item, (str, os.PathLike)):
            raise ConfigError(
                f"{where}: expected a path, a SpectroDataset or a mapping with 'path'; got {type(item).__name__}."
            )
        path = Path(item).expanduser()
        if not path.exists():
            raise DataError(f"{path}: data path not found ({where}); expected a dataset file or folder.")
        if name is not None:
            check_name(name, where)
        specs.append(_DatasetSpec(path=path.resolve(), name=name, options=options))
    given = [s.name for s in specs if isinstance(s, _DatasetSpec) and s.name is not None]
    duplicated = sorted({n for n in given if given.count(n) > 1})
    if duplicated:
        raise ConfigError(f"run: datasets: the name(s) {duplicated} are given to more than one dataset.")
    return [_save_object(s, ws) if isinstance(s, SpectroDataset) else s for s in specs]


def _safe_name(name: str) -> str:
    return safe_name(name) or "dataset"


def _save_object(ds: Any, ws: Workspace) -> _DatasetSpec:
    """Save an in-memory dataset under ``<workspace>/datasets/<name>-<content hash>`` (once per
    content) so that the run can be resumed from disk."""
    name = _safe_name(ds.name)
    folder = ws.root / DATASETS_DIR / f"{name}-{ds.content_hash()[:12]}"
    if not (folder / "dataset.json").is_file():
        ds.save(folder)
    return _DatasetSpec(path=folder, name=name, origin="object")


@dataclass
class _LoadedDataset:
    name: str
    dataset: Any
    ref: dict[str, Any]


def _load_spec(ws: Workspace, spec: _DatasetSpec) -> _LoadedDataset:
    """Load ``spec``, then register it in the workspace registry (only data that loads is
    registered). Without an explicit name, the dataset is named after its file or folder, or,
    when that name already belongs to other content, after it and its sha256
    (``corn-1a2b3c4d``): new content is a new dataset, never a silent replacement."""
    from nirs_core.data import load
    from nirs_core.data.identity import full_hash

    if not spec.path.exists():
        raise DataError(f"{spec.path}: data path not found; expected a dataset file or folder.")
    ds = load(spec.path, **spec.options)
    name = spec.name
    if name is None:
        default = _safe_name(spec.path.name if spec.path.is_dir() else spec.path.stem)
        entries = {e.name: e for e in ws.datasets.entries()}
        taken = entries.get(default)
        if taken is not None:
            sha = full_hash(spec.path)
            same = next((e for e in entries.values() if e.sha256 == sha), None)
            name = (
                same.name
                if same is not None
                else (default if taken.sha256 == sha else f"{default}-{sha[:8]}")
            )
        else:
            name = default
    entry = ws.datasets.register(spec.path, name)
    return _with_entry(ds, entry, spec, spec.path)


def _with_entry(ds: Any, entry: Any, spec: _DatasetSpec, path: Path) -> _LoadedDataset:
    ds.name = entry.name
    ref = {
        "name": entry.name,
        "sha256": entry.sha256,
        "path": str(path),
        "kind": entry.kind,
        "size": entry.size,
        "origin": spec.origin,
        "options": dict(spec.options),
    }
    return _LoadedDataset(entry.name, ds, ref)


def _resolve_ref(
    ws: Workspace, ref: Mapping[str, Any], spec: _DatasetSpec, data_dirs: Sequence[Path], where: str
) -> _LoadedDataset:
    """Find a dataset of a run again through the registry (by its sha256) and load it."""
    registered = Path(str(ref.get("path", "")))
    candidates = [d for d in (registered.parent, *data_dirs) if d.is_dir()]
    key = str(ref.get("sha256") or ref.get("name"))
    try:
        resolution = ws.datasets.resolve(key, candidates)
    except KeyError as exc:
        raise DataError(
            f"{where}: dataset {ref.get('name')!r} (sha256 {key[:12]}…) is not in the registry "
            f"{ws.datasets_path} ({exc.args[0]})."
        ) from None
    if not resolution.found:
        raise DataError(
            f"{where}: dataset {ref.get('name')!r} not found: {resolution.detail}. "
            "Pass the folder that now holds it (nirs resume … --data-dir DIR)."
        )
    from nirs_core.data import load

    return _with_entry(load(resolution.path, **spec.options), resolution.entry, spec, resolution.path)


def _dataset_names(ws: Workspace, run_id: str) -> list[str]:
    path = ws.run_datasets_path(run_id)
    if path.is_file():
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
        return [str(d["name"]) for d in data.get("datasets", [])]
    return []


# ----------------------------------------------------------------------------- execution


def _execute(
    ws: Workspace,
    run_id: str,
    configs: list[tuple[PipelineConfig, str]],
    specs: list[_DatasetSpec],
    *,
    cache_bytes: int,
    progress: bool,
    resuming: bool = False,
    data_dirs: Sequence[Path] = (),
) -> Run:
    with _exec_lock(ws, run_id):
        if resuming:
            ws.cleanup_partial()
            record = ws.load_run(run_id)
            if record.status is RunStatus.RUNNING:
                # no live process holds the run (we hold its lock): its process died
                ws.set_run_status(
                    run_id,
                    RunStatus.PAUSED,
                    error="interrupted: the process running it stopped without recording a status",
                )
        ws.set_run_status(run_id, RunStatus.RUNNING)
        try:
            loaded = _load_datasets(ws, run_id, specs, data_dirs)
            entries = _run_results(ws, run_id, configs, loaded, cache_bytes=cache_bytes, progress=progress)
            names = [d.name for d in loaded]
        except KeyboardInterrupt:
            ws.set_run_status(run_id, RunStatus.PAUSED, error="interrupted (KeyboardInterrupt)")
            raise RunPaused(run_id, ws.root) from None
        except Exception as exc:
            with contextlib.suppress(NirsError, OSError):
                ws.set_run_status(run_id, RunStatus.FAILED, error=_describe(exc))
            exc.add_note(
                f"run {run_id!r} in {ws.root} is marked failed; fix the cause, then resume it "
                f"(nirs resume {run_id} --workspace {ws.root})."
            )
            raise
        ws.set_run_status(run_id, RunStatus.COMPLETED)
    return Run.load(run_id, ws, known=entries, configs=configs, datasets=names)


@contextlib.contextmanager
def _exec_lock(ws: Workspace, run_id: str) -> Iterator[None]:
    """Hold the lock ``exec-<run_id>``: one process executes a run at a time."""
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(workspace_lock(ws.root, f"exec-{run_id}", timeout=0.2))
    except LockTimeoutError as exc:
        raise ConfigError(
            f"run {run_id!r}: another process is executing it; wait for it to end ({exc})"
        ) from None
    with stack:
        yield


def _load_datasets(
    ws: Workspace, run_id: str, specs: list[_DatasetSpec], data_dirs: Sequence[Path]
) -> list[_LoadedDataset]:
    refs_path = ws.run_datasets_path(run_id)
    if refs_path.is_file():  # a resumed run: find the datasets it used, by content
        data = yaml.load(refs_path.read_text(encoding="utf-8"), Loader=_Loader) or {}
        refs = data.get("datasets", [])
        if len(refs) != len(specs):
            raise ConfigError(
                f"{refs_path}: {len(refs)} datasets; expected {len(specs)} as in info.datasets of run.yaml."
            )
        loaded = [
            _resolve_ref(ws, ref, spec, data_dirs, f"{refs_path}: datasets[{i}]")
            for i, (ref, spec) in enumerate(zip(refs, specs))
        ]
        if [d.ref["path"] for d in loaded] != [r.get("path") for r in refs]:
            ws.write_run_datasets(run_id, [d.ref for d in loaded])
        return loaded
    loaded = [_load_spec(ws, spec) for spec in specs]
    names = [d.name for d in loaded]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(
            f"run: the datasets {duplicated} are given more than once (same content or same name); "
            "give each dataset once."
        )
    ws.write_run_datasets(run_id, [d.ref for d in loaded])
    return loaded


def _group_key(cfg: PipelineConfig) -> str:
    """Configs with the same key differ at most by the ``n_components`` of their final model
    step (a component sweep): they go to the executor together, which scores such a sweep
    from one fit per fold. Other configs go one by one (they still share preprocessed
    prefixes through the cache), so a checkpoint follows each of them."""
    steps = list(cfg.steps)
    last = steps[-1] if steps else None
    if isinstance(last, Mapping) and isinstance(last.get("model"), Mapping):
        model = last["model"]
        params = model.get("params")
        if isinstance(params, Mapping) and "n_components" in params:
            steps[-1] = {**last, "model": {**model, "params": {**params, "n_components": None}}}
            return canonical_json(steps)
    return f"{cfg.id}:single"


def _groups(configs: list[tuple[PipelineConfig, str]]) -> list[list[tuple[PipelineConfig, str]]]:
    groups: dict[str, list[tuple[PipelineConfig, str]]] = {}
    for item in configs:
        groups.setdefault(_group_key(item[0]), []).append(item)
    return list(groups.values())


def _run_results(
    ws: Workspace,
    run_id: str,
    configs: list[tuple[PipelineConfig, str]],
    loaded: list[_LoadedDataset],
    *,
    cache_bytes: int,
    progress: bool,
) -> dict[str, dict[str, Any]]:
    """Execute and store the results not yet completed; their entries by checkpoint key."""
    done = ws.completed_results(run_id)
    pending = {d.name: [c for c in configs if result_key(d.name, c[0].id) not in done] for d in loaded}
    total = sum(len(p) for p in pending.values())
    # results whose manifest exists without a checkpoint: a killed process may have appended
    # their prediction rows already
    unsure = {
        result_key(d, c[0].id)
        for d, items in pending.items()
        for c in items
        if ws.manifest_path(run_id, d, c[0].id).is_file()
    }
    entries: dict[str, dict[str, Any]] = {}
    with _progress_bar(total, progress, run_id) as bar:
        for data in loaded:
            if pending[data.name]:
                entries.update(
                    _run_dataset(
                        ws, run_id, data, pending[data.name], cache_bytes=cache_bytes, unsure=unsure, bar=bar
                    )
                )
    return entries


def _run_dataset(
    ws: Workspace,
    run_id: str,
    data: _LoadedDataset,
    items: list[tuple[PipelineConfig, str]],
    *,
    cache_bytes: int,
    unsure: set[str],
    bar: Any,
) -> dict[str, dict[str, Any]]:
    """Execute the configs ``items`` on one dataset, group by group with one preprocessing
    cache, committing the results in batches (see :data:`COMMIT_BYTES`); their entries."""
    from nirs_core.pipeline.cache import PreprocessingCache
    from nirs_core.pipeline.executor import execute_batch

    cache = PreprocessingCache(max_bytes=cache_bytes)
    every = _commit_seconds()
    entries: dict[str, dict[str, Any]] = {}
    batch: list[tuple[PipelineConfig, str]] = []  # computed, not yet committed
    outs: list[Any] = []
    last_commit, held = time.monotonic(), 0  # held: artefact bytes not yet committed
    try:
        for group in _groups(items):
            if bar is not None:
                bar.set_postfix_str(f"{data.name}: {group[0][0].name}", refresh=False)
            results = execute_batch([c for c, _ in group], data.dataset, cache=cache, run_id=run_id)
            if len(results) != len(group):
                raise NirsError(
                    f"execute_batch returned {len(results)} results for {len(group)} configs "
                    f"of dataset {data.name!r}; expected one per config."
                )
            batch += group
            outs += results
            held += sum(len(b) for r in results for b in r.artifacts.values())
            if time.monotonic() - last_commit >= every or held >= COMMIT_BYTES:
                to_store, stored = batch, outs
                batch, outs = [], []  # emptied first: a commit that fails is not tried again
                entries.update(_store_group(ws, run_id, data.name, to_store, stored, unsure, bar))
                last_commit, held = time.monotonic(), 0
    finally:
        # also when a later group failed or was interrupted: what is computed is kept
        if batch:
            entries.update(_store_group(ws, run_id, data.name, batch, outs, unsure, bar))
    return entries


@contextlib.contextmanager
def _progress_bar(total: int, enabled: bool, run_id: str) -> Iterator[Any]:
    if not enabled or total == 0:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=f"run {run_id}", unit="result", dynamic_ncols=True, leave=True)
    try:
        yield bar
    finally:
        bar.close()


# Results are committed (stored, made durable, checkpointed) in batches: when the results
# computed since the last commit are NIRS_COMMIT_SECONDS old (default 1 s; 0 commits after
# every group), or hold COMMIT_BYTES of artefacts, and when a dataset's results are all
# computed. A killed run loses at most that much work; a sweep of small fast configs pays for
# one commit instead of one per config (each commit rewrites the predictions file and
# run.yaml).
COMMIT_SECONDS_ENV = "NIRS_COMMIT_SECONDS"
COMMIT_BYTES = 64 << 20


def _commit_seconds() -> float:
    text = os.environ.get(COMMIT_SECONDS_ENV, "1")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(
            f"environment variable {COMMIT_SECONDS_ENV}: expected a number of seconds >= 0; got {text!r}."
        )
    return value


def _store_group(
    ws: Workspace,
    run_id: str,
    dataset: str,
    group: list[tuple[PipelineConfig, str]],
    results: list[Any],
    unsure: set[str],
    bar: Any,
) -> dict[str, dict[str, Any]]:
    """Store a batch of results. For each result: its artefacts, its graph, then its
    manifest; then the batch's prediction rows (one atomic append); all of these made durable
    together; then the batch's checkpoints (one write of ``run.yaml``)."""
    rows: list[dict[str, Any]] = []
    entries: dict[str, dict[str, Any]] = {}
    present = (
        _configs_with_rows(ws, run_id, dataset)
        if any(result_key(dataset, cfg.id) in unsure for cfg, _ in group)
        else set()
    )
    with synced_together(ws.root):
        for (cfg, template), result in zip(group, results):
            if result.config_id != cfg.id:
                raise NirsError(
                    f"execute_batch returned the result of config {result.config_id!r} where config "
                    f"{cfg.id!r} ({cfg.name}) was expected."
                )
            for file_name, data in sorted(result.artifacts.items()):
                sha, _, ext = file_name.partition(".")
                stored = ws.put_artifact(data, ext)
                if stored != sha:
                    raise NirsError(
                        f"artefact {file_name} of result {dataset}/{cfg.id}: its bytes hash to {stored}; "
                        "expected the sha256 in its name."
                    )
            manifest = _plain(result.manifest())
            manifest.update(
                run_id=run_id,
                dataset=dataset,
                template=template,
                template_id=cfg.template_id,
                config_id=cfg.id,
                config_name=cfg.name,
                predictions={
                    "file": ws.predictions_path(dataset).relative_to(ws.root).as_posix(),
                    "rows": len(result.predictions),
                },
            )
            manifest.setdefault("config", cfg.steps)
            manifest.setdefault("choices", cfg.choices)
            ws.write_graph(run_id, dataset, cfg.id, result.graph)
            ws.write_manifest(run_id, dataset, cfg.id, manifest)  # last: the result is complete
            if cfg.id not in present:
                rows.extend(
                    {**row, "run_id": run_id, "dataset": dataset, "config_id": cfg.id,
                     "config_name": cfg.name, "template_id": row.get("template_id") or cfg.template_id}
                    for row in result.predictions
                )  # fmt: skip
            entries[result_key(dataset, cfg.id)] = _result_entry(manifest, cfg, template)
        if rows:
            ws.append_predictions(dataset, rows)
    ws.add_checkpoints(run_id, dataset, [cfg.id for cfg, _ in group])
    if bar is not None:
        bar.update(len(group))
    return entries


def _configs_with_rows(ws: Workspace, run_id: str, dataset: str) -> set[str]:
    """Config ids that have prediction rows of the run in ``predictions/<dataset>.parquet``."""
    if not ws.predictions_path(dataset).is_file():
        return set()
    found = ws.read_predictions(dataset, run_id=run_id, columns=["config_id"])
    return set(found["config_id"].unique().to_list())


def _read_manifest(ws: Workspace, run_id: str, dataset: str, config_id: str) -> dict[str, Any]:
    """``ws.read_manifest``, a missing manifest being a ``ConfigError`` like a corrupt one."""
    try:
        return ws.read_manifest(run_id, dataset, config_id)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None


# ----------------------------------------------------------------------------- helpers


def _workspace(workspace: str | os.PathLike[str] | Workspace, *, create: bool) -> Workspace:
    if isinstance(workspace, Workspace):
        return workspace
    root = Path(workspace)
    if not create and not (root / "runs").is_dir():
        raise ConfigError(f"{root}: not a workspace (no runs/ folder); expected the folder given to run().")
    try:
        return Workspace(root)
    except NotADirectoryError as exc:
        raise ConfigError(str(exc)) from None


def _load_record(ws: Workspace, run_id: str):
    try:
        return ws.load_run(run_id)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _plain(value: Any) -> Any:
    """``value`` as plain YAML/JSON values (numpy scalars and arrays become Python ones)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _score(value: Any) -> float | None:
    return None if value is None else float(value)


def _result_entry(manifest: Mapping[str, Any], cfg: PipelineConfig, template: str) -> dict[str, Any]:
    metric = manifest.get("metric")
    get_metric(metric)  # a manifest with an unknown metric is corrupt
    return {
        "dataset": manifest["dataset"],
        "template": manifest.get("template", template),
        "template_id": manifest.get("template_id", cfg.template_id),
        "config_id": cfg.id,
        "config_name": cfg.name,
        "choices": manifest.get("choices", cfg.choices),
        "config": manifest.get("config", cfg.steps),
        "metric": metric,
        "cv_score": _score(manifest.get("cv_score")),
        "test_score": _score(manifest.get("test_score")),
        "n_train": int(manifest["n_train"]),
        "n_test": int(manifest["n_test"]),
        "scores": manifest.get("scores", {}),
    }


def partial_files(root: str | os.PathLike[str]) -> list[Path]:
    """Temporary files of interrupted atomic writes under ``root`` (what a clean workspace has
    none of)."""
    return sorted(Path(d) / n for d, _, names in os.walk(root) for n in names if is_partial_name(n))
