"""Executing a run's pending configs and committing their results: per dataset, group by group
through an executor (:mod:`nirs_core.app.executors`: in process, or on a Dask cluster), stored
by this process in batches as the groups come back (artefacts, graph, manifest, prediction rows,
then checkpoints; see :mod:`nirs_core.app.run` for the order and why)."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from nirs_core.app.datasets import LoadedDataset
from nirs_core.app.executors import Executor
from nirs_core.errors import ConfigError, NirsError
from nirs_core.metrics import get_metric
from nirs_core.pipeline.executor import sweep_groups
from nirs_core.pipeline.generators import PipelineConfig
from nirs_core.pipeline.result import FailedResult
from nirs_core.store._atomic import dump_yaml, synced_together
from nirs_core.store.predictions import prediction_table
from nirs_core.store.workspace import Workspace, graph_text, result_key


def _groups(configs: list[tuple[PipelineConfig, str]]) -> list[list[tuple[PipelineConfig, str]]]:
    """The configs that share a component sweep go to the executor together (it scores such a
    sweep from one fit per fold: :func:`nirs_core.pipeline.executor.sweep_groups`, the one rule);
    the others one by one (they still share preprocessed prefixes through the cache), so a
    checkpoint can follow each of them."""
    return [[configs[i] for i in group] for group in sweep_groups([c for c, _ in configs])]


def run_results(
    ws: Workspace,
    run_id: str,
    configs: list[tuple[PipelineConfig, str]],
    loaded: list[LoadedDataset],
    *,
    cache_bytes: int,
    progress: bool,
    executor: Executor,
    retry_failed: bool = False,
) -> dict[str, dict[str, Any]]:
    """Execute (with ``executor``) and store the results not yet completed (nor failed, unless
    ``retry_failed``); the completed ones' entries by checkpoint key. A config that fails on a
    dataset is stored as a failed result (its manifest holds the error) and the run goes on."""
    done = ws.completed_results(run_id)
    if not retry_failed:
        done |= ws.failed_results(run_id)
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
                        ws,
                        run_id,
                        data,
                        pending[data.name],
                        executor=executor,
                        cache_bytes=cache_bytes,
                        unsure=unsure,
                        bar=bar,
                    )
                )
    return entries


def _run_dataset(
    ws: Workspace,
    run_id: str,
    data: LoadedDataset,
    items: list[tuple[PipelineConfig, str]],
    *,
    executor: Executor,
    cache_bytes: int,
    unsure: set[str],
    bar: Any,
) -> dict[str, dict[str, Any]]:
    """Execute the configs ``items`` on one dataset, group by group (``executor`` decides where
    and in which order they come back), committing the results in batches as they come (see
    :data:`COMMIT_BYTES`); their entries."""
    groups = _groups(items)
    every = commit_seconds()
    finish = _finisher(ws, run_id, data.name, items)
    entries: dict[str, dict[str, Any]] = {}
    batch: list[tuple[PipelineConfig, str]] = []  # computed, not yet committed
    outs: list[Any] = []
    last_commit, held = time.monotonic(), 0  # held: artefact bytes not yet committed
    computed = executor.run_groups(
        data.dataset,
        [[c for c, _ in g] for g in groups],
        run_id=run_id,
        cache_bytes=cache_bytes,
        finish=finish,
    )
    try:
        with contextlib.closing(computed):  # an executor stops its pending work on the way out
            for index, results in computed:
                group = groups[index]
                if bar is not None:
                    bar.set_postfix_str(f"{data.name}: {group[0][0].name}", refresh=False)
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


def commit_seconds() -> float:
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


@dataclass
class ReadyResult:
    """A result in the form the driver stores it: the text of its manifest and graph, its
    prediction rows as a checked Arrow table, its artefacts' bytes. Rendered where the result
    was computed (``run_groups(finish=)``): on a Dask cluster the workers do this work in
    parallel, and the driver, the one process that writes and through which every result
    passes, only writes bytes (measured on bench/scale.py's sweep, rendering the manifests,
    graphs and rows was about half of the driver's time). The files are the same bytes
    wherever they were rendered."""

    config_id: str
    manifest: dict[str, Any]
    manifest_text: str
    failed: bool = False
    graph_text: str = ""
    rows: pa.Table | None = None
    artifacts: Mapping[str, bytes] = field(default_factory=dict)


def ready_results(
    configs: list[PipelineConfig],
    results: list[Any],
    *,
    run_id: str,
    dataset: str,
    labels: Mapping[str | None, str],
    predictions_file: str,
    where: str,
) -> list[ReadyResult]:
    """``results`` (of ``configs``, in order) ready to store; ``labels`` maps a config's
    template id to its template's name; ``predictions_file`` is the predictions file relative
    to the workspace (for the manifest), ``where`` its path (for errors)."""
    return [
        _ready(cfg, labels[cfg.template_id], result, run_id, dataset, predictions_file, where)
        for cfg, result in zip(configs, results, strict=True)
    ]


def _ready(
    cfg: PipelineConfig,
    template: str,
    result: Any,
    run_id: str,
    dataset: str,
    predictions_file: str,
    where: str,
) -> ReadyResult:
    if isinstance(result, ReadyResult):
        return result
    if isinstance(result, FailedResult):
        manifest = {**plain(result.manifest()), "run_id": run_id, "template": template}
        return ReadyResult(result.config_id, manifest, dump_yaml(manifest), failed=True, artifacts={})
    manifest = plain(result.manifest())
    manifest.update(
        run_id=run_id,
        dataset=dataset,
        template=template,
        template_id=cfg.template_id,
        config_id=cfg.id,
        config_name=cfg.name,
        predictions={"file": predictions_file, "rows": len(result.predictions)},
    )
    manifest.setdefault("config", cfg.steps)
    manifest.setdefault("choices", cfg.choices)
    rows = [
        {**row, "run_id": run_id, "dataset": dataset, "config_id": cfg.id,
         "config_name": cfg.name, "template_id": row.get("template_id") or cfg.template_id}
        for row in result.predictions
    ]  # fmt: skip
    return ReadyResult(
        result.config_id,
        manifest,
        dump_yaml(manifest),
        graph_text=graph_text(result.graph),
        rows=prediction_table(rows, where) if rows else None,
        artifacts=result.artifacts,
    )


def _finisher(ws: Workspace, run_id: str, dataset: str, items: list[tuple[PipelineConfig, str]]) -> Any:
    """The ``finish`` that renders a dataset's results where they are computed, or None (the
    driver renders them) when a template id has two names: the workers get the names by
    template id, a few entries, not one per config."""
    labels: dict[str | None, str] = {}
    for cfg, template in items:
        if labels.setdefault(cfg.template_id, template) != template:
            return None
    path = ws.predictions_path(dataset)
    return functools.partial(
        ready_results,
        run_id=run_id,
        dataset=dataset,
        labels=labels,
        predictions_file=path.relative_to(ws.root).as_posix(),
        where=str(path),
    )


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
    entries: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    present = (
        _configs_with_rows(ws, run_id, dataset)
        if any(result_key(dataset, cfg.id) in unsure for cfg, _ in group)
        else set()
    )
    predictions_file = ws.predictions_path(dataset)
    tables: list[pa.Table] = []
    with synced_together(ws.root):
        for (cfg, template), result in zip(group, results):
            if result.config_id != cfg.id:
                raise NirsError(
                    f"execute_batch returned the result of config {result.config_id!r} where config "
                    f"{cfg.id!r} ({cfg.name}) was expected."
                )
            ready = _ready(
                cfg,
                template,
                result,
                run_id,
                dataset,
                predictions_file.relative_to(ws.root).as_posix(),
                str(predictions_file),
            )
            if ready.failed:
                ws.write_manifest(run_id, dataset, cfg.id, ready.manifest_text)
                failed.append(cfg.id)
                continue
            for file_name, data in sorted(ready.artifacts.items()):
                sha, _, ext = file_name.partition(".")
                stored = ws.put_artifact(data, ext)
                if stored != sha:
                    raise NirsError(
                        f"artefact {file_name} of result {dataset}/{cfg.id}: its bytes hash to {stored}; "
                        "expected the sha256 in its name."
                    )
            ws.write_graph(run_id, dataset, cfg.id, ready.graph_text)
            ws.write_manifest(run_id, dataset, cfg.id, ready.manifest_text)  # last: the result is complete
            if cfg.id not in present and ready.rows is not None:
                tables.append(ready.rows)
            entries[result_key(dataset, cfg.id)] = result_entry(ready.manifest, cfg, template)
        if tables:
            ws.append_predictions(dataset, pa.concat_tables(tables))
    ws.add_checkpoints(run_id, dataset, [cfg.id for cfg, _ in group if cfg.id not in failed])
    if failed:
        ws.add_failed(run_id, dataset, failed)
    if bar is not None:
        bar.update(len(group))
    return entries


def _configs_with_rows(ws: Workspace, run_id: str, dataset: str) -> set[str]:
    """Config ids that have prediction rows of the run in ``predictions/<dataset>.parquet``."""
    if not ws.predictions_path(dataset).is_file():
        return set()
    found = ws.read_predictions(dataset, run_id=run_id, columns=["config_id"])
    return set(found["config_id"].unique().to_list())


def plain(value: Any) -> Any:
    """``value`` as plain YAML/JSON values (numpy scalars and arrays become Python ones)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def _score(value: Any) -> float | None:
    return None if value is None else float(value)


def result_entry(manifest: Mapping[str, Any], cfg: PipelineConfig, template: str) -> dict[str, Any]:
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
