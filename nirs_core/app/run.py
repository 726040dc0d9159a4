"""Runs: templates × datasets → results, stored in a workspace, resumable after a crash.

:func:`run` validates everything, creates the run record, executes the pending configs per
dataset (:mod:`nirs_core.app.commit`) and ends ``completed``, ``failed`` or ``paused``;
:func:`resume` finishes a paused, failed or killed run; :func:`cancel` stops one. What a run
does, in order, and its guarantees (checkpoints, batched commits, locks) are in ``docs/runs.md``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nirs_core.app.commit import commit_seconds, json_safe, result_entry, run_results
from nirs_core.app.datasets import DatasetSpec, dataset_names, load_datasets, prepare_datasets, read_specs
from nirs_core.app.executors import Executor, resolve_executor
from nirs_core.errors import ConfigError, DiskFullError, NirsError, is_disk_full
from nirs_core.metrics import badness
from nirs_core.pipeline.cache import DEFAULT_MAX_BYTES
from nirs_core.pipeline.generators import (
    LoadedTemplate,
    PipelineConfig,
    expand,
    load_template,
    template_id,
    template_to_json,
)
from nirs_core.pipeline.preflight import preflight
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
#: What :attr:`Run.failures` holds of each failed result's manifest.
_FAILURE_KEYS = ("dataset", "config_id", "config_name", "template", "error_type", "error")
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
    failures: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def n_failed(self) -> int:
        """How many results failed (each in :attr:`failures` with its error)."""
        return len(self.failures)

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
        datasets = dataset_names(ws, run_id) if datasets is None else datasets
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
                    results.append(result_entry(manifest, cfg, template))
        failures = []
        for key in record.failed:
            dataset, config_id = key.split("/", 1)
            manifest = _read_manifest(ws, run_id, dataset, config_id)
            failures.append({k: manifest.get(k) for k in _FAILURE_KEYS})
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
            failures=failures,
            tags=dict(record.tags),
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
        return {
            "run_id": self.run_id,
            "status": self.status,
            "results": json_safe(self.results),
            "failed": json_safe(self.failures),
        }

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
            f"results={len(self.results)}/{self.n_expected}, failed={self.n_failed}, "
            f"workspace={str(self.workspace.root)!r})"
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
    executor: Executor | str | Any = None,
    tags: Mapping[str, str] | None = None,
    config_ids: Collection[str] | None = None,
) -> Run:
    """Run every config of every template on every dataset; return the finished :class:`Run`.

    ``templates``: one or a list of templates, each a YAML/JSON file path or a template object
    (a list of steps or a ``{"pipeline": [...]}`` mapping, live operators allowed).
    ``datasets``: one or a list, each a path (file or folder, read by
    :func:`nirs_core.data.load`), a :class:`~nirs_core.data.SpectroDataset`, or a mapping
    ``{"path": ..., "name": ..., "target": ..., "layout": ..., "group": ..., "unit": ...}``
    (name and loader options optional). ``cache_bytes`` bounds the preprocessing cache;
    ``progress`` shows a progress bar on stderr. ``executor`` says where the groups of configs
    are computed (:mod:`nirs_core.app.executors`): None in this process; ``"local"`` on a Dask
    ``LocalCluster`` sized to the machine; ``"tcp://host:port"`` on an existing Dask cluster; or
    an :class:`~nirs_core.app.executors.Executor` / ``distributed.Client``. This process stores
    every result either way, and the scores are the same. ``tags``: strings recorded in
    ``run.yaml`` (who or what made the run, e.g. ``{"dagster_run_id": ...}``). ``config_ids``:
    run only the configs with these ids (each must be one of the templates' configs); the
    templates are still stored whole.

    Raises ``ConfigError``/``DataError`` before anything is written when a template, a
    dataset (its path, its files, its target or group column) or the executor is invalid (a
    Dask scheduler that cannot be reached), or when a config cannot hold on a dataset's shape
    whatever the fold (:mod:`nirs_core.pipeline.preflight`: a window longer than the
    spectrum, more folds than calibration rows…; limits of a fold's rows, such as too many
    components, are failed results instead); an
    error during the run marks it ``failed`` and is re-raised; Ctrl-C marks it ``paused`` and
    raises :class:`RunPaused`.
    """
    if not isinstance(cache_bytes, int) or isinstance(cache_bytes, bool) or cache_bytes < 0:
        raise ConfigError(f"run: cache_bytes must be an integer >= 0; got {cache_bytes!r}.")
    commit_seconds()  # a bad NIRS_COMMIT_SECONDS fails before anything is written
    ex = resolve_executor(executor)
    ws = _workspace(workspace, create=True)
    run_tags = _check_tags(tags)
    plans = _prepare_templates(templates)
    configs = _only(_merge_configs(plans), config_ids)
    specs = prepare_datasets(datasets, ws)
    run_name = name if name is not None else "+".join(p.name for p in plans)
    if not isinstance(run_name, str) or not run_name.strip():
        raise ConfigError(f"run: name must be a non-empty string; got {run_name!r}.")
    # validate before computing: every config against every dataset's shape, before the run
    # record exists (nirs_core.pipeline.preflight says what is refused here and what is left
    # to the computation, as a failed result)
    read = read_specs(specs)
    where = {cfg.id: plan.where for plan in reversed(plans) for cfg in plan.configs}
    preflight([(cfg, where[cfg.id]) for cfg, _ in configs], read)
    del read  # the run reads its datasets again (nirs_core.app.datasets.read_specs says why)
    info = {
        "templates": [{"id": p.id, "name": p.name, "source": p.source} for p in plans],
        "datasets": [s.to_dict() for s in specs],
        "n_configs": len(configs),
        "n_results": len(configs) * len(specs),
    }
    with ex:  # connected (or a local cluster started) before anything is written
        record = ws.create_run(run_name, info=info, tags=run_tags)
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
        return _execute(ws, run_id, configs, specs, cache_bytes=cache_bytes, progress=progress, executor=ex)


def resume(
    run_id: str,
    workspace: str | os.PathLike[str] | Workspace = ".",
    *,
    data_dirs: Iterable[str | os.PathLike[str]] = (),
    cache_bytes: int = DEFAULT_MAX_BYTES,
    progress: bool = True,
    retry_failed: bool = False,
    executor: Executor | str | Any = None,
) -> Run:
    """Finish the run ``run_id``: skip its completed (checkpointed) results and its failed
    results (unless ``retry_failed``), and run the rest (``executor`` as in :func:`run`; a run
    may resume elsewhere than it started).

    Works on a run that is ``paused``, ``failed``, ``queued`` or left ``running`` by a process
    that died; a ``completed`` run is returned as it is (with ``retry_failed`` and failed
    results, it reopens and retries them); a ``cancelled`` run cannot resume.
    Datasets are found through the workspace registry: at their registered path, else by
    size and hash under the folder they were in and under ``data_dirs``.
    """
    ws = _workspace(workspace, create=False)
    record = _load_record(ws, run_id)
    if record.status is RunStatus.COMPLETED:
        if not (retry_failed and record.failed):
            return Run.load(run_id, ws)
        with _exec_lock(ws, run_id):
            ws.reopen_failed(run_id)
    if record.status is RunStatus.CANCELLED:
        raise ConfigError(
            f"{ws.run_path(run_id)}: run {run_id!r} was cancelled ({record.error or 'no reason recorded'}); "
            "a cancelled run cannot resume. Start a new run."
        )
    if record.status is RunStatus.QUEUED and not ws.configs_path(run_id).is_file():
        # killed between run.yaml and configs.yaml: the run never existed; close it for good
        with _exec_lock(ws, run_id):
            ws.set_run_status(
                run_id, RunStatus.CANCELLED, error="never fully created (stopped while writing its files)"
            )
        raise ConfigError(
            f"{ws.run_path(run_id)}: run {run_id!r} was never fully created (its process stopped before "
            "configs.yaml was written); it is now marked cancelled. Start a new run."
        )
    configs = _read_configs(ws, run_id)
    specs = [DatasetSpec.from_dict(d, str(ws.run_path(run_id))) for d in record.info.get("datasets", [])]
    if not specs:
        raise ConfigError(f"{ws.run_path(run_id)}: info.datasets is empty; expected the run's datasets.")
    with resolve_executor(executor) as ex:
        return _execute(
            ws,
            run_id,
            configs,
            specs,
            cache_bytes=cache_bytes,
            progress=progress,
            executor=ex,
            resuming=True,
            data_dirs=[Path(d) for d in data_dirs],
            retry_failed=retry_failed,
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
    where: str  # how errors name it: the file as given, or templates[i]
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
        where = f"templates[{i}]"
        if isinstance(loaded, LoadedTemplate):
            source: str | None = str(loaded.path.resolve())
            where = str(loaded.path)
            data, stored = loaded.data, loaded.text
            default_name = loaded.path.stem
            configs = expand(loaded)
        else:
            source = None
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
        plans.append(
            _TemplatePlan(id=tid, name=str(tname), source=source, where=where, stored=stored, configs=configs)
        )
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


def _only(
    configs: list[tuple[PipelineConfig, str]], ids: Collection[str] | None
) -> list[tuple[PipelineConfig, str]]:
    """The configs whose id is in ``ids`` (all of them for None), in template order."""
    if ids is None:
        return configs
    if isinstance(ids, str) or not all(isinstance(i, str) for i in ids):
        raise ConfigError(f"run: config_ids must be a collection of config id strings; got {ids!r}.")
    wanted = set(ids)
    unknown = sorted(wanted - {cfg.id for cfg, _ in configs})
    if unknown:
        raise ConfigError(
            f"run: config_ids {unknown} are not configs of the templates given "
            f"({len(configs)} configs, e.g. {[cfg.id for cfg, _ in configs[:3]]})."
        )
    if not wanted:
        raise ConfigError("run: config_ids is empty; expected at least one config id.")
    return [(cfg, tpl) for cfg, tpl in configs if cfg.id in wanted]


def _check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """``tags`` as a plain dict, every key and value a string."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise ConfigError(f"run: tags must map strings to strings; got {tags!r}.")
    return dict(tags)


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


# ----------------------------------------------------------------------------- execution


def _execute(
    ws: Workspace,
    run_id: str,
    configs: list[tuple[PipelineConfig, str]],
    specs: list[DatasetSpec],
    *,
    cache_bytes: int,
    progress: bool,
    executor: Executor,
    resuming: bool = False,
    data_dirs: Sequence[Path] = (),
    retry_failed: bool = False,
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
            ws.reserve_space()
            loaded = load_datasets(ws, run_id, specs, data_dirs)
            entries = run_results(
                ws,
                run_id,
                configs,
                loaded,
                cache_bytes=cache_bytes,
                progress=progress,
                executor=executor,
                retry_failed=retry_failed,
            )
            names = [d.name for d in loaded]
        except KeyboardInterrupt:
            ws.release_reserve()
            ws.set_run_status(run_id, RunStatus.PAUSED, error="interrupted (KeyboardInterrupt)")
            raise RunPaused(run_id, ws.root) from None
        except Exception as exc:
            full = is_disk_full(exc)
            ws.release_reserve()  # room for the record to say what happened, even on a full disk
            with contextlib.suppress(NirsError, OSError):
                ws.set_run_status(run_id, RunStatus.FAILED, error=_describe(exc))
            resume = f"nirs resume {run_id} --workspace {ws.root}"
            if full:
                done = len(ws.completed_results(run_id))
                raise DiskFullError(
                    f"{exc.filename or ws.root}: no space left on the device; run {run_id} is marked "
                    f"failed and keeps its {done} completed result(s). Free some space, then resume "
                    f"it ({resume})."
                ) from None
            exc.add_note(
                f"run {run_id!r} in {ws.root} is marked failed; fix the cause, then resume it ({resume})."
            )
            raise
        ws.release_reserve()
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


def partial_files(root: str | os.PathLike[str]) -> list[Path]:
    """Temporary files of interrupted atomic writes under ``root`` (what a clean workspace has
    none of)."""
    return sorted(Path(d) / n for d, _, names in os.walk(root) for n in names if is_partial_name(n))
