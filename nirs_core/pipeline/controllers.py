"""Step controllers: one handler per step kind, found through a registry.

The executor (:mod:`nirs_core.pipeline.executor`) knows no step kind. It runs a pipeline on
one *fit context* (a cross-validation fold, or the refit on the whole calibration set) by
handing each step to the controller that :func:`find_controller` picks, and a new kind joins
by registering a controller::

    @controller("my_keyword", priority=0)
    def _my_step(step, lane, env, path) -> list[Flow]: ...

A controller receives the canonical step (see :mod:`nirs_core.pipeline.serialize`), one
*lane* (a :class:`Flow`) and returns the lanes that continue: one for most steps, several
for a ``branch``. Controllers registered with ``lanes=True`` receive every lane at once
(``merge``, ``stack``). ``when`` narrows a controller to some steps of its kind (the outlier
filter is an ``operator`` whose class has ``_nirs_role == "filter"``); among the controllers
that match, the highest ``priority`` wins. ``prepare`` runs once per config before any fit
(the ``split`` controller computes the folds there).

Flows
=====

A :class:`Flow` holds the rows of one fit context: the training rows (``fit`` True) and the
rows to predict (validation rows of a fold; the calibration and test rows of the refit), the
feature blocks (one per source until they are joined), the targets, and the runtime-graph
records made so far. Stateful operators are fit on ``X[fit]`` only and transform every row,
so no validation or test row reaches a fit; stateless ones (``requires_fit`` False) are
computed once on every row of the dataset and sliced (see :data:`~Flow.pristine`). Rows are
only ever appended (sample augmentation), never reordered or removed: an outlier filter
clears their ``fit`` flag instead.

Step semantics
==============

operator
    A transformer: fit on the lane's training rows (with the current targets), transform
    every row. Applied to each feature block (source) separately: a node per source.
    ``_nirs_role == "filter"`` (outlier detectors): ``fit_filter`` on the training rows
    (sources side by side); flagged rows stop being training rows. Augmenters belong in
    ``sample_augmentation``; calibration-transfer operators (DS/PDS, which take master
    spectra as ``y``) are refused: fit them on transfer samples outside the pipeline.
split
    Handled before any fit (``prepare``): folds over the measured calibration samples,
    with the dataset's ``group`` column as ``groups`` when it has one. In the step loop
    it does nothing. One split per pipeline, at the top level.
y_processing
    A chain of transformers with ``inverse_transform``, each fit on the training targets;
    the model learns the transformed targets and its predictions are inverted (nodes of
    kind ``pickled``, method ``inverse_transform``). Regression only.
model
    Sources are concatenated side by side (a ``concat`` node), the model is fit on the
    training rows and predicts every row. Option ``name``: the model's label in the
    predictions (default: its node id).
branch
    Parallel sub-pipelines: each chain runs on a copy of the lane, and every later step
    runs in each branch. Without a merge, each branch's model is its own prediction set.
feature_augmentation
    Several chains side by side on the same input; their outputs are concatenated per
    source (layout ``2d``).
sample_augmentation
    Chains of augmenters applied to the lane's measured training rows; new rows keep their
    origin, are training rows only and never predicted. Option ``count``: copies per chain
    (default 1).
merge
    ``"features"``: the branches' features side by side, one lane again (branches must
    not have changed the rows). ``"predictions"``: stacking; see :func:`_merge_predictions`.
stack
    ``{"stack": meta_model}`` is ``{"merge": "predictions"}`` followed by
    ``{"model": meta_model}``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cloudpickle
import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils import get_tags

from nirs_core.errors import ConfigError
from nirs_core.graph.runtime import state_to_bytes
from nirs_core.pipeline.cache import PreprocessingCache, processing_key
from nirs_core.pipeline.serialize import canonical_json, classify_step, from_canonical, resolve_class

__all__ = [
    "Block",
    "Controller",
    "Env",
    "Flow",
    "PredictionSet",
    "Record",
    "YStep",
    "controller",
    "controllers",
    "find_controller",
]


# --------------------------------------------------------------------------- data carried by a lane


@dataclass(frozen=True)
class Record:
    """One runtime-graph node as fitted in one context; ``state`` is the artefact's bytes."""

    id: str
    kind: str
    parents: tuple[str, ...]
    class_path: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    kernel: str | None = None
    state: bytes | None = None
    ext: str = "npz"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Block:
    """Features of every row of a lane from one source (or one join of sources).

    A block of a pristine lane need not hold its rows: ``X`` is then None and the rows are
    ``full[rows]``, taken only when a step needs them (so folds share one array)."""

    X: np.ndarray | None
    head: str  # id of the node that produced X
    axis: np.ndarray | None  # wavelengths of X's columns, None when unknown
    source: str
    full: np.ndarray | None = None  # the same processing on every dataset row (pristine lanes)
    full_key: str = ""
    rows: np.ndarray | None = None  # dataset rows of the lane's rows, when X is None

    def data(self, mask: np.ndarray | None = None) -> np.ndarray:
        """The features of the lane's rows, or of the rows selected by the boolean ``mask``.

        A read-only view when the rows are contiguous in the array that holds them (a fit
        context lists its training rows first, so a fit's rows are a view), else a copy."""
        if self.X is not None:
            return self.X if mask is None else take_rows(self.X, np.flatnonzero(mask))
        return take_rows(self.full, self.rows if mask is None else self.rows[mask])

    def row_index(self, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(array, row indices into it) of the lane's rows or of ``mask``'s."""
        if self.X is not None:
            return self.X, (np.arange(self.X.shape[0]) if mask is None else np.flatnonzero(mask))
        return self.full, (self.rows if mask is None else self.rows[mask])

    @property
    def width(self) -> int:
        return int((self.X if self.X is not None else self.full).shape[1])


def _span(idx: np.ndarray) -> slice | None:
    """``idx`` as a slice when it is a run of consecutive ascending integers."""
    idx = np.asarray(idx)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        return None
    start, stop = int(idx[0]), int(idx[-1]) + 1
    if stop - start != idx.size or start < 0:
        return None
    if idx.size > 1 and not np.all(np.diff(idx) == 1):
        return None
    return slice(start, stop)


def take_rows(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``arr[idx]``: a read-only view when ``idx`` is contiguous, else a copy."""
    span = _span(idx)
    if span is None:
        return arr[idx]
    view = arr[span]
    view.flags.writeable = False
    return view


def chunk_rows(width: int) -> int:
    """Rows per block when rows are gathered block by block (about 4 MiB of float64)."""
    return max(64, (4 * 2**20) // (8 * max(int(width), 1)))


def map_rows(fn: Callable[[np.ndarray], np.ndarray], arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``fn(arr[idx])`` for a row-wise ``fn``, block by block into one output array: no copy
    ``arr[idx]`` of scattered rows, and the temporaries of ``fn`` stay the size of a block."""
    step = chunk_rows(arr.shape[1])
    if idx.size <= step:
        return np.asarray(fn(take_rows(arr, idx)))
    out = None
    for start in range(0, idx.size, step):
        part = np.asarray(fn(take_rows(arr, idx[start : start + step])))
        if out is None:
            out = np.empty((idx.size, *part.shape[1:]), dtype=part.dtype)
        out[start : start + part.shape[0]] = part
    return out


@dataclass(frozen=True)
class YStep:
    """A fitted y_processing transformer."""

    estimator: Any
    class_path: str
    params: dict[str, Any]


@dataclass(frozen=True)
class PredictionSet:
    """One model's predictions for every row of its lane, in target units."""

    label: str
    y_pred: np.ndarray  # (n_rows, n_targets)
    node: str  # the last node of the prediction chain (model or y inverse)
    tail: tuple[Record, ...]  # model and y inverse records
    variant: Any = None  # the n_components of a PLS sweep
    y_proba: np.ndarray | None = None


@dataclass(frozen=True)
class Flow:
    """The state of one lane in one fit context (immutable: controllers return new flows)."""

    blocks: tuple[Block, ...]
    y: np.ndarray  # (n, q): float targets (regression) or int class codes
    y_model: np.ndarray  # targets after y_processing
    y_steps: tuple[YStep, ...]
    fit: np.ndarray  # bool (n,): training rows
    sample: np.ndarray  # int64 (n,): sample ids (negative for rows augmented in flight)
    origin: np.ndarray  # int64 (n,)
    pos: np.ndarray  # int64 (n,): dataset row of each row, -1 for rows augmented in flight
    report: np.ndarray  # str (n,): partition a prediction of the row is reported in, or ""
    records: tuple[Record, ...] = ()
    preds: tuple[PredictionSet, ...] = ()
    side_preds: tuple[PredictionSet, ...] = ()  # reported, not candidates (before a merge)
    pristine: bool = True  # X is a row-wise function of the dataset's X (stateless ops only)
    key: str = ""  # processing hash of the chain so far
    branch_origin: Flow | None = None
    branch_steps: tuple[tuple[dict, str], ...] = ()
    label: str = ""

    @property
    def n(self) -> int:
        return int(self.fit.shape[0])

    def subset(self, keep: np.ndarray, fit: np.ndarray) -> Flow:
        """The rows ``keep`` (bool) with training flags ``fit`` (bool, over all rows)."""
        idx = np.flatnonzero(keep)
        return replace(
            self,
            blocks=tuple(
                replace(b, X=b.X[idx]) if b.X is not None else replace(b, rows=b.rows[idx])
                for b in self.blocks
            ),
            y=self.y[idx],
            y_model=self.y_model[idx],
            fit=fit[idx],
            sample=self.sample[idx],
            origin=self.origin[idx],
            pos=self.pos[idx],
            report=self.report[idx],
            preds=(),
            side_preds=(),
        )


# --------------------------------------------------------------------------- environment


@dataclass
class Env:
    """What controllers share within one fit context of one config."""

    dataset: Any
    dataset_hash: str
    task: str
    context: str  # "fold_0"…, "refit", or "inner" for stacking's inner folds
    cache: PreprocessingCache | None
    counter: int = 0
    record: bool = True  # serialise fitted states (False in stacking's inner folds)
    sweep: tuple[int, ...] | None = None  # n_components values of a PLS sweep
    sweep_path: str | None = None
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None
    split_info: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=lambda: {"fits": 0, "cache_hits": 0})
    prefix_tags: tuple[str, ...] = ()  # cache tag of each top-level step (the prefix through it)
    keep_tags: frozenset[str] | None = None  # cache lanes only under these tags (None: all)

    def tag(self, path: str) -> str | None:
        """The cache tag of the top-level step that ``path`` is in (``steps[i]...``)."""
        if not path.startswith("steps[") or not self.prefix_tags:
            return None
        i = int(path[6 : path.index("]")])
        return self.prefix_tags[i] if i < len(self.prefix_tags) else None

    def caches_lane(self, tag: str | None) -> bool:
        return self.keep_tags is None or tag in self.keep_tags

    def next_id(self, label: str) -> str:
        node_id = f"{self.counter:03d}_{label}"
        self.counter += 1
        return node_id

    def scratch(self) -> Env:
        """An environment for stacking's inner folds: nothing cached, nothing recorded."""
        return Env(
            dataset=self.dataset,
            dataset_hash=self.dataset_hash,
            task=self.task,
            context="inner",
            cache=self.cache,  # only dataset-wide stateless results: inner lanes have no key
            record=False,
            stats=self.stats,
        )

    def run_steps(self, steps: Sequence[dict], lanes: list[Flow], path: str) -> list[Flow]:
        """Run a chain of steps on lanes (the executor's loop, reused by branches)."""
        for i, step in enumerate(steps):
            lanes = run_step(step, lanes, self, f"{path}[{i}]")
        return lanes


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Controller:
    kind: str
    priority: int
    handler: Callable[..., list[Flow]]
    when: Callable[[dict], bool] | None = None
    lanes: bool = False  # the handler takes every lane at once
    cacheable: bool = False  # the lane after this step is cached (a preprocessing prefix)
    prepare: Callable[..., None] | None = None


_CONTROLLERS: list[Controller] = []


def controller(
    kind: str,
    priority: int = 0,
    *,
    when: Callable[[dict], bool] | None = None,
    lanes: bool = False,
    cacheable: bool = False,
    prepare: Callable[..., None] | None = None,
) -> Callable[[Callable], Callable]:
    """Register the decorated function as the handler of steps of ``kind`` (``"operator"``
    or a keyword). ``when(step)`` narrows it; the highest ``priority`` among matches wins."""

    def decorate(fn: Callable) -> Callable:
        _CONTROLLERS.append(Controller(kind, priority, fn, when, lanes, cacheable, prepare))
        _CONTROLLERS.sort(key=lambda c: -c.priority)
        return fn

    return decorate


def controllers() -> list[Controller]:
    """The registered controllers, highest priority first."""
    return list(_CONTROLLERS)


def find_controller(step: Any, path: str) -> Controller:
    """The controller for a canonical step; ``ConfigError`` naming ``path`` when none fits."""
    if not isinstance(step, dict):
        raise ConfigError(f"{path}: expected a canonical step (a mapping); got {type(step).__name__}.")
    kind = classify_step(step, path)
    for ctrl in _CONTROLLERS:
        if ctrl.kind == kind and (ctrl.when is None or ctrl.when(step)):
            return ctrl
    raise ConfigError(f"{path}: no controller handles steps of kind {kind!r}.")


def run_step(step: dict, lanes: list[Flow], env: Env, path: str) -> list[Flow]:
    """Dispatch one step: to every lane, or to all lanes at once; cache preprocessing lanes."""
    ctrl = find_controller(step, path)
    if ctrl.lanes:
        return ctrl.handler(step, lanes, env, path)
    out: list[Flow] = []
    text = canonical_json(step)
    for lane in lanes:
        key = processing_key(lane.key, text, str(env.counter)) if lane.key else ""
        tag = env.tag(path)
        use = ctrl.cacheable and env.cache is not None and bool(key)
        cached = env.cache.get(key) if use else None
        if cached is not None:
            results, env.counter = cached
            env.stats["cache_hits"] += 1
        else:
            results = [replace(r, key=key) for r in ctrl.handler(step, lane, env, path)]
            if use and env.caches_lane(tag):
                arrays = [a for r in results for a in _flow_arrays(r)]
                env.cache.put(key, (results, env.counter), arrays, tag=tag)
        origin = lane.branch_origin
        if origin is not None:
            # record the step in the lane's branch history (stacking reruns it on inner folds);
            # a branch step starts new histories instead
            results = [
                replace(r, branch_steps=(*lane.branch_steps, (step, path)))
                if r.branch_origin is not None and r.branch_origin.key == origin.key
                else r
                for r in results
            ]
        out.extend(results)
    return out


def _flow_arrays(flow: Flow) -> list[np.ndarray]:
    arrays = [flow.y, flow.y_model, flow.fit, flow.sample, flow.origin, flow.pos, flow.report]
    for b in flow.blocks:
        arrays.extend(a for a in (b.X, b.rows) if a is not None)
        if b.full is not None and b.full.flags.owndata:  # not a view of the dataset
            arrays.append(b.full)
    return arrays


# --------------------------------------------------------------------------- helpers


def _operator_class(step: dict) -> type:
    return resolve_class(step["class"])


def _role(step: dict) -> str | None:
    try:
        return getattr(_operator_class(step), "_nirs_role", None)
    except ConfigError:
        return None


def _build(op: dict, path: str) -> Any:
    try:
        return from_canonical(op)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


@functools.cache
def _fit_takes_wavelengths(cls: type) -> bool:
    try:
        return "wavelengths" in inspect.signature(cls.fit).parameters
    except (TypeError, ValueError):
        return False


def _is_stateless(est: Any) -> bool:
    try:
        return get_tags(est).requires_fit is False
    except (AttributeError, TypeError):
        return False


def _state(est: Any, env: Env, method: str) -> tuple[str, str | None, bytes | None, str, dict]:
    """(node kind, kernel, artefact bytes, extension, meta) of a fitted estimator: the
    ``replay_spec`` kwargs as ``.npz`` for the project's operators, cloudpickle otherwise."""
    spec = getattr(est, "replay_spec", None)
    if spec is not None:
        if method == "predict" and "method" in inspect.signature(spec).parameters:
            kernel, kwargs = spec("predict")
        else:
            kernel, kwargs = spec()
        kind = "model" if method == "predict" else "transform"
        return kind, kernel, state_to_bytes(kwargs) if env.record else None, "npz", {}
    blob = cloudpickle.dumps(est) if env.record else None
    return "pickled", None, blob, "pkl", {"method": method}


def _label(class_path: str) -> str:
    return class_path.rsplit(".", 1)[-1]


def _fit_y(lane: Flow, env: Env) -> np.ndarray:
    y = lane.y_model[lane.fit]
    if env.task != "regression":
        return lane.y[lane.fit, 0].astype(np.int64)
    return y[:, 0] if y.shape[1] == 1 else y


def _check_training_rows(lane: Flow, path: str, what: str) -> None:
    if not lane.fit.any():
        raise ConfigError(f"{path}: {what} has no training rows to fit on (every row was filtered out).")


def _axis_after(est: Any, width_in: int, X_out: np.ndarray, axis: np.ndarray | None) -> np.ndarray | None:
    out = getattr(est, "wavelengths_out_", None)
    if out is not None:
        return np.asarray(out, dtype=np.float64)
    if axis is not None and hasattr(est, "get_support"):
        try:
            return axis[np.asarray(est.get_support())]
        except (TypeError, ValueError, IndexError):
            return None
    if axis is not None and X_out.shape[1] == width_in:
        return axis
    return None


def _fit_transform_block(est: Any, block: Block, lane: Flow, env: Env) -> tuple[Any, np.ndarray]:
    kwargs = {}
    if block.axis is not None and _fit_takes_wavelengths(type(est)) and block.axis.shape[0] == block.width:
        kwargs["wavelengths"] = block.axis
    # the training rows (a view when contiguous) are released before the transform
    # allocates its output; scattered rows are transformed block by block into one array
    est.fit(block.data(lane.fit), _fit_y(lane, env), **kwargs)
    env.stats["fits"] += 1
    arr, idx = block.row_index()
    return est, map_rows(est.transform, arr, idx)


def _cache_takes(env: Env, full: np.ndarray) -> bool:
    """Whether a stateless operator on raw-derived spectra runs once on every dataset row
    (the result cached for every fit context) rather than on each context's rows: when the
    result (sized as its input) takes at most an eighth of the cache bound (32 MiB with the
    default bound). The dataset-wide route holds the result and, in each fold, a copy of the
    fold's training rows for the fit (about 1.6× the spectra besides the dataset); the
    per-context route holds one preprocessed copy of the context's rows (fits take a view of
    it). Small data gain the single transform, large data keep the smaller peak."""
    return env.cache is not None and 8 * int(full.nbytes) <= env.cache.max_bytes


def _node_suffix(lane: Flow, block: Block) -> str:
    return f"_{block.source}" if len(lane.blocks) > 1 else ""


# --------------------------------------------------------------------------- operator


@controller("operator", priority=0, cacheable=True)
def _operator(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    cls = _operator_class(step)
    role = getattr(cls, "_nirs_role", None)
    if role == "augmenter":
        raise ConfigError(
            f"{path}: {cls.__name__} is an augmenter; put it inside a sample_augmentation step "
            "(it would otherwise perturb validation and test spectra)."
        )
    if cls.__module__.startswith("nirs_core.operators.transfer"):
        raise ConfigError(
            f"{path}: {cls.__name__} maps slave to master spectra and is fit on transfer samples "
            "(master spectra as y); fit it outside the pipeline and transform the spectra first."
        )
    if not hasattr(cls, "transform"):
        what = "a model" if hasattr(cls, "predict") else "not a transformer"
        raise ConfigError(
            f"{path}: {cls.__name__} is {what} (no transform); write a model as {{'model': ...}}."
        )
    class_path, params = step["class"], step["params"]
    text = canonical_json(step)
    blocks = []
    records = list(lane.records)
    stateless = _is_stateless(_build(step, path))
    pristine = lane.pristine and stateless
    for block in lane.blocks:
        node_id = env.next_id(_label(class_path) + _node_suffix(lane, block))
        full_key = (
            processing_key(env.dataset_hash, "all", block.full_key, text) if block.full is not None else ""
        )
        hit = env.cache.get(full_key) if (pristine and full_key and env.cache is not None) else None
        # dataset-wide only when the cache can keep the result for the other fit contexts
        # (its size estimated by the input's); else on this context's rows, like a stateful op
        if pristine and block.full is not None and (hit is not None or _cache_takes(env, block.full)):
            if hit is None:
                est = _build(step, path)
                kwargs = {}
                if block.axis is not None and _fit_takes_wavelengths(cls):
                    kwargs["wavelengths"] = block.axis
                est.fit(block.full, **kwargs)
                env.stats["fits"] += 1
                out_full = map_rows(est.transform, block.full, np.arange(block.full.shape[0]))
                axis = _axis_after(est, block.full.shape[1], out_full, block.axis)
                hit = (out_full, axis, _state(est, replace(env, record=True), "transform"))
                if env.cache is not None:
                    env.cache.put(full_key, hit, [out_full], tag=env.tag(path))
            else:
                env.stats["cache_hits"] += 1
            out_full, axis, (kind, kernel, blob, ext, meta) = hit
            blocks.append(Block(None, node_id, axis, block.source, out_full, full_key, lane.pos))
        else:
            _check_training_rows(lane, path, cls.__name__)
            est, X = _fit_transform_block(_build(step, path), block, lane, env)
            axis = _axis_after(est, block.width, X, block.axis)
            kind, kernel, blob, ext, meta = _state(est, env, "transform")
            blocks.append(Block(X, node_id, axis, block.source))
        records.append(Record(node_id, kind, (block.head,), class_path, params, kernel, blob, ext, meta))
    return [replace(lane, blocks=tuple(blocks), records=tuple(records), pristine=pristine)]


@controller("operator", priority=10, when=lambda step: _role(step) == "filter", cacheable=True)
def _outlier_filter(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    """An outlier detector: fit on the training rows (sources side by side), which lose their
    training flag when flagged. Recorded as identity nodes (training time only)."""
    class_path = step["class"]
    _check_training_rows(lane, path, _label(class_path))
    est = _build(step, path)
    X = np.hstack([b.data(lane.fit) for b in lane.blocks])
    keep = np.asarray(est.fit_filter(X, _fit_y(lane, env)), dtype=bool)
    env.stats["fits"] += 1
    fit = lane.fit.copy()
    fit[np.flatnonzero(lane.fit)[~keep]] = False
    if not fit.any():
        raise ConfigError(f"{path}: {_label(class_path)} flagged every training row as an outlier.")
    records = list(lane.records)
    blocks = []
    for block in lane.blocks:
        node_id = env.next_id(_label(class_path) + _node_suffix(lane, block))
        meta = {"role": "filter", "n_removed": int((~keep).sum())}
        records.append(Record(node_id, "identity", (block.head,), class_path, step["params"], meta=meta))
        blocks.append(replace(block, head=node_id))
    return [replace(lane, blocks=tuple(blocks), records=tuple(records), fit=fit, pristine=False)]


# --------------------------------------------------------------------------- split


def _prepare_split(step: dict, path: str, env: Env, top_level: bool) -> None:
    if not top_level:
        raise ConfigError(f"{path}: a split belongs at the top level of the pipeline, not inside a step.")
    if env.folds is not None:
        raise ConfigError(f"{path}: the pipeline has a second split step; one split per pipeline.")
    splitter = _build(step["split"], f"{path}.split")
    if not (hasattr(splitter, "split") and hasattr(splitter, "get_n_splits")):
        raise ConfigError(f"{path}.split: {type(splitter).__name__} is not a splitter (no split method).")
    ds = env.dataset
    cal = np.arange(ds.n_rows)[ds.rows({"partition": "train"}, include_augmented=False)]
    X = ds.x(cal)
    y = ds.y(cal, "category" if env.task != "regression" else "numeric")
    y = y[:, 0] if y.shape[1] == 1 else y
    groups = ds.index["group"].to_numpy()[cal]
    has_groups = not all(g is None for g in groups)
    try:
        pairs = [
            (np.asarray(a), np.asarray(b))
            for a, b in splitter.split(X, y, groups.astype(str) if has_groups else None)
        ]
    except ValueError as exc:
        raise ConfigError(
            f"{path}.split: {type(splitter).__name__} failed on the calibration set: {exc}"
        ) from exc
    if not pairs:
        raise ConfigError(f"{path}.split: {type(splitter).__name__} made no folds.")
    seen = np.zeros(cal.size, dtype=bool)
    for k, (_, va) in enumerate(pairs):
        if seen[va].any():
            raise ConfigError(
                f"{path}.split: fold {k} validates samples already validated by an earlier fold; pooled "
                "out-of-fold predictions need disjoint validation sets (no repeated or shuffle-split CV)."
            )
        seen[va] = True
    sample = ds.index["sample"].to_numpy()[cal]
    env.folds = [(sample[a], sample[b]) for a, b in pairs]
    env.split_info = {
        "class": step["split"]["class"],
        "params": step["split"]["params"],
        "n_folds": len(pairs),
        "groups": "group" if has_groups else None,
        "step": canonical_json(step),
    }


@controller("split", prepare=_prepare_split)
def _split(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    """Folds were made before any fit (``prepare``); nothing happens in the step loop."""
    return [lane]


# --------------------------------------------------------------------------- y_processing


@controller("y_processing", cacheable=True)
def _y_processing(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    if env.task != "regression":
        raise ConfigError(f"{path}: y_processing applies to regression targets; the task is {env.task}.")
    _check_training_rows(lane, path, "y_processing")
    y = lane.y_model
    steps = list(lane.y_steps)
    for j, op in enumerate(step["y_processing"]):
        sub = f"{path}.y_processing[{j}]"
        if "class" not in op:
            raise ConfigError(f"{sub}: expected an operator in a y_processing chain; got a keyword step.")
        est = _build(op, sub)
        if not hasattr(est, "inverse_transform"):
            raise ConfigError(
                f"{sub}: {type(est).__name__} has no inverse_transform; y_processing must be invertible."
            )
        est.fit(y[lane.fit])
        env.stats["fits"] += 1
        y = np.asarray(est.transform(y), dtype=np.float64).reshape(y.shape[0], -1)
        steps.append(YStep(est, op["class"], op["params"]))
    return [replace(lane, y_model=y, y_steps=tuple(steps), pristine=lane.pristine)]


# --------------------------------------------------------------------------- model


def model_input(lane: Flow, env: Env) -> tuple[Flow, Block]:
    """The lane's features as one block (sources side by side, a ``concat`` node when several)."""
    if len(lane.blocks) == 1:
        return lane, lane.blocks[0]
    node_id = env.next_id("concat")
    X = np.hstack([b.data() for b in lane.blocks])
    rec = Record(node_id, "concat", tuple(b.head for b in lane.blocks), meta={"layout": "2d"})
    block = Block(X, node_id, None, "+".join(b.source for b in lane.blocks))
    return replace(lane, blocks=(block,), records=(*lane.records, rec), pristine=False), block


def predicted_rows(lane: Flow) -> np.ndarray:
    """Rows whose predictions are used: every row that is not a training row, and the
    reported training rows (the refit's calibration samples)."""
    return ~lane.fit | (lane.report != "")


def _spread(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full((mask.shape[0], values.shape[1]), np.nan)
    out[mask] = values
    return out


def _predict_2d(est: Any, X: np.ndarray) -> np.ndarray:
    pred = np.asarray(est.predict(X))
    return pred.reshape(pred.shape[0], -1).astype(np.float64, copy=False)


def _inverse_y(lane: Flow, env: Env, y_pred: np.ndarray, parent: str) -> tuple[np.ndarray, str, list[Record]]:
    """Predictions (of the predicted rows) back in target units, and the inverse nodes."""
    records = []
    for ys in reversed(lane.y_steps):
        node_id = env.next_id(_label(ys.class_path) + "_inverse")
        y_pred = np.asarray(ys.estimator.inverse_transform(y_pred), dtype=np.float64).reshape(
            y_pred.shape[0], -1
        )
        spec = getattr(ys.estimator, "inverse_replay_spec", None)
        if spec is not None:
            kernel, kwargs = spec()
            blob = state_to_bytes(kwargs) if env.record else None
            records.append(Record(node_id, "y_inverse", (parent,), ys.class_path, ys.params, kernel, blob))
        else:
            blob = cloudpickle.dumps(ys.estimator) if env.record else None
            meta = {"method": "inverse_transform", "role": "y_inverse"}
            records.append(
                Record(node_id, "pickled", (parent,), ys.class_path, ys.params, None, blob, "pkl", meta)
            )
        parent = node_id
    return y_pred, parent, records


def _check_model(est: Any, env: Env, path: str) -> None:
    name = type(est).__name__
    if not hasattr(est, "predict"):
        raise ConfigError(f"{path}: {name} has no predict; a model step needs a regressor or classifier.")
    classifier = is_classifier(est)
    if env.task == "regression" and classifier:
        raise ConfigError(f"{path}: {name} is a classifier; the dataset's task is regression.")
    if env.task != "regression" and not classifier:
        raise ConfigError(
            f"{path}: {name} is not a classifier; the dataset's task is {env.task} (use PLSDA or a classifier)."
        )


def _replay_function(est: Any) -> Any:
    """The kernel function a fitted model's ``replay_spec()`` names (``"module:function"``)."""
    module_name, _, func_name = est.replay_spec()[0].partition(":")
    return getattr(importlib.import_module(module_name), func_name)


def _pls_sweep(est: Any, op: dict, lane: Flow, block: Block, env: Env, label: str | None):
    """One fit per distinct algorithm with the largest n_components, predictions for every
    swept n_components from its coefficient path (bit-identical to a fit with that count)."""
    from nirs_core.models._kernels import select_algorithm

    y_fit = _fit_y(lane, env)
    n, p = int(lane.fit.sum()), block.width
    mask = predicted_rows(lane)
    head = block.head
    groups: dict[Any, list[int]] = {}
    for a in env.sweep:
        algo = op["params"].get("algorithm", "auto")
        key = select_algorithm(n, p, a) if algo == "auto" else algo
        groups.setdefault(key, []).append(a)
    out = []
    for values in groups.values():
        # fit first (its rows are a view, or a copy released before predicting)
        big = clone(est).set_params(n_components=max(values)).fit(block.data(lane.fit), y_fit)
        env.stats["fits"] += 1
        arr, idx = block.row_index(mask)

        kernel_fn = _replay_function(big)

        def predict_all(
            X: np.ndarray, big: Any = big, values: list[int] = values, fn: Any = kernel_fn
        ) -> np.ndarray:
            # the replay kernel itself, as predict(X, n_components=a) calls it, without
            # re-validating the block for every count
            return np.hstack([fn(X, **big._replay_kwargs(a)).reshape(X.shape[0], -1) for a in values])

        # the rows to predict are gathered once (block by block) for every count
        all_preds = map_rows(predict_all, arr, idx)
        q = all_preds.shape[1] // len(values)
        for j, a in enumerate(values):
            base_counter = env.counter
            node_id = env.next_id(label_of(op))
            kwargs = big._replay_kwargs(a)
            y_pred = np.ascontiguousarray(all_preds[:, j * q : (j + 1) * q])
            params = {**op["params"], "n_components": a}
            kernel = big.replay_spec()[0]
            blob = state_to_bytes(kwargs) if env.record else None
            rec = Record(node_id, "model", (head,), op["class"], params, kernel, blob)
            y_out, last, inv = _inverse_y(lane, env, y_pred, node_id)
            out.append(PredictionSet(label or node_id, _spread(y_out, mask), last, (rec, *inv), variant=a))
            env.counter = base_counter  # every variant takes the same node ids
    env.counter += 1 + len(lane.y_steps)
    out.sort(key=lambda ps: env.sweep.index(ps.variant))
    return out


def label_of(op: dict) -> str:
    return _label(op["class"])


def fit_model(op: dict, name: str | None, lane: Flow, env: Env, path: str, mpath: str) -> Flow:
    """Fit ``op`` on the lane's training rows and add its prediction set(s) to the lane."""
    est = _build(op, mpath)
    _check_model(est, env, mpath)
    _check_training_rows(lane, path, type(est).__name__)
    lane, block = model_input(lane, env)
    if env.sweep is not None and path == env.sweep_path:
        sets = _pls_sweep(est, op, lane, block, env, name)
    else:
        est.fit(block.data(lane.fit), _fit_y(lane, env))
        env.stats["fits"] += 1
        node_id = env.next_id(label_of(op))
        kind, kernel, blob, ext, meta = _state(est, env, "predict")
        rec = Record(node_id, kind, (block.head,), op["class"], op["params"], kernel, blob, ext, meta)
        mask = predicted_rows(lane)
        arr, idx = block.row_index(mask)
        y_pred = map_rows(lambda X: _predict_2d(est, X), arr, idx)
        proba = None
        if env.task != "regression" and hasattr(est, "predict_proba"):
            proba = map_rows(lambda X: np.asarray(est.predict_proba(X), dtype=np.float64), arr, idx)
            proba = _spread(proba, mask)
        y_out, last, inv = _inverse_y(lane, env, y_pred, node_id)
        sets = [PredictionSet(name or node_id, _spread(y_out, mask), last, (rec, *inv), y_proba=proba)]
    return replace(lane, preds=(*lane.preds, *sets), pristine=False)


@controller("model")
def _model(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    return [fit_model(step["model"], step.get("name"), lane, env, path, f"{path}.model")]


# --------------------------------------------------------------------------- branch


@controller("branch")
def _branch(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    payload = step["branch"]
    items = (
        list(payload.items()) if isinstance(payload, dict) else [(str(i), c) for i, c in enumerate(payload)]
    )
    out: list[Flow] = []
    for i, (name, chain) in enumerate(items):
        sub = f"{path}.branch[{name!r}]" if isinstance(payload, dict) else f"{path}.branch[{i}]"
        start = replace(
            lane,
            key=processing_key(lane.key, f"branch:{name}") if lane.key else "",
            branch_origin=lane,
            branch_steps=(),
            label=f"{lane.label}/{name}" if lane.label else name,
            preds=(),
        )
        out.extend(env.run_steps(chain, [start], sub))
    return out


# --------------------------------------------------------------------------- feature augmentation


@controller("feature_augmentation", cacheable=True)
def _feature_augmentation(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    outputs: list[Flow] = []
    for j, chain in enumerate(step["feature_augmentation"]):
        sub = f"{path}.feature_augmentation[{j}]"
        for k, inner in enumerate(chain):
            if "class" not in inner:
                raise ConfigError(f"{sub}[{k}]: feature_augmentation chains hold operators only.")
            if _role(inner) in ("augmenter", "filter"):
                raise ConfigError(
                    f"{sub}[{k}]: {_label(inner['class'])} changes rows, not features; it cannot sit in "
                    "feature_augmentation."
                )
        start = replace(lane, key=processing_key(lane.key, f"fa:{j}") if lane.key else "")
        res = env.run_steps(chain, [start], sub)
        outputs.append(res[0])
    blocks = []
    records = list(lane.records)
    known = {r.id for r in records}
    for res in outputs:
        for r in res.records:
            if r.id not in known:
                records.append(r)
                known.add(r.id)
    for s, block in enumerate(lane.blocks):
        parts = [res.blocks[s] for res in outputs]
        node_id = env.next_id("concat" + _node_suffix(lane, block))
        records.append(Record(node_id, "concat", tuple(b.head for b in parts), meta={"layout": "2d"}))
        if all(b.full is not None for b in parts) and all(res.pristine for res in outputs):
            full = np.hstack([b.full for b in parts])
            full_key = processing_key(*(b.full_key for b in parts))
            blocks.append(Block(None, node_id, None, block.source, full, full_key, lane.pos))
        else:
            blocks.append(Block(np.hstack([b.data() for b in parts]), node_id, None, block.source))
    pristine = all(res.pristine for res in outputs)
    return [replace(lane, blocks=tuple(blocks), records=tuple(records), pristine=pristine)]


# --------------------------------------------------------------------------- sample augmentation


@controller("sample_augmentation", cacheable=True)
def _sample_augmentation(step: dict, lane: Flow, env: Env, path: str) -> list[Flow]:
    copies = step.get("count", 1)
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ConfigError(f"{path}.count: expected an integer ≥ 1 (copies per chain); got {copies!r}.")
    parents = np.flatnonzero(lane.fit & (lane.sample == lane.origin))
    if parents.size == 0:
        raise ConfigError(f"{path}: sample_augmentation has no measured training rows to augment.")
    new_X: list[list[np.ndarray]] = [[] for _ in lane.blocks]
    new_parent: list[np.ndarray] = []
    for j, chain in enumerate(step["sample_augmentation"]):
        sub = f"{path}.sample_augmentation[{j}]"
        if not chain:
            raise ConfigError(f"{sub}: expected at least one augmenter; got an empty chain.")
        rows = None
        for s, block in enumerate(lane.blocks):
            Xc = block.data()[parents]
            origin = np.arange(parents.size)
            for k, op in enumerate(chain):
                if "class" not in op or _role(op) != "augmenter":
                    raise ConfigError(
                        f"{sub}[{k}]: expected an augmenter (an operator with _nirs_role 'augmenter'); "
                        f"got {op.get('class', next(iter(op)))!r}."
                    )
                est = _build(op, f"{sub}[{k}]").fit(Xc)
                env.stats["fits"] += 1
                Xc, _, o = est.augment(Xc, None, copies if k == 0 else 1)
                origin = origin[np.asarray(o, dtype=np.int64)]
            new_X[s].append(np.asarray(Xc))
            if rows is None:
                rows = parents[origin]
            elif not np.array_equal(rows, parents[origin]):
                raise ConfigError(f"{sub}: the augmenters made different rows for different sources.")
        new_parent.append(rows)
    parent_rows = np.concatenate(new_parent)
    m = parent_rows.size
    start = int(min(lane.sample.min(), 0)) - 1
    new_ids = np.arange(start, start - m, -1, dtype=np.int64)
    records = list(lane.records)
    blocks = []
    for s, block in enumerate(lane.blocks):
        node_id = env.next_id("sample_augmentation" + _node_suffix(lane, block))
        meta = {"role": "sample_augmentation", "n_new_rows": int(m)}
        records.append(Record(node_id, "identity", (block.head,), meta=meta))
        X = np.vstack([block.data(), *new_X[s]])
        blocks.append(Block(X, node_id, block.axis, block.source))
    return [
        replace(
            lane,
            blocks=tuple(blocks),
            records=tuple(records),
            y=np.concatenate([lane.y, lane.y[parent_rows]]),
            y_model=np.concatenate([lane.y_model, lane.y_model[parent_rows]]),
            fit=np.concatenate([lane.fit, np.ones(m, dtype=bool)]),
            sample=np.concatenate([lane.sample, new_ids]),
            origin=np.concatenate([lane.origin, lane.origin[parent_rows]]),
            pos=np.concatenate([lane.pos, np.full(m, -1, dtype=np.int64)]),
            report=np.concatenate([lane.report, np.full(m, "", dtype=lane.report.dtype)]),
            pristine=False,
        )
    ]


# --------------------------------------------------------------------------- merge and stack


def _union_records(lanes: Sequence[Flow], with_tails: bool) -> list[Record]:
    records: list[Record] = []
    known: set[str] = set()
    for lane in lanes:
        tails = [r for ps in lane.preds for r in ps.tail] if with_tails else []
        for r in (*lane.records, *tails):
            if r.id not in known:
                records.append(r)
                known.add(r.id)
    return records


def _merge_features(step: dict, lanes: list[Flow], env: Env, path: str) -> list[Flow]:
    if any(lane.branch_origin is None for lane in lanes):
        raise ConfigError(f"{path}: merge 'features' needs a branch step before it (nothing to merge).")
    first = lanes[0]
    for lane in lanes[1:]:
        if lane.n != first.n or not np.array_equal(lane.fit, first.fit):
            raise ConfigError(
                f"{path}: merge 'features' needs the same rows in every branch; a branch augmented or "
                "filtered samples (put sample_augmentation and filters before the branch)."
            )
        same_y = [y.class_path for y in lane.y_steps] == [y.class_path for y in first.y_steps]
        if not (same_y and np.array_equal(lane.y_model, first.y_model)):
            raise ConfigError(f"{path}: merge 'features' needs the same y_processing in every branch.")
    records = _union_records(lanes, with_tails=True)
    heads = tuple(b.head for lane in lanes for b in lane.blocks)
    node_id = env.next_id("merge_features")
    records.append(Record(node_id, "concat", heads, meta={"layout": "2d", "role": "merge"}))
    X = np.hstack([b.data() for lane in lanes for b in lane.blocks])
    side = tuple(ps for lane in lanes for ps in (*lane.side_preds, *lane.preds))
    origin = first.branch_origin.branch_origin if first.branch_origin is not None else None
    merged = replace(
        first,
        blocks=(Block(X, node_id, None, "merged"),),
        records=tuple(records),
        preds=(),
        side_preds=side,
        pristine=False,
        key=processing_key(*(lane.key for lane in lanes), "merge") if all(la.key for la in lanes) else "",
        branch_origin=origin,
        branch_steps=(),
        label=first.branch_origin.label if first.branch_origin is not None else "",
    )
    return [merged]


def _inner_oof(lane: Flow, env: Env, path: str, n_inner: int) -> np.ndarray:
    """Out-of-fold predictions of the lane's branch for the training rows of its branch
    point: the branch's steps rerun on inner folds of the training samples (by origin)."""
    from sklearn.model_selection import KFold

    base = lane.branch_origin
    fit_rows = np.flatnonzero(base.fit)
    samples = np.unique(base.origin[fit_rows])
    k = min(n_inner, samples.size)
    if k < 2:
        raise ConfigError(f"{path}: stacking needs at least 2 training samples for its inner folds.")
    q = lane.preds[-1].y_pred.shape[1]
    oof = np.full((base.n, q), np.nan)
    for tr, va in KFold(k, shuffle=True, random_state=0).split(samples):
        in_tr = base.fit & np.isin(base.origin, samples[tr])
        in_va = base.fit & np.isin(base.origin, samples[va])
        sub = base.subset(in_tr | in_va, in_tr)
        sub = replace(sub, branch_origin=None, branch_steps=(), key="")
        scratch = env.scratch()
        res = [sub]
        for st, st_path in lane.branch_steps:
            res = run_step(st, res, scratch, st_path)
        if len(res) != 1 or not res[0].preds:
            raise ConfigError(f"{path}: a branch to stack must end in one model (one prediction set).")
        pred = res[0].preds[-1].y_pred[: sub.n]
        idx = np.flatnonzero(in_tr | in_va)
        val_local = ~sub.fit
        oof[idx[val_local]] = pred[val_local]
    return oof


def _merge_predictions(step: dict, lanes: list[Flow], env: Env, path: str) -> list[Flow]:
    """Stacking done correctly: within the current fit context, the meta-model is trained on
    out-of-fold predictions of each branch for the training rows (inner K-fold, default 5,
    shuffled with seed 0, by origin, rerunning the branch's steps: option ``inner_folds``),
    and applied to the branches' predictions by their models fit on all training rows."""
    n_inner = step.get("inner_folds", 5)
    if isinstance(n_inner, bool) or not isinstance(n_inner, int) or n_inner < 2:
        raise ConfigError(f"{path}.inner_folds: expected an integer ≥ 2; got {n_inner!r}.")
    if (
        any(lane.branch_origin is None for lane in lanes)
        or len({lane.branch_origin.key for lane in lanes}) != 1
    ):
        raise ConfigError(f"{path}: merge 'predictions' needs the branches of one branch step before it.")
    for lane in lanes:
        if not lane.preds:
            raise ConfigError(
                f"{path}: branch {lane.label!r} has no model; each branch must end in a model to stack."
            )
    base = lanes[0].branch_origin
    columns = []
    for lane in lanes:
        oof = _inner_oof(lane, env, path, n_inner)
        outer = lane.preds[-1].y_pred[: base.n]
        columns.append(np.where(base.fit[:, None], oof, outer))
    X = np.hstack(columns)
    records = _union_records(lanes, with_tails=True)
    node_id = env.next_id("stack")
    records.append(
        Record(node_id, "stack", tuple(lane.preds[-1].node for lane in lanes), meta={"role": "stack"})
    )
    side = tuple(ps for lane in lanes for ps in (*lane.side_preds, *lane.preds))
    merged = replace(
        base,
        blocks=(Block(X, node_id, None, "stack"),),
        records=tuple(records),
        preds=(),
        side_preds=(*base.side_preds, *side),
        pristine=False,
        key=processing_key(*(lane.key for lane in lanes), "stack") if all(la.key for la in lanes) else "",
        branch_origin=base.branch_origin,
        branch_steps=(),
    )
    return [merged]


@controller("merge", lanes=True)
def _merge(step: dict, lanes: list[Flow], env: Env, path: str) -> list[Flow]:
    mode = step["merge"]
    if isinstance(mode, dict):
        mode = mode.get("mode")
    if mode == "features":
        return _merge_features(step, lanes, env, path)
    if mode == "predictions":
        return _merge_predictions(step, lanes, env, path)
    raise ConfigError(f"{path}.merge: expected 'features' or 'predictions'; got {step['merge']!r}.")


@controller("stack", lanes=True)
def _stack(step: dict, lanes: list[Flow], env: Env, path: str) -> list[Flow]:
    options = {k: v for k, v in step.items() if k not in ("stack", "name")}
    merged = _merge_predictions({"merge": "predictions", **options}, lanes, env, path)
    return [fit_model(step["stack"], step.get("name"), merged[0], env, path, f"{path}.stack")]
