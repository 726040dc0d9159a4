"""Run pipeline configs on a dataset: leakage-free cross-validation, refit, scores and the
runtime DAG.

``execute(config, dataset)`` returns one :class:`~nirs_core.pipeline.result.Result`;
``execute_batch(configs, dataset)`` returns one per config, in order, sharing the work that
configs have in common (preprocessing prefixes, stateless operators, PLS component sweeps).
What happens in which fit context, and how memory is bounded: ``docs/execution.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from nirs_core.errors import ConfigError
from nirs_core.graph.runtime import Node, RuntimeGraph
from nirs_core.metrics import badness
from nirs_core.names import POOLED_FOLD, REFIT_FOLD
from nirs_core.pipeline.assessment import attach_domain, stack_domain, validation_statistics
from nirs_core.pipeline.cache import PreprocessingCache, processing_key
from nirs_core.pipeline.generators import PipelineConfig, expand
from nirs_core.pipeline.keywords import KEYWORDS, Context
from nirs_core.pipeline.result import FailedResult, Result
from nirs_core.pipeline.scoring import prediction_row, selection_metric, task_metrics
from nirs_core.pipeline.serialize import canonical_json, resolve_class
from nirs_core.pipeline.steps import Block, Env, Flow, PredictionSet, Record, find_controller
from nirs_core.registry import allowing

__all__ = ["PreprocessingCache", "execute", "execute_batch", "sweep_groups"]

_PLS = "nirs_core.models.pls.PLSRegression"
# scikit-learn's, fit on the same kernel for one target (nirs_core.pipeline.sklearn_fast)
_SK_PLS_PATHS = (
    "sklearn.cross_decomposition.PLSRegression",
    "sklearn.cross_decomposition._pls.PLSRegression",
)


# --------------------------------------------------------------------------- entry points


def execute(
    config: PipelineConfig | Sequence[Any],
    dataset: Any,
    *,
    cache: PreprocessingCache | None = None,
    run_id: str = "",
    template_id: str | None = None,
) -> Result:
    """Cross-validate, refit and score one pipeline config on ``dataset``.

    ``config`` is a :class:`PipelineConfig` or a plain list of steps (any form that
    :mod:`nirs_core.pipeline.serialize` reads, without generators).
    """
    cfg = _as_config(config)
    result = _Batch(dataset, cache, run_id).run_group([cfg])[0]
    if template_id is not None:
        result.template_id = template_id
    return result


def execute_batch(
    configs: Sequence[PipelineConfig],
    dataset: Any,
    *,
    cache: PreprocessingCache | None = None,
    run_id: str = "",
    progress: Callable[[int, int], None] | None = None,
    isolate: bool = False,
) -> list[Result | FailedResult]:
    """One :class:`Result` per config, in the order of ``configs``; shared prefixes and PLS
    sweeps computed once (see the module docstring). ``progress(done, total)`` is called as
    results complete. Classes resolve with the ``allowed_modules`` of the configs' templates.
    With ``isolate``, a config that fails on the dataset (an exception other than
    ``MemoryError``/``OSError``) gives a :class:`FailedResult` holding its error instead of
    stopping the batch; the others are computed as without it."""
    cfgs = [_as_config(c) for c in configs]
    modules = dict.fromkeys(m for c in cfgs for m in c.allowed_modules)
    with allowing(modules):
        return _execute_configs(cfgs, dataset, cache, run_id, progress, isolate)


def _execute_configs(
    cfgs: list[PipelineConfig],
    dataset: Any,
    cache: PreprocessingCache | None,
    run_id: str,
    progress: Callable[[int, int], None] | None,
    isolate: bool,
) -> list[Result | FailedResult]:
    batch = _Batch(dataset, cache, run_id)
    results: list[Result | None] = [None] * len(cfgs)
    done = 0
    groups = sweep_groups(cfgs)
    # the prefixes that later groups share: only those are worth keeping between groups
    tags = [{t for i in group for t in _prefix_tags(cfgs[i])} for group in groups]
    later: set[str] = set()
    needed_after: list[frozenset[str]] = [frozenset()] * len(groups)
    for g in range(len(groups) - 1, -1, -1):
        needed_after[g] = frozenset(later)
        later |= tags[g]
    for g, group in enumerate(groups):
        # one group: keep everything (a caller running configs batch by batch, as
        # nirs_core.app.run does, shares prefixes through the cache across calls)
        keep = needed_after[g] if len(groups) > 1 else None
        outcome = batch.run_group([cfgs[i] for i in group], keep, isolate)
        for index, result in zip(group, outcome, strict=True):
            results[index] = result
            done += 1
            if progress is not None:
                progress(done, len(cfgs))
        if len(groups) > 1 and g < len(groups) - 1:
            batch.cache.drop(needed_after[g].__contains__)
    return results  # type: ignore[return-value]


def _prefix_tags(cfg: PipelineConfig) -> tuple[str, ...]:
    """The cache tag of each top-level step: the canonical JSON of the steps through it."""
    return tuple(canonical_json(list(cfg.steps[: i + 1])) for i in range(len(cfg.steps)))


def _as_config(config: Any) -> PipelineConfig:
    if isinstance(config, PipelineConfig):
        return config
    if isinstance(config, (list, tuple)):
        configs = expand(list(config))
        if len(configs) != 1:
            raise ConfigError(
                f"steps: a plain list of steps must be one pipeline; it expands to {len(configs)} "
                "configs (use expand() and execute_batch)."
            )
        return configs[0]
    raise ConfigError(f"execute: expected a PipelineConfig or a list of steps; got {type(config).__name__}.")


# --------------------------------------------------------------------------- PLS sweeps


def _sweep_signature(cfg: PipelineConfig) -> str | None:
    """The config's steps with the final PLS's n_components blanked, when it can share a
    sweep: a single-lane pipeline ending in ``{"model": PLSRegression}``."""
    steps = cfg.steps
    if not steps:
        return None
    last = steps[-1]
    if set(last) - {"model", "name"} or "model" not in last:
        return None
    op = last["model"]
    try:
        cls = resolve_class(op["class"])
        # scikit-learn's PLSRegression: its path resolves to the stand-in (nirs_core.models._sklearn_pls)
        path = cls.__dict__.get("_sklearn_path") or f"{cls.__module__}.{cls.__name__}"  # a stand-in: its path
        if cls is not resolve_class(_PLS) and path not in _SK_PLS_PATHS:
            return None
    except ConfigError:
        return None
    if any(k in step for step in steps for k in ("branch", "merge", "stack")):
        return None
    blanked = {**last, "model": {**op, "params": {**op["params"], "n_components": None}}}
    return canonical_json([*steps[:-1], blanked])


def sweep_groups(cfgs: list[PipelineConfig]) -> list[list[int]]:
    """Indices of ``cfgs`` grouped by component sweep (configs equal but for the
    ``n_components`` of their final PLS, scored together from one fit per fold), in first-seen
    order; every other config alone. The one grouping rule of the engine: runs commit by these
    groups too."""
    groups: dict[str, list[int]] = {}
    order: list[list[int]] = []
    for i, cfg in enumerate(cfgs):
        sig = _sweep_signature(cfg)
        if sig is None:
            order.append([i])
            continue
        if sig not in groups:
            groups[sig] = []
            order.append(groups[sig])
        groups[sig].append(i)
    return order


# --------------------------------------------------------------------------- contexts


class _Context:
    def __init__(self, name: str, key: str, pos: np.ndarray, fit: np.ndarray, report: np.ndarray) -> None:
        self.name, self.key, self.pos, self.fit, self.report = name, key, pos, fit, report


def _walk_nested_splits(steps: Sequence[Any], path: str, env: Env) -> None:
    for i, step in enumerate(steps):
        sub = f"{path}[{i}]"
        if not isinstance(step, dict) or "class" in step:
            continue
        if path != "steps":  # a nested step with a per-config hook (split) refuses to be nested
            ctrl = find_controller(step, sub)
            if ctrl.prepare is not None:
                ctrl.prepare(step, sub, env, False)
        for key, payload in step.items():
            context = KEYWORDS.context(key)
            if context is Context.CHAIN:
                _walk_nested_splits(payload, f"{sub}.{key}", env)
            elif context in (Context.CHAINS, Context.BRANCHES):
                items = payload.items() if isinstance(payload, dict) else enumerate(payload)
                for name, chain in items:
                    _walk_nested_splits(
                        chain,
                        f"{sub}.{key}[{name!r}]" if isinstance(payload, dict) else f"{sub}.{key}[{name}]",
                        env,
                    )


class _Batch:
    """Shared state of one dataset across the configs of a batch."""

    def __init__(self, dataset: Any, cache: PreprocessingCache | None, run_id: str) -> None:
        if dataset.task is None:
            raise ConfigError(f"dataset {dataset.name!r}: no targets; a pipeline needs a target to fit.")
        self.ds = dataset
        self.cache = cache if cache is not None else PreprocessingCache()
        self.run_id = run_id
        self.task = dataset.task
        self.ds_hash = dataset.content_hash()
        idx = dataset.index
        self.sample = idx["sample"].to_numpy()
        self.origin = idx["origin"].to_numpy()
        self.partition = np.asarray(idx["partition"].to_list(), dtype=object)
        self.measured = self.sample == self.origin
        self.cal = np.flatnonzero(self.partition == "train")
        self.test = np.flatnonzero((self.partition == "test") & self.measured)
        others = sorted({str(p) for p in self.partition} - {"train", "test"})
        self.ignored = {p: int((self.partition == p).sum()) for p in others}
        if not self.measured[self.cal].any():
            raise ConfigError(f"dataset {dataset.name!r}: no calibration rows (partition 'train').")
        version = "regression" if self.task == "regression" else "category"
        self.y = np.asarray(dataset.y(None, version=version))
        self.full = list(dataset.x(None, "2d"))

    # ------------------------------------------------------------------ contexts
    def contexts(self, folds, split_info) -> list[_Context]:
        out = []
        cal = self.cal
        if folds is not None:
            for k, (train_ids, val_ids) in enumerate(folds):
                fit_pos = cal[np.isin(self.origin[cal], train_ids)]
                val_pos = cal[self.measured[cal] & np.isin(self.sample[cal], val_ids)]
                pos = np.concatenate([fit_pos, val_pos])
                fit = np.concatenate([np.ones(fit_pos.size, bool), np.zeros(val_pos.size, bool)])
                report = np.array([""] * fit_pos.size + ["val"] * val_pos.size, dtype="<U5")
                out.append(_Context(f"fold_{k}", f"{split_info['step']}|fold_{k}", pos, fit, report))
        pos = np.concatenate([cal, self.test])
        fit = np.concatenate([np.ones(cal.size, bool), np.zeros(self.test.size, bool)])
        report = np.array(
            ["train" if m else "" for m in self.measured[cal]] + ["test"] * self.test.size, dtype="<U5"
        )
        out.append(_Context("refit", "refit", pos, fit, report))
        return out

    def initial_flow(self, ctx: _Context, env: Env) -> Flow:
        blocks, records = [], []
        names = self.ds.source_names
        for s, full in enumerate(self.full):
            node_id = env.next_id("input" if len(names) == 1 else f"input_{names[s]}")
            records.append(Record(node_id, "input", (), meta={"source": s, "name": names[s]}))
            axis = np.asarray(self.ds.wavelengths(s), dtype=np.float64)
            if full.shape[1] != axis.shape[0]:
                axis = None  # several stored processings side by side
            key = processing_key(self.ds_hash, "source", str(s))
            blocks.append(Block(None, node_id, axis, names[s], full, key, ctx.pos))
        y = self.y[ctx.pos]
        y_model = y.astype(np.float64)
        return Flow(
            blocks=tuple(blocks),
            y=y,
            y_model=y_model,
            y_steps=(),
            fit=ctx.fit,
            sample=self.sample[ctx.pos],
            origin=self.origin[ctx.pos],
            pos=ctx.pos,
            report=ctx.report,
            records=tuple(records),
            key=processing_key(self.ds_hash, ctx.key),
        )

    # ------------------------------------------------------------------ a group of configs
    def run_group(
        self, cfgs: list[PipelineConfig], keep: frozenset[str] | None = None, isolate: bool = False
    ) -> list[Result | FailedResult]:
        """Results of a group of configs; ``keep``: the prefix tags whose lanes are cached
        (None: every cacheable lane); ``isolate``: a failing config gives a FailedResult."""
        if len(cfgs) > 1:
            try:
                return self._run(cfgs, keep)
            except Exception as exc:
                if not isinstance(exc, ConfigError) and not isolate:
                    raise
                # the largest n_components may not fit every fold: run the configs one by one,
                # which reports the error of the config that actually fails
                return [self._one(cfg, keep, isolate) for cfg in cfgs]
        return [self._one(cfgs[0], keep, isolate)]

    def _one(self, cfg: PipelineConfig, keep: frozenset[str] | None, isolate: bool) -> Result | FailedResult:
        if not isolate:
            return self._run([cfg], keep)[0]
        try:
            return self._run([cfg], keep)[0]
        except (MemoryError, OSError):
            raise  # the machine's trouble, not the config's
        except Exception as exc:
            return FailedResult(
                dataset=self.ds.name,
                config_id=cfg.id,
                config_name=cfg.name,
                config=cfg.steps,
                choices=cfg.choices,
                error=str(exc) or type(exc).__name__,
                error_type=type(exc).__name__,
                template_id=cfg.template_id,
            )

    def _run(self, cfgs: list[PipelineConfig], keep: frozenset[str] | None = None) -> list[Result]:
        t0 = time.perf_counter()
        rep = cfgs[0]
        steps = rep.steps
        tags = _prefix_tags(rep)
        sweep = None
        sweep_path = None
        if len(cfgs) > 1:
            sweep = tuple(int(c.steps[-1]["model"]["params"]["n_components"]) for c in cfgs)
            sweep_path = f"steps[{len(steps) - 1}]"
        plan = Env(self.ds, self.ds_hash, self.task, "plan", self.cache)
        for i, step in enumerate(steps):
            ctrl = find_controller(step, f"steps[{i}]")
            if ctrl.prepare is not None:
                ctrl.prepare(step, f"steps[{i}]", plan, True)
        _walk_nested_splits(steps, "steps", plan)
        contexts = self.contexts(plan.folds, plan.split_info)
        outcome: dict[str, list[Flow]] = {}
        stats = {"fits": 0, "cache_hits": 0}
        for ctx in contexts:
            env = Env(
                self.ds,
                self.ds_hash,
                self.task,
                ctx.name,
                self.cache,
                sweep=sweep,
                sweep_path=sweep_path,
                folds=plan.folds,
                split_info=plan.split_info,
                stats=stats,
                prefix_tags=tags,
                keep_tags=keep,
            )
            lanes = env.run_steps(steps, [self.initial_flow(ctx, env)], "steps")
            if not any(lane.preds for lane in lanes):
                raise ConfigError("steps: the pipeline has no model step; nothing predicts the target.")
            # keep what the results need, not the features: one context's arrays at a time
            outcome[ctx.name] = [
                replace(lane, blocks=(), branch_origin=None, branch_steps=()) for lane in lanes
            ]
            del lanes, env
        elapsed = time.perf_counter() - t0
        results = []
        for cfg, variant in zip(cfgs, sweep or (None,), strict=True):
            results.append(self._result(cfg, variant, outcome, plan, stats, elapsed / len(cfgs), len(cfgs)))
        return results

    # ------------------------------------------------------------------ results
    def _sets(self, lanes: list[Flow], variant: Any) -> tuple[list, list]:
        """(candidates, side sets) as (lane, prediction set) pairs of one variant."""
        cands = [(lane, ps) for lane in lanes for ps in lane.preds if ps.variant in (None, variant)]
        side = [(lane, ps) for lane in lanes for ps in lane.side_preds if ps.variant in (None, variant)]
        return cands, side

    def _result(self, cfg, variant, outcome, plan, stats, seconds, group_size) -> Result:
        metric = selection_metric(self.task)
        ident = {
            "run_id": self.run_id,
            "dataset": self.ds.name,
            "config_id": cfg.id,
            "config_name": cfg.name,
            "template_id": cfg.template_id,
        }
        per_ctx = {name: self._sets(lanes, variant) for name, lanes in outcome.items()}
        labels = [ps.label for _, ps in per_ctx["refit"][0]]
        side_labels = [ps.label for _, ps in per_ctx["refit"][1]]
        if len(set(labels + side_labels)) != len(labels) + len(side_labels):
            raise ConfigError("steps: two models have the same name; give each model step a distinct 'name'.")
        folds = [n for n in outcome if n != "refit"]
        rows: list[dict[str, Any]] = []
        summaries: dict[str, dict[str, Any]] = {}
        for label in labels + side_labels:
            summaries[label] = self._prediction_rows(label, per_ctx, folds, ident, rows)
        has_cv = bool(folds)

        def rank(label: str) -> float:
            s = summaries[label]
            score = s["val"][metric] if has_cv else s["train"][metric]
            return badness(metric, score)

        best = min(labels, key=rank)
        s = summaries[best]
        graph, artifacts = self._graph(best, per_ctx, folds, cfg, plan)
        best_set = self._find(per_ctx["refit"], best)[1]
        found = best_set.domain or stack_domain(graph, self.full, self.cal[self.measured[self.cal]], self.test)
        domain = attach_domain(graph, artifacts, found, rows, best, best_set.tail[0].id, self.task)
        classes = [c if isinstance(c, (int, float, str)) else str(c) for c in self.ds.classes]
        info: dict[str, Any] = {
            "best_model": best,
            "models": {
                lab: {"cv_score": summaries[lab]["val"].get(metric) if has_cv else None} for lab in labels
            },
            "split": plan.split_info or None,
            "n_folds": len(folds),
            "ignored_partitions": self.ignored,
            "cache": self.cache.stats(),
            "fits": stats["fits"],
            "shared_sweep": group_size if group_size > 1 else None,
            "validation": validation_statistics(self.task, rows, best, list(self.ds.target_names), classes),
            "domain": domain,
        }
        if stats.get("tuning"):
            info["tuning"] = _tuning_info(stats["tuning"])
        if not has_cv:
            info["note"] = "no split step: the whole calibration set is one training set; cv_score is None"
        return Result(
            dataset=self.ds.name,
            config_id=cfg.id,
            config_name=cfg.name,
            config=cfg.steps,
            choices=cfg.choices,
            task=self.task,
            metric=metric,
            cv_score=s["val"][metric] if has_cv else None,
            test_score=s["test"][metric] if "test" in s else None,
            scores={k: v for k, v in s.items() if v},
            n_train=int(self.measured[self.cal].sum()),
            n_test=int(self.test.size),
            predictions=rows,
            graph=graph,
            artifacts=artifacts,
            template_id=cfg.template_id,
            timings={"seconds": seconds},
            info=info,
        )

    def _find(self, pairs, label):
        for lane, ps in pairs[0] + pairs[1]:
            if ps.label == label:
                return lane, ps
        raise ConfigError(
            f"steps: model {label!r} is missing in one fit context (the pipeline's shape depends on the data)."
        )

    def _prediction_rows(self, label, per_ctx, folds, ident, rows) -> dict[str, dict[str, float]]:
        """Append the model's prediction rows (each validation fold, the pooled out-of-fold
        predictions, the refit's train and test rows) to ``rows``; return the scores per
        partition (``val`` pooled, ``train``, ``test``), read from the rows that hold them."""
        names = task_metrics(self.task)

        def add(fold: int, partition: str, sample, y_true, y_pred, proba) -> dict[str, float]:
            row = prediction_row(
                task=self.task,
                ident=ident,
                model=label,
                fold=fold,
                partition=partition,
                sample=sample,
                y_true=y_true,
                y_pred=y_pred,
                y_proba=proba,
            )
            rows.append(row)
            return {name: row[name] for name in names}

        out: dict[str, dict[str, float]] = {}
        pooled_s, pooled_t, pooled_p, pooled_pos = [], [], [], []
        for k, name in enumerate(folds):
            lane, ps = self._find(per_ctx[name], label)
            sel = np.flatnonzero(lane.report[: lane.n] == "val")
            y_true = lane.y[sel].astype(np.float64)
            y_pred = ps.y_pred[sel]
            proba = ps.y_proba[sel] if ps.y_proba is not None else None
            add(k, "val", lane.sample[sel], y_true, y_pred, proba)
            pooled_s.append(lane.sample[sel])
            pooled_t.append(y_true)
            pooled_p.append((y_pred, proba))
            pooled_pos.append(lane.pos[sel])
        if folds:
            order = np.argsort(np.concatenate(pooled_pos), kind="stable")
            probas = [q for _, q in pooled_p]
            out["val"] = add(
                POOLED_FOLD,
                "val",
                np.concatenate(pooled_s)[order],
                np.concatenate(pooled_t)[order],
                np.concatenate([p for p, _ in pooled_p])[order],
                np.concatenate(probas)[order] if all(q is not None for q in probas) else None,
            )
        lane, ps = self._find(per_ctx["refit"], label)
        for part in ("train", "test"):
            sel = np.flatnonzero(lane.report[: lane.n] == part)
            if sel.size:
                proba = ps.y_proba[sel] if ps.y_proba is not None else None
                y_true = lane.y[sel].astype(np.float64)
                out[part] = add(REFIT_FOLD, part, lane.sample[sel], y_true, ps.y_pred[sel], proba)
        return out

    def _records(self, lane: Flow, ps: PredictionSet) -> dict[str, Record]:
        return {r.id: r for r in (*lane.records, *ps.tail)}

    def _graph(self, label, per_ctx, folds, cfg, plan) -> tuple[RuntimeGraph, dict[str, bytes]]:
        lane, ps = self._find(per_ctx["refit"], label)
        refit = self._records(lane, ps)
        fold_records = [self._records(*self._find(per_ctx[name], label)) for name in folds]
        needed: set[str] = set()
        stack = [ps.node]
        while stack:
            node_id = stack.pop()
            if node_id in needed:
                continue
            needed.add(node_id)
            stack.extend(refit[node_id].parents)
        ordered = [r for r in (*lane.records, *ps.tail) if r.id in needed]
        seen: set[str] = set()
        graph = RuntimeGraph()
        artifacts: dict[str, bytes] = {}
        for rec in ordered:
            if rec.id in seen:
                continue
            seen.add(rec.id)
            files: dict[str, str] = {}
            for fit_name, recs in [("refit", refit), *zip(folds, fold_records)]:
                r = recs.get(rec.id)
                if r is not None and r.state is not None:
                    name = f"{_sha256(r.state)}.{r.ext}"
                    artifacts[name] = r.state
                    files[fit_name] = name
            graph.add(rec.to_node(files))
        out_id = f"{len(graph.nodes) and max(int(n.id[:3]) for n in graph.nodes) + 1:03d}_output"
        graph.add(Node(id=out_id, kind="output", parents=[ps.node]))
        graph.inputs = [
            {
                "name": self.ds.source_names[s],
                "wavelengths": [float(w) for w in self.ds.wavelengths(s)],
                "unit": self.ds.unit(s),
                "n_features": int(self.full[s].shape[1]),
                "dtype": str(self.full[s].dtype),
            }
            for s in range(self.ds.n_sources)
        ]
        graph.outputs = {
            "node": out_id,
            "targets": self.ds.target_names,
            "task": self.task,
            "classes": [c if isinstance(c, (int, float, str)) else str(c) for c in self.ds.classes] or None,
        }
        graph.meta = {
            "config_id": cfg.id,
            "config_name": cfg.name,
            "dataset": self.ds.name,
            "dataset_sha256": self.ds_hash,
            "model": label,
            "split": plan.split_info or None,
            "fits": ["refit", *folds],
        }
        return graph, artifacts


def _tuning_info(searches: dict[str, Any]) -> dict[str, Any]:
    """``finetune_params`` searches by ``<context>/<step path>``: the refit's best parameters
    (the result's; by step when several model steps were tuned) and every context's trials."""
    refit = {
        key.split("/", 1)[1]: found["best_params"]
        for key, found in searches.items()
        if key.startswith("refit/")
    }
    best = next(iter(refit.values())) if len(refit) == 1 else refit
    return {"best_params": best, "contexts": dict(searches)}


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
