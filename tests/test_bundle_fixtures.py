"""Helpers shared by the bundle, replay and datasheet tests (no tests here): runtime graphs
built by hand from fitted project operators, a third-party scikit-learn step as a ``pickled``
node, and a way to re-sign arbitrary zip contents so that checks *after* the integrity checks
can be reached."""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np

from nirs_core.graph.runtime import Node, RuntimeGraph, state_to_bytes

KEY = "a-test-key-of-32-characters-long"
OTHER_KEY = "another-key-of-32-characters-!!!"


def _add_state(artifacts: dict[str, bytes], data: bytes, ext: str) -> str:
    name = f"{hashlib.sha256(data).hexdigest()}.{ext}"
    artifacts[name] = data
    return name


def corn_parts(corn_arrays, *, pickled: bool = False, folds: int = 0) -> dict:
    """SNV → SavitzkyGolay → [StandardScaler (pickled)] → PLS on corn Xcal, as the executor
    would record it; ``expected`` holds the estimators' own predictions on Xval."""
    from sklearn.preprocessing import StandardScaler

    from nirs_core.models import PLS
    from nirs_core.operators import SNV, SavitzkyGolay

    X, y, Xv = corn_arrays["Xcal"], corn_arrays["ycal"], corn_arrays["Xval"]
    wl = corn_arrays["wavelengths"]
    graph = RuntimeGraph(
        inputs=[
            {"name": "X", "wavelengths": wl.tolist(), "unit": "nm", "n_features": wl.size, "dtype": "float64"}
        ],
        outputs={"node": "005_output", "targets": ["oil"], "task": "regression"},
    )
    artifacts: dict[str, bytes] = {}
    graph.add(Node("000_input", "input", meta={"source": 0}))

    def chain(rows):
        """Fit the chain on ``rows`` of Xcal; return the fitted steps."""
        steps = [SNV(), SavitzkyGolay(window_length=15, polyorder=2, deriv=1)]
        if pickled:
            steps.append(StandardScaler())
        Xt = X[rows]
        for step in steps:
            Xt = step.fit(Xt).transform(Xt)
        model = PLS(n_components=8, scale=False).fit(Xt, y[rows])
        return [*steps, model]

    fits = {"refit": chain(np.arange(X.shape[0]))}
    for k in range(folds):
        fits[f"fold_{k}"] = chain(np.flatnonzero(np.arange(X.shape[0]) % folds != k))

    ids = ["001_SNV", "002_SavitzkyGolay", "003_StandardScaler", "004_PLS"]
    if not pickled:
        ids.remove("003_StandardScaler")
    parent = "000_input"
    for position, node_id in enumerate(ids):
        per_fit, kernel = {}, None
        for fit, steps in fits.items():
            est = steps[position]
            if node_id == "003_StandardScaler":
                per_fit[fit] = _add_state(artifacts, pickle.dumps(est), "pkl")
            else:
                kernel, kwargs = est.replay_spec()
                per_fit[fit] = _add_state(artifacts, state_to_bytes(kwargs), "npz")
        kind = (
            "pickled" if node_id == "003_StandardScaler" else ("model" if "PLS" in node_id else "transform")
        )
        meta = {"method": "transform"} if kind == "pickled" else {}
        graph.add(Node(node_id, kind, [parent], class_path=None, kernel=kernel, artifacts=per_fit, meta=meta))
        parent = node_id
    graph.add(Node("005_output", "output", [parent]))

    def predict_with(steps, data):
        for step in steps[:-1]:
            data = step.transform(data)
        return steps[-1].predict(data).reshape(-1)

    expected = predict_with(fits["refit"], Xv)
    ensemble = None
    if folds:
        ensemble = np.mean([predict_with(fits[f"fold_{k}"], Xv) for k in range(folds)], axis=0)
    return {
        "graph": graph,
        "artifacts": artifacts,
        "dataset": "corn",
        "config_id": "abc123",
        "config_name": "0000_SNV_SG_PLS",
        "task": "regression",
        "metric": "rmse",
        "expected": expected,
        "expected_ensemble": ensemble,
    }


class WriteMarker:
    """Unpickling an instance writes ``path`` (a stand-in for malicious code in a pickle)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __reduce__(self):
        return (Path.write_text, (self.path, "unpickled!"))


def evil_parts(corn_arrays, marker: Path) -> dict:
    """A project chain with one ``pickled`` node whose artefact writes ``marker`` when unpickled."""
    parts = corn_parts(corn_arrays)
    graph: RuntimeGraph = parts["graph"]
    evil = _add_state(parts["artifacts"], pickle.dumps(WriteMarker(marker)), "pkl")
    out = graph.nodes.pop()  # the output node
    graph.add(Node("009_Evil", "pickled", ["004_PLS"], artifacts={"refit": evil}, meta={"method": "predict"}))
    graph.add(Node(out.id, "output", ["009_Evil"]))
    return parts


def read_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_members(path: Path, members: dict[str, bytes] | list[tuple[str, bytes]]) -> Path:
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in items:
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return path


def resign(members: dict[str, bytes], key: str = KEY) -> dict[str, bytes]:
    """``members`` with a fresh manifest and signature (a validly signed bundle of any content)."""
    body = {k: v for k, v in members.items() if k not in ("manifest.sha256", "signature")}
    manifest = "".join(f"{hashlib.sha256(body[m]).hexdigest()}  {m}\n" for m in sorted(body)).encode()
    from nirs_core.store.bundle import key_id

    sig = {
        "algorithm": "HMAC-SHA256",
        "key_id": key_id(key.encode()),
        "mac": hmac.new(key.encode(), manifest, hashlib.sha256).hexdigest(),
    }
    return {**body, "manifest.sha256": manifest, "signature": json.dumps(sig).encode()}
