"""Replay of a fitted runtime DAG on new spectra: :func:`prepare_input` and :func:`replay`.

The bundle file itself (its signature, hashes, members) is the store's business
(:mod:`nirs_core.store.bundle`); :func:`nirs_core.app.predict.predict` opens one and calls this
module. Here a bundle is anything with the attributes of :class:`Replayable`.

Replay applies the bundle's runtime DAG in topological order with the kernel functions the
engine used (``"module:function"`` of each node, imported on first use), on numpy alone: a
bundle of the project's own operators never imports scikit-learn and never unpickles
anything. Only ``pickled`` nodes (third-party estimators) unpickle their artefact, and only
after :func:`~nirs_core.store.bundle.open_bundle` has verified the signature and every hash.
Kernels are imported only from ``nirs_core`` modules whose name ends in ``kernels``; a graph
naming any other function is refused.

The result of :func:`replay` is a numpy array of shape ``(n_spectra, n_targets)``, one row per
input spectrum in input order and one column per target in the order of
``Bundle.targets`` (regression: float64; classification: the class labels). A bundle that
replays a fold ensemble returns the mean of the fold models' predictions (regression) or the
most frequent label (classification, ties to the first class in ``Bundle.classes``).

Input (``data``):

- a numpy array ``(n, n_features)`` (a 1-D array is one spectrum), or a list of arrays, one per
  source: only the shape is checked, since an array carries no wavelength axis;
- a :class:`~nirs_core.data.SpectroDataset`: the raw spectra of every row, in row order, with
  each source's axis checked against the training axis;
- a path (a file or a folder in any layout :func:`nirs_core.data.load` reads): the spectra of
  every partition in file order. A plain numeric CSV whose header is exactly the training axis
  of at most 1 MiB is read with numpy directly (no polars import: a cold one-spectrum prediction
  stays fast);
  anything else goes through the loaders.

Checks, each a :class:`~nirs_core.errors.DataError` that says what differs: the number of
sources; the wavelength axis (count, range, first differing position; unless ``resample=True``,
which interpolates each spectrum linearly onto the training axis with :func:`numpy.interp` and
refuses to extrapolate); the unit; the number of columns; NaN or infinite values (naming the
row).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nirs_core.errors import BundleIntegrityError, DataError

__all__ = [
    "PreparedInput",
    "Replayable",
    "domain_node",
    "evaluate_nodes",
    "prepare_input",
    "replay",
    "replay_table",
]

_SAMPLE_COLUMNS = ("sample", "sample_id", "sampleid", "id", "sample_name", "name")
_KERNEL_CACHE: dict[str, Any] = {}
_FAST_CSV_BYTES = 1 << 20


class Replayable(Protocol):
    """What replay reads of an opened bundle (:class:`nirs_core.store.bundle.Bundle`)."""

    graph: Any  # a nirs_core.graph.runtime.RuntimeGraph
    input: dict[str, Any]

    @property
    def fits(self) -> list[str]: ...

    @property
    def task(self) -> str | None: ...

    @property
    def classes(self) -> list[Any]: ...

    def state(self, node_id: str, fit: str) -> Any: ...


@dataclass
class PreparedInput:
    """Spectra ready for :func:`replay`: one float array per source, rows aligned, plus the
    sample ids when the input had a sample id column (``sample_column`` names it)."""

    sources: list[np.ndarray]
    sample: np.ndarray | None = None
    sample_column: str | None = None
    resampled: bool = False

    @property
    def n(self) -> int:
        return int(self.sources[0].shape[0])


# ----------------------------------------------------------------------------- input


def _describe_axis_difference(got: np.ndarray, expected: np.ndarray, unit: str) -> str:
    parts = []
    if got.size != expected.size:
        parts.append(f"{got.size} wavelengths instead of {expected.size}")
    got_range = f"{got[0]:g}–{got[-1]:g}" if got.size else "empty"
    parts.append(f"range {got_range} {unit} instead of {expected[0]:g}–{expected[-1]:g} {unit}")
    n = min(got.size, expected.size)
    diff = np.flatnonzero(got[:n] != expected[:n])
    if diff.size:
        i = int(diff[0])
        parts.append(f"first differing position {i + 1}: {got[i]:g} instead of {expected[i]:g}")
    elif got.size != expected.size:
        parts.append(f"the first {n} values agree")
    return "; ".join(parts)


def _resample(x: np.ndarray, axis: np.ndarray, target: np.ndarray, where: str) -> np.ndarray:
    if axis.size >= 2 and axis[0] > axis[-1]:
        axis, x = axis[::-1], x[:, ::-1]
    lo, hi = float(target.min()), float(target.max())
    if lo < axis[0] or hi > axis[-1]:
        raise DataError(
            f"{where}: cannot resample onto the training axis {lo:g}–{hi:g}: the input covers only "
            f"{axis[0]:g}–{axis[-1]:g} and extrapolation is refused."
        )
    out = np.empty((x.shape[0], target.size), dtype=np.float64)
    for i in range(x.shape[0]):
        out[i] = np.interp(target, axis, x[i])
    return out


def _check_source(
    x: np.ndarray,
    axis: np.ndarray | None,
    unit: str | None,
    spec: dict[str, Any],
    k: int,
    resample: bool,
    where: str,
    row_label: Any,
) -> tuple[np.ndarray, bool]:
    name = spec.get("name", f"source_{k}")
    label = f"{where}: source {k} ({name!r})"
    dtype = np.dtype(spec.get("dtype") or "float64")
    x = np.asarray(x)
    if x.ndim != 2:
        raise DataError(f"{label}: expected a 2-D array (spectra × wavelengths); got shape {x.shape}.")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{label}: expected numbers; got an array of dtype {x.dtype}.")
    resampled = False
    expected_axis = spec.get("wavelengths")
    expected_unit = spec.get("unit")
    if axis is not None and expected_axis is not None:
        train = np.asarray(expected_axis, dtype=np.float64)
        got = np.asarray(axis, dtype=np.float64)
        if unit and expected_unit and unit != expected_unit:
            raise DataError(
                f"{label}: the wavelength unit is {unit!r}; the bundle was trained on {expected_unit!r}."
            )
        if not np.array_equal(got, train):
            difference = _describe_axis_difference(got, train, expected_unit or "")
            if not resample:
                raise DataError(
                    f"{label}: the wavelength axis differs from the training axis: {difference}. "
                    "Pass resample=True (--resample) to interpolate onto the training axis."
                )
            _check_finite(np.asarray(x, dtype=np.float64), label, row_label)
            x = _resample(np.asarray(x, dtype=np.float64), got, train, label)
            resampled = True
    n_expected = int(spec["n_features"])
    if x.shape[1] != n_expected:
        raise DataError(
            f"{label}: expected {n_expected} columns (one per training wavelength); got {x.shape[1]}."
        )
    x = np.ascontiguousarray(x, dtype=dtype)
    _check_finite(x, label, row_label)
    return x, resampled


def _check_finite(x: np.ndarray, label: str, row_label: Any) -> None:
    finite = np.isfinite(x)
    if not finite.all():
        row, col = (int(v) for v in np.argwhere(~finite)[0])
        raise DataError(
            f"{label}: {row_label(row)} holds {x[row, col]} at column {col + 1}; expected finite "
            "numbers (NaN and infinite values cannot be predicted)."
        )


def _array_row(i: int) -> str:
    return f"row {i} (0-based)"


def _read_plain_csv(path: Path, spec: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """``(X, axis)`` for a plain numeric delimited file whose header is exactly the training
    axis (parsed with numpy, no polars); None when the file is anything else."""
    if path.suffix.lower() not in (".csv", ".txt", ".tsv") or spec.get("wavelengths") is None:
        return None
    if path.stat().st_size > _FAST_CSV_BYTES:
        return None  # polars (the loaders) reads large files faster than numpy, import included
    train = np.asarray(spec["wavelengths"], dtype=np.float64)
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        first = fh.readline().strip("\r\n")
    for delimiter in (";", ",", "\t"):
        fields = first.split(delimiter)
        if len(fields) != train.size:
            continue
        try:
            header = np.array([float(f) for f in fields], dtype=np.float64)
        except ValueError:
            return None
        if not np.array_equal(header, train):
            return None
        try:
            X = np.loadtxt(
                path,
                delimiter=delimiter,
                skiprows=1,
                ndmin=2,
                dtype=np.float64,
                encoding="utf-8-sig",
                comments=None,
            )
        except ValueError:
            return None  # let the loaders find and name the bad cell
        if X.shape[1] != train.size or not np.isfinite(X).all():
            return None
        return X, header
    return None


def _sample_ids(ds: Any) -> tuple[np.ndarray | None, str | None]:
    info = ds.load_info.get("sample") if isinstance(ds.load_info, dict) else None
    if info:
        return np.asarray(ds.index.get_column("sample").to_numpy()), str(info.get("column", "sample"))
    meta = ds.meta()
    for column in meta.columns:
        if column.strip().lower() in _SAMPLE_COLUMNS:
            values = meta.get_column(column).to_numpy()
            # the loaders read integer metadata as float: integer ids stay integers (100, not 100.0)
            if values.dtype.kind == "f" and np.isfinite(values).all() and (values == np.round(values)).all():
                values = values.astype(np.int64)
            return values, column
    return None, None


def prepare_input(
    bundle: Replayable, data: Any, *, resample: bool = False, wavelengths: Any = None
) -> PreparedInput:
    """Check ``data`` against what ``bundle`` expects and return the spectra to replay (see the
    module docstring for the accepted inputs and the checks). ``wavelengths``: the axis of an
    array input of one source, checked (or, with ``resample``, interpolated) like a file's."""
    spec = bundle.input
    specs = spec["sources"]
    if wavelengths is not None:
        return _prepare_with_axis(specs, data, wavelengths, resample)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.exists():
            raise DataError(f"{path}: no such file or folder of spectra.")
        fast = _read_plain_csv(path, specs[0]) if len(specs) == 1 and path.is_file() else None
        if fast is not None:
            X, axis = fast
            x, _ = _check_source(X, axis, None, specs[0], 0, resample, str(path), _file_row(1))
            return PreparedInput([x])
        from nirs_core.data import load

        data = load(path)
    if hasattr(data, "n_sources") and hasattr(data, "wavelengths"):
        ds = data
        where = str(ds.path) if getattr(ds, "path", None) is not None else f"dataset {ds.name!r}"
        if ds.n_sources != len(specs):
            raise DataError(
                f"{where}: {ds.n_sources} source(s) {ds.source_names}; the bundle expects "
                f"{len(specs)} ({[s.get('name') for s in specs]})."
            )
        sources, resampled = [], False
        for k, s in enumerate(specs):
            (x,) = ds.x(None, source=k, processings=["raw"])
            x, r = _check_source(x, ds.wavelengths(k), ds.unit(k), s, k, resample, where, _array_row)
            sources.append(x)
            resampled |= r
        sample, column = _sample_ids(ds)
        return PreparedInput(sources, sample, column, resampled)
    if isinstance(data, np.ndarray) or (
        isinstance(data, Sequence) and data and all(isinstance(a, np.ndarray) for a in data)
    ):
        arrays = [data] if isinstance(data, np.ndarray) else list(data)
        if len(arrays) != len(specs):
            raise DataError(
                f"predict: got {len(arrays)} source array(s); the bundle expects {len(specs)} "
                f"({[s.get('name') for s in specs]})."
            )
        sources = []
        for k, (a, s) in enumerate(zip(arrays, specs)):
            a = np.asarray(a)
            if a.ndim == 1:
                a = a.reshape(1, -1)
            x, _ = _check_source(a, None, None, s, k, False, "predict", _array_row)
            sources.append(x)
        if len({x.shape[0] for x in sources}) != 1:
            raise DataError(
                f"predict: the source arrays have different numbers of rows {[x.shape[0] for x in sources]}."
            )
        return PreparedInput(sources)
    raise DataError(
        f"predict: expected spectra as a numpy array, a list of arrays, a SpectroDataset or a path; "
        f"got {type(data).__name__}."
    )


def _prepare_with_axis(
    specs: list[dict[str, Any]], data: Any, wavelengths: Any, resample: bool
) -> PreparedInput:
    """An array of spectra of one source with its wavelength axis."""
    if len(specs) != 1 or not isinstance(data, np.ndarray):
        raise DataError(
            f"predict: wavelengths are accepted with one array of spectra for a one-source bundle; got "
            f"{type(data).__name__} for a bundle of {len(specs)} source(s)."
        )
    x = data.reshape(1, -1) if data.ndim == 1 else data
    axis = np.asarray(wavelengths, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or axis.size != x.shape[-1]:
        raise DataError(
            f"predict: expected one wavelength per spectrum column; got {axis.size} wavelengths for "
            f"spectra of shape {x.shape}."
        )
    out, resampled = _check_source(x, axis, None, specs[0], 0, resample, "predict", _array_row)
    return PreparedInput([out], resampled=resampled)


def _file_row(header_lines: int):
    def label(i: int) -> str:
        return f"row {i + header_lines + 1} of the file"

    return label


# ----------------------------------------------------------------------------- replay


def _kernel(target: str | None, node_id: str) -> Any:
    if target in _KERNEL_CACHE:
        return _KERNEL_CACHE[target]
    module_name, _, func_name = (target or "").partition(":")
    last = module_name.rsplit(".", 1)[-1]
    if not (module_name.startswith("nirs_core.") and last.endswith("kernels") and func_name.isidentifier()):
        raise BundleIntegrityError(
            f"replay: node {node_id!r} names kernel {target!r}; kernels must be functions of a "
            "nirs_core module whose name ends in 'kernels' (refusing to import anything else)."
        )
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError):
        raise BundleIntegrityError(
            f"replay: node {node_id!r} names kernel {target!r}, which this version of nirs_core does not have."
        ) from None
    _KERNEL_CACHE[target] = func
    return func


def _as_2d(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    return arr.reshape(-1, 1) if arr.ndim == 1 else arr


def _run(bundle: Replayable, sources: list[np.ndarray], fit: str) -> np.ndarray:
    return _output(bundle, _evaluate(bundle, sources, fit))


def _evaluate(bundle: Replayable, sources: list[np.ndarray], fit: str, domain: bool = False) -> dict[str, Any]:
    """Every node's output for one fit; ``domain`` nodes only when asked (the prediction never
    reads them)."""
    values: dict[str, Any] = {}
    for node in bundle.graph.topological_order():
        if node.kind == "domain" and not domain:
            continue
        parents = [values[p] for p in node.parents]
        if node.kind == "input":
            k = int(node.meta.get("source", 0))
            if not 0 <= k < len(sources):
                raise BundleIntegrityError(
                    f"replay: input node {node.id!r} reads source {k}; the input has {len(sources)}."
                )
            values[node.id] = sources[k]
            continue
        if node.kind in ("concat", "stack"):
            values[node.id] = np.hstack([_as_2d(p) for p in parents])
            continue
        if len(parents) != 1:
            raise BundleIntegrityError(
                f"replay: node {node.id!r} of kind {node.kind!r} has {len(parents)} parents; expected 1."
            )
        x = parents[0]
        if node.kind in ("identity", "output"):
            values[node.id] = x
        elif node.kind == "pickled":
            estimator = bundle.state(node.id, fit)
            method = node.meta.get("method", "transform")
            values[node.id] = getattr(estimator, method)(x)
        else:  # transform, model, y_inverse, domain
            values[node.id] = _kernel(node.kernel, node.id)(x, **bundle.state(node.id, fit))
    return values


def _output(bundle: Replayable, values: dict[str, Any]) -> np.ndarray:
    output = bundle.graph.outputs.get("node")
    if output is None:
        ends = [n.id for n in bundle.graph.nodes if n.kind == "output"]
        if len(ends) != 1:
            raise BundleIntegrityError(
                f"replay: the graph names no output node and has {len(ends)} nodes of kind 'output'."
            )
        output = ends[0]
    if output not in values:
        raise BundleIntegrityError(f"replay: output node {output!r} is not in the graph.")
    return _as_2d(values[output])


def _vote(stack: np.ndarray, classes: list[Any]) -> np.ndarray:
    order = list(classes) or sorted(set(stack.ravel().tolist()))
    out = np.empty(stack.shape[1:], dtype=stack.dtype)
    for idx in np.ndindex(*stack.shape[1:]):
        votes = list(stack[(slice(None), *idx)])
        out[idx] = max(order, key=lambda c: (votes.count(c), -order.index(c)))
    return out


def evaluate_nodes(bundle: Replayable, sources: list[np.ndarray], fit: str = "refit") -> dict[str, Any]:
    """Every node's output (``domain`` nodes included) for one fit: what a report reads to
    show T² and Q of the spectra it was given."""
    return _evaluate(bundle, sources, fit, domain=True)


def domain_node(bundle: Replayable) -> Any:
    """The bundle's ``domain`` node, or None (a bundle written before domains, or a model
    without one)."""
    nodes = [n for n in bundle.graph.nodes if n.kind == "domain"]
    return nodes[0] if nodes else None


def replay_table(
    bundle: Replayable, sources: list[np.ndarray], *, coverage: float | None = None
) -> dict[str, np.ndarray]:
    """The predictions and what says whether to trust them, as columns (numpy arrays of one
    length, in this order): one per target (named by ``bundle.targets``); for regression
    ``<target>_lower`` and ``<target>_upper`` (the conformal interval at ``coverage``, default
    the bundle's); ``t2``, ``t2_limit``, ``q``, ``q_limit``, ``leverage`` and ``in_domain``
    (False when T² or Q exceeds its limit). The predictions are exactly :func:`replay`'s; a
    bundle without a domain has NaN statistics and ``in_domain`` False."""
    from nirs_core.validation import conformal_quantile

    node = domain_node(bundle)
    fit = bundle.fits[0]
    stats = None
    if node is not None and len(bundle.fits) == 1:  # one pass gives both
        evaluated = _evaluate(bundle, sources, fit, domain=True)
        values, stats = _output(bundle, evaluated), evaluated[node.id]
    else:
        values = replay(bundle, sources)
        if node is not None:  # a fold ensemble: the domain through the first fold's preprocessing
            stats = _evaluate(bundle, sources, fit, domain=True)[node.id]
    n = values.shape[0]
    targets = list(bundle.targets) or [f"y{k}" for k in range(values.shape[1])]
    columns: dict[str, np.ndarray] = {}
    state = bundle.state(node.id, fit) if node is not None else {}
    residuals = state.get("cv_abs_residuals")
    regression = bundle.task not in ("binary", "multiclass", "classification")
    if coverage is None and node is not None:
        coverage = (node.meta.get("interval") or {}).get("coverage")
    for j, name in enumerate(targets):
        columns[name] = values[:, j]
        if regression:
            half = np.nan
            if residuals is not None and coverage is not None:
                half = conformal_quantile(np.asarray(residuals)[:, j], coverage)
            columns[f"{name}_lower"] = values[:, j] - half
            columns[f"{name}_upper"] = values[:, j] + half
    if node is None:
        stats = np.full((n, 3), np.nan)
        t2_lim = q_lim = np.nan
    else:
        stats = np.asarray(stats, dtype=np.float64)
        t2_lim, q_lim = float(node.meta["t2_limit"]), float(node.meta["q_limit"])
    columns["t2"] = stats[:, 0]
    columns["t2_limit"] = np.full(n, t2_lim)
    columns["q"] = stats[:, 1]
    columns["q_limit"] = np.full(n, q_lim)
    columns["leverage"] = stats[:, 2]
    columns["in_domain"] = (stats[:, 0] <= t2_lim) & (stats[:, 1] <= q_lim)
    return columns


def replay(bundle: Replayable, sources: list[np.ndarray]) -> np.ndarray:
    """Predictions ``(n, n_targets)`` of the bundle's fits on checked spectra (one array per
    source); a fold ensemble is averaged (regression) or voted (classification)."""
    outs = [_run(bundle, sources, fit) for fit in bundle.fits]
    if len(outs) == 1:
        return outs[0]
    stack = np.stack(outs)
    if bundle.task in ("binary", "multiclass", "classification"):
        return _vote(stack, bundle.classes)
    return stack.mean(axis=0)
