"""The runtime DAG: the steps of one pipeline config as actually executed on one dataset.

The executor records it while it runs; a bundle stores it as ``graph.json`` and replay
applies it in topological order with the kernels the engine used. This module is numpy and
json only (no scikit-learn), because replay imports it.

Node kinds and what replay does with them (``x`` is a node's output):

``input``        the spectra of one source (``meta.source`` index); no parents.
``transform``    ``x = kernel(parent_x, **artifact)``: a fitted or stateless operator.
``concat``       ``x = hstack(parents_x)`` in parent order (feature augmentation, merge of
                 branch features, several sources side by side).
``model``        ``x = kernel(parent_x, **artifact)``: predictions, 2-D (n, targets).
``stack``        ``x = hstack(parents_x)`` of model predictions, fed to a meta-model.
``y_inverse``    ``x = kernel(parent_x, **artifact)``: the inverse of a y_processing step,
                 applied to model predictions.
``pickled``      a third-party estimator: ``x = getattr(obj, meta.method)(parent_x)`` where
                 ``obj`` is the cloudpickled artefact (only after the bundle's signature and
                 hashes are verified).
``identity``     ``x = parent_x``: steps that act at training time only (sample augmentation,
                 outlier filters, splitters), kept so the lineage is complete.
``output``       the prediction the pipeline returns (one parent).
``domain``       ``x = kernel(parent_x, **artifact)``: the applicability domain of the model
                 (Hotelling T², Q residual, leverage per spectrum; limits in ``meta``), a side
                 branch from the model's input that the prediction never reads.

Each node's ``artifacts`` maps a fit name (``"refit"`` for the model refit on the whole
calibration set, ``"fold_0"``, ``"fold_1"``… for the cross-validation fits) to the file name
of its fitted state. For the project's own operators that state is a ``.npz`` written by
:func:`state_to_bytes`: the ``replay_spec()`` kwargs, arrays as arrays and everything else as
JSON, so replay needs neither scikit-learn nor unpickling. ``kernel`` is the
``"module:function"`` of ``replay_spec()``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import uuid as _uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nirs_core.errors import NirsError

__all__ = [
    "NODE_KINDS",
    "GraphError",
    "Node",
    "RuntimeGraph",
    "state_from_bytes",
    "state_to_bytes",
]

NODE_KINDS = (
    "input",
    "transform",
    "concat",
    "model",
    "stack",
    "y_inverse",
    "pickled",
    "identity",
    "output",
    "domain",
)
_JSON_KEY = "__json__"
GRAPH_FORMAT = "nirs.graph/1"


class GraphError(NirsError, ValueError):
    """A runtime graph is malformed (unknown kind, missing parent, cycle, unknown node)."""


@dataclass
class Node:
    """One executed step. ``id`` is readable and unique in its graph (``"003_SavitzkyGolay"``);
    ``uuid`` is unique everywhere."""

    id: str
    kind: str
    parents: list[str] = field(default_factory=list)
    class_path: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    kernel: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    uuid: str = field(default_factory=lambda: str(_uuid.uuid4()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Node:
        return cls(**data)


@dataclass
class RuntimeGraph:
    """Nodes (in execution order) plus what the graph expects and returns.

    ``inputs``: one entry per source: ``name``, ``wavelengths`` (list), ``unit``,
    ``n_features``, ``dtype``. ``outputs``: ``node`` (the output node id), ``targets``
    (names), ``task`` and, for classification, ``classes``.
    """

    nodes: list[Node] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, node: Node) -> Node:
        if node.kind not in NODE_KINDS:
            raise GraphError(
                f"runtime graph: node {node.id!r} has kind {node.kind!r}; expected one of {NODE_KINDS}."
            )
        if any(n.id == node.id for n in self.nodes):
            raise GraphError(f"runtime graph: node id {node.id!r} is already used.")
        known = {n.id for n in self.nodes}
        missing = [p for p in node.parents if p not in known]
        if missing:
            raise GraphError(f"runtime graph: node {node.id!r} has unknown parents {missing}.")
        self.nodes.append(node)
        return node

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise GraphError(f"runtime graph: no node {node_id!r}.")

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(p, n.id) for n in self.nodes for p in n.parents]

    def topological_order(self) -> list[Node]:
        """Nodes with every parent before its children (Kahn's algorithm, stable)."""
        indegree = {n.id: len(n.parents) for n in self.nodes}
        children: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for parent, child in self.edges:
            if parent not in children:
                raise GraphError(f"runtime graph: edge from unknown node {parent!r}.")
            children[parent].append(child)
        ready = [n.id for n in self.nodes if indegree[n.id] == 0]
        order: list[str] = []
        while ready:
            current = ready.pop(0)
            order.append(current)
            for child in children[current]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        if len(order) != len(self.nodes):
            stuck = sorted(set(indegree) - set(order))
            raise GraphError(f"runtime graph: cycle through {stuck}.")
        by_id = {n.id: n for n in self.nodes}
        return [by_id[i] for i in order]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": GRAPH_FORMAT,
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [list(e) for e in self.edges],
            "inputs": self.inputs,
            "outputs": self.outputs,
            "meta": self.meta,
        }

    def to_json(self, *, indent: int | None = 1) -> str:
        """The graph as JSON (keys sorted). ``indent=None`` writes it compact, which json's C
        encoder does several times faster: what a workspace stores per result."""
        separators = (",", ":") if indent is None else None
        return json.dumps(
            self.to_dict(), indent=indent, separators=separators, sort_keys=True, default=_json_default
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuntimeGraph:
        if data.get("format") != GRAPH_FORMAT:
            raise GraphError(
                f"runtime graph: format {data.get('format')!r}; this version reads {GRAPH_FORMAT}."
            )
        graph = cls(
            inputs=list(data.get("inputs", [])),
            outputs=dict(data.get("outputs", {})),
            meta=dict(data.get("meta", {})),
        )
        for nd in data["nodes"]:
            graph.add(Node.from_dict(nd))
        graph.topological_order()
        return graph

    @classmethod
    def from_json(cls, text: str) -> RuntimeGraph:
        return cls.from_dict(json.loads(text))

    def structure_hash(self) -> str:
        """sha256 of the graph's structure and parameters (uuids and artefact names excluded):
        equal for two fits of the same pipeline on the same kind of input."""
        shape = [
            {
                "id": n.id,
                "kind": n.kind,
                "parents": n.parents,
                "class": n.class_path,
                "params": n.params,
                "kernel": n.kernel,
            }
            for n in self.nodes
        ]
        text = json.dumps(
            {"nodes": shape, "inputs": self.inputs, "outputs": self.outputs},
            sort_keys=True,
            default=_json_default,
        )
        return hashlib.sha256(text.encode()).hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"runtime graph: cannot write {type(obj).__name__} as JSON")


def state_to_bytes(kwargs: dict[str, Any]) -> bytes:
    """A fitted state (``replay_spec()`` kwargs) as ``.npz`` bytes: ndarray values are stored
    as arrays (bit for bit), every other value as JSON under the member ``__json__``.
    Deterministic: the same state gives the same bytes (so content addressing works)."""
    arrays = {k: np.ascontiguousarray(v) for k, v in kwargs.items() if isinstance(v, np.ndarray)}
    if any(a.dtype == object for a in arrays.values()):
        bad = [k for k, a in arrays.items() if a.dtype == object]
        raise GraphError(
            f"fitted state: arrays {bad} hold Python objects; expected numeric or string arrays."
        )
    rest = {k: v for k, v in kwargs.items() if not isinstance(v, np.ndarray)}
    if _JSON_KEY in arrays:
        raise GraphError(f"fitted state: the name {_JSON_KEY!r} is reserved.")
    payload = json.dumps(rest, sort_keys=True, default=_json_default).encode()
    arrays[_JSON_KEY] = np.frombuffer(payload, dtype=np.uint8)
    buffer = io.BytesIO()
    # np.savez writes zip members with a fixed timestamp, in the order given: sort for determinism
    np.savez(buffer, **dict(sorted(arrays.items())))
    return buffer.getvalue()


#: Bounds on one ``.npz`` state read back: members, the bytes they inflate to, and the ratio.
MAX_STATE_MEMBERS = 1_000
MAX_STATE_RATIO = 100


def _check_state_headers(data: bytes) -> None:
    """Refuse an ``.npz`` whose members inflate too far or whose array headers declare more
    bytes than the member holds, from the zip directory and the ``.npy`` headers alone
    (before numpy allocates any array)."""
    import zipfile

    from numpy.lib import format as npy_format

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_STATE_MEMBERS:
            raise GraphError(f"fitted state: {len(infos)} arrays, over the limit of {MAX_STATE_MEMBERS}.")
        for zi in infos:
            if zi.file_size > MAX_STATE_RATIO * max(zi.compress_size, 1) and zi.file_size > 1 << 20:
                raise GraphError(
                    f"fitted state: array {zi.filename!r} inflates {zi.compress_size} bytes to "
                    f"{zi.file_size} (over {MAX_STATE_RATIO} times); refusing it."
                )
            with zf.open(zi) as fh:
                try:
                    version = npy_format.read_magic(fh)
                    read_header = (
                        npy_format.read_array_header_1_0
                        if version == (1, 0)
                        else npy_format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(fh, max_header_size=10_000)
                except (ValueError, SyntaxError, TypeError) as exc:
                    raise GraphError(
                        f"fitted state: array {zi.filename!r} has no valid .npy header ({exc})."
                    ) from None
            if dtype.hasobject:
                raise GraphError(f"fitted state: array {zi.filename!r} holds Python objects; refusing it.")
            declared = math.prod(int(n) for n in shape) * dtype.itemsize
            if declared > zi.file_size:
                raise GraphError(
                    f"fitted state: array {zi.filename!r} declares shape {tuple(shape)} of {dtype} "
                    f"({declared} bytes) but holds {zi.file_size} bytes; refusing it."
                )


def state_from_bytes(data: bytes) -> dict[str, Any]:
    """The kwargs written by :func:`state_to_bytes` (never unpickles; sizes checked first)."""
    _check_state_headers(data)
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        out: dict[str, Any] = {k: npz[k] for k in npz.files if k != _JSON_KEY}
        if _JSON_KEY in npz.files:
            out.update(json.loads(npz[_JSON_KEY].tobytes().decode()))
    return out
