"""The machinery every step kind shares: the lane (:class:`Flow`) and its feature blocks,
the fit context (:class:`Env`), the controller registry (:func:`controller`, which also registers
a keyword step's payload context and naming), dispatch (:func:`run_step`) and fit helpers."""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cloudpickle
import numpy as np

from nirs_core.errors import ConfigError
from nirs_core.estimator import get_tags
from nirs_core.graph.runtime import Node, state_to_bytes
from nirs_core.pipeline import sklearn_fast
from nirs_core.pipeline.cache import PreprocessingCache, processing_key
from nirs_core.pipeline.keywords import Context, Keyword, register_keyword
from nirs_core.pipeline.serialize import canonical_json, classify_step, from_canonical, resolve_class

# --------------------------------------------------------------------------- data carried by a lane


class Record:
    """One runtime-graph node as fitted in one fit context: the node as the graph stores it
    (:class:`~nirs_core.graph.runtime.Node`, the one description of a node) and the bytes of
    its fitted state in this context (``state``, a ``.npz`` or ``.pkl`` file's content).

    The executor turns the refit's records into the graph's nodes, each with the artefact file
    of every context (:meth:`to_node`). Immutable."""

    __slots__ = ("ext", "node", "state")

    def __init__(
        self,
        id: str,
        kind: str,
        parents: Sequence[str],
        class_path: str | None = None,
        params: dict[str, Any] | None = None,
        kernel: str | None = None,
        state: bytes | None = None,
        ext: str = "npz",
        meta: dict[str, Any] | None = None,
    ) -> None:
        node = Node(id=id, kind=kind, parents=list(parents), class_path=class_path,
                    params=dict(params or {}), kernel=kernel, meta=dict(meta or {}))  # fmt: skip
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "ext", ext)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Record is immutable; cannot set {name!r}.")

    @property
    def id(self) -> str:
        return self.node.id

    @property
    def kind(self) -> str:
        return self.node.kind

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(self.node.parents)

    @property
    def class_path(self) -> str | None:
        return self.node.class_path

    @property
    def params(self) -> dict[str, Any]:
        return self.node.params

    @property
    def kernel(self) -> str | None:
        return self.node.kernel

    @property
    def meta(self) -> dict[str, Any]:
        return self.node.meta

    def to_node(self, artifacts: dict[str, str]) -> Node:
        """The graph's node: this description with the artefact file name of each context, and
        a fresh uuid (a cached record may stand in the graphs of several configs)."""
        return replace(self.node, parents=list(self.node.parents), params=dict(self.node.params),
                       meta=dict(self.node.meta), artifacts=dict(artifacts), uuid=str(uuid.uuid4()))  # fmt: skip

    def __repr__(self) -> str:
        return f"Record({self.node.id!r}, {self.node.kind!r}, parents={self.parents})"


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
    domain: tuple[str, dict, dict] | None = None  # refit only: (input node, state, meta), steps/_domain.py


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
    context: Context | None = None,
    named: bool = True,
    label_prefix: str = "",
    when: Callable[[dict], bool] | None = None,
    lanes: bool = False,
    cacheable: bool = False,
    prepare: Callable[..., None] | None = None,
) -> Callable[[Callable], Callable]:
    """Register the decorated function as the handler of steps of ``kind`` (``"operator"``
    or a keyword). ``when(step)`` narrows it; the highest ``priority`` among matches wins.

    For a keyword step, ``context`` (its payload's :class:`~nirs_core.pipeline.keywords.Context`),
    ``named`` and ``label_prefix`` (how config names show it) register the keyword itself, so that
    the template reader, the generators and the executor know it: one call, in the step's module."""
    if kind != "operator":
        if context is None:
            raise ConfigError(f"controller {kind!r}: a keyword step needs the context of its payload.")
        register_keyword(Keyword(kind, context, named, label_prefix))

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
    exported = sklearn_fast.replay_spec(est) if spec is None else None  # scikit-learn's, as arrays
    if spec is not None or exported is not None:
        if exported is not None:
            kernel, kwargs = exported
        elif method == "predict" and "method" in inspect.signature(spec).parameters:
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
