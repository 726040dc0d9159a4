"""Calibration transfer into a bundle: fit a transfer operator (PDS or DS,
:mod:`nirs_core.operators.transfer`) on transfer samples measured on both instruments and write
a new bundle whose graph maps the new (slave) instrument's spectra into the master's space
before the master's model, its domain and its intervals (a ``transform`` node after each
``input``). The master bundle's validation and domain are kept; the transfer is recorded in
``bundle.json`` (``transfer``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from nirs_core.errors import ConfigError, DataError
from nirs_core.graph.runtime import Node, RuntimeGraph, state_to_bytes
from nirs_core.store.bundle import ARTIFACTS_DIR, Bundle, open_bundle, write_bundle

__all__ = ["TRANSFER_METHODS", "transfer_bundle"]

TRANSFER_METHODS = {
    "PDS": "nirs_core.operators.transfer.PiecewiseDirectStandardization",
    "DS": "nirs_core.operators.transfer.DirectStandardization",
}


def _inserted(
    graph: RuntimeGraph,
    node_id: str,
    class_path: str,
    params: dict,
    kernel: str,
    file_name: str,
    fits: list[str],
) -> RuntimeGraph:
    inputs = [n for n in graph.nodes if n.kind == "input"]
    if len(inputs) != 1:
        raise ConfigError(
            f"transfer_bundle: the bundle's graph has {len(inputs)} input nodes; a transfer maps one source."
        )
    source = inputs[0].id
    out = RuntimeGraph(inputs=graph.inputs, outputs=graph.outputs, meta={**graph.meta, "transfer": node_id})
    for node in graph.nodes:
        if node.kind == "input":
            out.add(node)
            out.add(
                Node(
                    id=node_id,
                    kind="transform",
                    parents=[source],
                    class_path=class_path,
                    params=params,
                    kernel=kernel,
                    artifacts={fit: file_name for fit in fits},
                    meta={"role": "calibration transfer"},
                )
            )
            continue
        parents = [node_id if p == source else p for p in node.parents]
        out.add(Node(**{**node.to_dict(), "parents": parents}))
    return out


def transfer_bundle(
    bundle: Bundle | str | os.PathLike[str],
    slave: np.ndarray,
    master: np.ndarray,
    output: str | os.PathLike[str],
    *,
    method: str = "PDS",
    params: dict[str, Any] | None = None,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    public_key: Any = None,
    trust_unsigned: bool = False,
    sign: bool = True,
) -> Path:
    """Fit ``method`` (``"PDS"`` or ``"DS"``, with ``params``) on the transfer samples
    ``slave`` (new instrument) and ``master`` (the bundle's instrument; rows paired) and write
    the transferred bundle to ``output``."""
    from nirs_core.registry import resolve

    if method not in TRANSFER_METHODS:
        raise ConfigError(
            f"transfer_bundle: method must be one of {sorted(TRANSFER_METHODS)}; got {method!r}."
        )
    if not isinstance(bundle, Bundle):
        bundle = open_bundle(
            bundle, key=key, key_file=key_file, public_key=public_key, trust_unsigned=trust_unsigned
        )
    slave, master = np.asarray(slave, dtype=np.float64), np.asarray(master, dtype=np.float64)
    n_features = int(bundle.input["sources"][0]["n_features"])
    if slave.ndim != 2 or slave.shape != master.shape or slave.shape[1] != n_features:
        raise DataError(
            f"transfer_bundle: expected slave and master transfer spectra of one shape (n, {n_features}); "
            f"got {slave.shape} and {master.shape}."
        )
    class_path = TRANSFER_METHODS[method]
    operator = resolve(class_path)(**(params or {})).fit(slave, master)
    kernel, kwargs = operator.replay_spec()
    blob = state_to_bytes(kwargs)
    file_name = f"{hashlib.sha256(blob).hexdigest()}.npz"
    node_id = f"transfer_{method}"
    graph = _inserted(
        bundle.graph, node_id, class_path, operator.get_params(), kernel, file_name, bundle.fits
    )
    artifacts = {
        name[len(ARTIFACTS_DIR) :]: data
        for name, data in bundle.members.items()
        if name.startswith(ARTIFACTS_DIR)
    }
    artifacts[file_name] = blob
    info = bundle.info
    fields = {
        k: info.get(k)
        for k in ("dataset", "config_id", "config_name", "template_id", "metric", "cv_score", "test_score")
    }
    fields.update(
        graph=graph,
        artifacts=artifacts,
        task=info.get("task"),
        info={
            "validation": info.get("validation"),
            "domain": info.get("domain"),
            "transfer": {
                "method": method,
                "params": operator.get_params(),
                "n_transfer": int(slave.shape[0]),
            },
        },
    )
    return write_bundle(fields, output, key=key, key_file=key_file, sign=sign, fits=bundle.fits)
