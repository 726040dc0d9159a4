"""Signed model bundles: one zip file that replays a fitted pipeline on new spectra.

Members (every name is relative, ``/``-separated, without ``..``)::

    bundle.json          format, creation time, targets, task, classes, y_processing, which
                         fits the bundle replays (``refit`` or a fold ensemble), config and
                         dataset identity, scores
    input.json           what the bundle expects: per source its name, wavelengths, unit,
                         n_features and dtype; the number of sources; total n_features
    graph.json           the runtime DAG (nirs_core.graph.runtime), its nodes' artefact
                         maps restricted to the replayed fits
    artifacts/<file>     one fitted state per node and fit: ``.npz`` (arrays + JSON, never
                         pickled) for the project's operators, ``.pkl`` (cloudpickle) only for
                         third-party estimators
    datasheet.md         the model card (nirs_core.reports.datasheet), with its plots
    datasheet.json
    plots/<name>.png
    manifest.sha256      ``<sha256>  <name>`` for every other member except ``signature``,
                         sorted by name, one per line
    signature            JSON: ``{"algorithm": "Ed25519", "key_id": …, "signature": …}`` over
                         the bytes of ``manifest.sha256`` (old bundles: ``"HMAC-SHA256"``
                         with ``"mac"``)

Keys and their order are in :mod:`nirs_core.store.signing`: training signs with an Ed25519
private key (``nirs keys generate``; ``--key-file`` or ``$NIRS_SIGNING_KEY_FILE``), checking
needs only the public key (``--public-key`` or ``$NIRS_VERIFY_KEY_FILE``); a legacy HMAC key
(``$NIRS_BUNDLE_KEY``…) still signs and checks old-style bundles.

:func:`open_bundle` reads a bundle as hostile until proven otherwise, and in this order: the
zip's central directory only (hygiene: no absolute or ``..`` names, no duplicates, no
directories or links; bounds from the headers, before anything is inflated: at most
:data:`MAX_MEMBERS` members, :data:`MAX_TOTAL_BYTES` in all, no member over
:data:`MAX_MEMBER_BYTES` or inflating more than :data:`MAX_RATIO` times); then the manifest
and the signature (small, bounded reads), the signature over the manifest, the listing
against the members; only then each member, read with a reader bounded by its declared size
and hash-checked at once. The bytes it checked are the bytes it keeps and later uses. A
bundle without a signature, or with one that cannot be checked because no key is available,
is refused unless ``trust_unsigned=True``; a signature or hash that does not match is always
refused. A ``pickled`` node (a third-party estimator) is unpickled only with ``allow_pickle=True``
(``--allow-pickle``), which runs code from the file, whatever the signature says:
``trust_unsigned`` never unpickles. ``.npz`` states are size-checked from
their array headers before any array is allocated (:func:`nirs_core.graph.runtime.state_from_bytes`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from nirs_core.errors import BundleIntegrityError, ConfigError
from nirs_core.graph.runtime import GraphError, RuntimeGraph, state_from_bytes
from nirs_core.store.signing import (
    DEFAULT_KEY_FILE,
    KEY_ENV,
    KEY_FILE_ENV,
    SIGNING_KEY_FILE_ENV,
    check_signature,
    key_id,
    resolve_hmac_key,
    resolve_signer,
)

__all__ = [
    "BUNDLE_FORMAT",
    "DEFAULT_KEY_FILE",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "Bundle",
    "key_id",
    "open_bundle",
    "parts_from_workspace",
    "resolve_key",
    "verify_bundle",
    "write_bundle",
]

BUNDLE_FORMAT = "nirs.bundle/1"
SIGNATURE_FORMAT = "nirs.signature/1"
MANIFEST = "manifest.sha256"
SIGNATURE = "signature"
REQUIRED = ("bundle.json", "graph.json", "input.json")
ARTIFACTS_DIR = "artifacts/"
MAX_MEMBER_BYTES = 1 << 30  # one member larger than 1 GiB is not a model: refuse (zip bomb)
MAX_TOTAL_BYTES = 2 << 30  # all members together, as the headers declare them
MAX_MEMBERS = 10_000
MAX_RATIO = 100  # a member inflating more than this many times its stored size is a bomb
MAX_SMALL_MEMBER = 8 << 20  # the manifest and the signature
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")
_ARTIFACT_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*\.(npz|pkl)$")
_MANIFEST_LINE = re.compile(r"^(?P<sha>[0-9a-f]{64})  (?P<name>\S+)$")
_FOLD = re.compile(r"^fold_(\d+)$")


def resolve_key(
    key: bytes | str | None = None, key_file: str | os.PathLike[str] | None = None
) -> tuple[bytes | None, str | None]:
    """The legacy HMAC key and where it came from (:func:`nirs_core.store.signing.resolve_hmac_key`)."""
    return resolve_hmac_key(key, key_file)


# ----------------------------------------------------------------------------- writing


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(data: Any) -> bytes:
    from nirs_core.graph.runtime import _json_default

    return (json.dumps(data, indent=1, sort_keys=True, default=_json_default, allow_nan=True) + "\n").encode()


def _fold_names(names: Iterable[str]) -> list[str]:
    folds = [n for n in names if _FOLD.match(n)]
    return sorted(set(folds), key=lambda n: int(_FOLD.match(n).group(1)))


def _select_fits(graph: RuntimeGraph, fits: str | Sequence[str]) -> tuple[str, list[str]]:
    """``(mode, fit names)`` for ``fits`` = ``"refit"``, ``"ensemble"`` or explicit fit names."""
    fitted = [n for n in graph.nodes if n.artifacts]
    if isinstance(fits, str) and fits == "refit":
        return "refit", ["refit"]
    if isinstance(fits, str) and fits == "ensemble":
        models = [n for n in fitted if n.kind in ("model", "pickled")] or fitted
        names = _fold_names(name for n in models for name in n.artifacts)
        if not names:
            raise ConfigError(
                "write_bundle: fits='ensemble' needs the fold fits (fold_0, fold_1…) of the model "
                "nodes; the graph records none."
            )
        return "ensemble", names
    if isinstance(fits, str) or not fits or not all(isinstance(f, str) for f in fits):
        raise ConfigError(
            f"write_bundle: fits must be 'refit', 'ensemble' or a list of fit names; got {fits!r}."
        )
    return ("refit" if list(fits) == ["refit"] else "ensemble"), list(fits)


def _restrict_artifacts(graph: RuntimeGraph, fit_names: list[str]) -> RuntimeGraph:
    """A copy of ``graph`` whose nodes map exactly ``fit_names`` to artefact files. A node
    whose artefacts are one file for every fit (a stateless operator computed once) maps every
    fit name to it; a node that lacks a fit with distinct per-fit files is an error."""
    out = RuntimeGraph.from_dict(json.loads(graph.to_json()))
    for node in out.nodes:
        if not node.artifacts:
            continue
        distinct = set(node.artifacts.values())
        chosen: dict[str, str] = {}
        for fit in fit_names:
            if fit in node.artifacts:
                chosen[fit] = node.artifacts[fit]
            elif len(distinct) == 1:
                chosen[fit] = next(iter(distinct))
            else:
                raise ConfigError(
                    f"write_bundle: node {node.id!r} has no artefact for fit {fit!r} "
                    f"(it has {sorted(node.artifacts)})."
                )
        node.artifacts = chosen
    return out


def _input_spec(graph: RuntimeGraph, dataset: Any) -> dict[str, Any]:
    """``input.json``: the graph's ``inputs`` completed from the training dataset when given."""
    sources: list[dict[str, Any]] = [dict(s) for s in graph.inputs]
    if dataset is not None:
        for k in range(dataset.n_sources):
            entry = sources[k] if k < len(sources) else {}
            entry.setdefault("name", dataset.source_names[k])
            entry.setdefault("wavelengths", [float(v) for v in dataset.wavelengths(k)])
            entry.setdefault("unit", dataset.unit(k))
            entry.setdefault("n_features", int(dataset.n_features[k]))
            if k >= len(sources):
                sources.append(entry)
    if not sources:
        raise ConfigError(
            "write_bundle: the graph records no inputs and no training dataset was given; "
            "cannot say what spectra the bundle expects."
        )
    for k, entry in enumerate(sources):
        entry.setdefault("name", f"source_{k}")
        entry.setdefault("dtype", "float64")
        if "n_features" not in entry:
            if entry.get("wavelengths") is None:
                raise ConfigError(f"write_bundle: input source {k} has neither n_features nor wavelengths.")
            entry["n_features"] = len(entry["wavelengths"])
        entry.setdefault("wavelengths", None)
        entry.setdefault("unit", None)
    return {
        "n_sources": len(sources),
        "n_features": int(sum(int(s["n_features"]) for s in sources)),
        "dtype": sources[0]["dtype"],
        "sources": sources,
    }


def _y_processing(graph: RuntimeGraph, info: Mapping[str, Any]) -> list[dict[str, Any]]:
    steps = [
        {"node": n.id, "class": n.class_path, "params": n.params, "kernel": n.kernel}
        for n in graph.nodes
        if n.kind == "y_inverse"
    ]
    if not steps and info.get("y_processing"):
        return list(info["y_processing"])
    return steps


def _source_fields(source: Any) -> dict[str, Any]:
    """The fields of a :class:`~nirs_core.pipeline.result.Result`, or of a mapping with the same
    keys (at least ``graph`` and ``artifacts``)."""
    names = (
        "dataset",
        "config_id",
        "config_name",
        "config",
        "choices",
        "task",
        "metric",
        "cv_score",
        "test_score",
        "scores",
        "n_train",
        "n_test",
        "predictions",
        "graph",
        "artifacts",
        "template_id",
        "info",
    )
    if isinstance(source, Mapping):
        data = {k: source.get(k) for k in names}
    else:
        data = {k: getattr(source, k, None) for k in names}
    if not isinstance(data["graph"], RuntimeGraph):
        raise ConfigError(
            f"write_bundle: expected a Result (or a mapping) with a RuntimeGraph as 'graph'; "
            f"got {type(data['graph']).__name__}."
        )
    if not isinstance(data["artifacts"], Mapping):
        raise ConfigError(
            f"write_bundle: expected 'artifacts' to map file names to bytes; got {type(data['artifacts']).__name__}."
        )
    data["info"] = dict(data["info"] or {})
    data["predictions"] = list(data["predictions"] or [])
    return data


def write_bundle(
    source: Any,
    path: str | os.PathLike[str],
    *,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    sign: bool = True,
    fits: str | Sequence[str] = "refit",
    dataset: Any = None,
    template: Any = None,
    datasheet: bool | Mapping[str, Any] | Callable[..., Mapping[str, Any]] = False,
    name: str | None = None,
) -> Path:
    """Write a bundle of ``source`` (a :class:`~nirs_core.pipeline.result.Result`, or a mapping
    with its field names: at least ``graph`` and ``artifacts``) to ``path``, atomically.

    ``fits``: ``"refit"`` (default: the model refit on the whole calibration set),
    ``"ensemble"`` (every ``fold_k`` fit; replay averages their predictions) or a list of fit
    names. ``dataset``: the training :class:`~nirs_core.data.SpectroDataset`, for the input
    axis (when the graph lacks it) and the datasheet. ``template``: the template (text or
    object) recorded in the datasheet. ``datasheet``: ``False`` leaves it out; a prebuilt one
    (``{"markdown", "json", "plots"}``); or a builder called as ``datasheet(fields, dataset=,
    template=, bundle_info=)`` (the store writes what it is given: the application layer passes
    :func:`nirs_core.reports.datasheet.build_datasheet`, see :func:`nirs_core.app.train.write_bundle`). Signed with the key found by :func:`resolve_key`
    unless ``sign=False``; no key found while signing is a :class:`ConfigError`.
    """
    data = _source_fields(source)
    graph: RuntimeGraph = data["graph"]
    signer = None
    if sign:
        signer = resolve_signer(key, key_file)
        if signer is None:
            raise ConfigError(
                "write_bundle: no signing key; make one with `nirs keys generate` and pass it as "
                f"key_file= (--key-file) or ${SIGNING_KEY_FILE_ENV}, or pass sign=False for an "
                "unsigned bundle."
            )
    mode, fit_names = _select_fits(graph, fits)
    bundled = _restrict_artifacts(graph, fit_names)
    members = _artifact_members(bundled, data["artifacts"])

    info = _bundle_info(data, graph, name or Path(path).name.removesuffix(".zip"), mode, fit_names)
    members["bundle.json"] = _json_bytes(info)
    members["input.json"] = _json_bytes(_input_spec(graph, dataset))
    members["graph.json"] = (bundled.to_json() + "\n").encode()

    members.update(_datasheet_members(datasheet, data, dataset, template, info))

    for member in members:
        _check_name(member, "write_bundle")
    manifest = "".join(f"{_sha256(members[m])}  {m}\n" for m in sorted(members)).encode()
    members[MANIFEST] = manifest
    if signer is not None:
        members[SIGNATURE] = _json_bytes({"format": SIGNATURE_FORMAT, **signer.sign(manifest)})

    return _write_zip(Path(path), members)


def _bundle_info(
    data: Mapping[str, Any], graph: RuntimeGraph, name: str, mode: str, fit_names: list[str]
) -> dict[str, Any]:
    """``bundle.json``: what the bundle is (format, name, fits, targets, task), where it comes
    from (dataset, config, template, scores) and its validation and domain summaries."""
    from nirs_core import __version__

    outputs = dict(graph.outputs)
    return {
        "format": BUNDLE_FORMAT,
        "name": name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "nirs_core_version": __version__,
        "fits": {"mode": mode, "names": fit_names},
        "targets": list(outputs.get("targets") or []),
        "task": outputs.get("task") or data["task"],
        "classes": list(outputs.get("classes") or []),
        "y_processing": _y_processing(graph, data["info"]),
        "dataset": data["dataset"],
        "config_id": data["config_id"],
        "config_name": data["config_name"],
        "template_id": data["template_id"],
        "metric": data["metric"],
        "cv_score": data["cv_score"],
        "test_score": data["test_score"],
        "structure_hash": graph.structure_hash(),
        "validation": data["info"].get("validation"),
        "domain": data["info"].get("domain"),
        "transfer": data["info"].get("transfer"),
    }


def _artifact_members(bundled: RuntimeGraph, artifacts: Mapping[str, bytes]) -> dict[str, bytes]:
    """``artifacts/<file>`` members of every fitted state the bundled graph names, each checked
    (a plain ``.npz``/``.pkl`` name, present in the result, ``.pkl`` exactly for pickled nodes)."""
    members: dict[str, bytes] = {}
    for node in bundled.nodes:
        for fit, file_name in node.artifacts.items():
            if not isinstance(file_name, str) or not _ARTIFACT_FILE.match(file_name):
                raise ConfigError(
                    f"write_bundle: node {node.id!r} fit {fit!r}: artefact name must be a plain file "
                    f"name ending in .npz or .pkl; got {file_name!r}."
                )
            if file_name not in artifacts:
                raise ConfigError(
                    f"write_bundle: node {node.id!r} fit {fit!r} refers to artefact {file_name!r}, "
                    "which is not among the result's artefacts."
                )
            is_pickle = file_name.endswith(".pkl")
            if is_pickle != (node.kind == "pickled"):
                raise ConfigError(
                    f"write_bundle: node {node.id!r} of kind {node.kind!r} has artefact {file_name!r}; "
                    "expected .pkl for kind 'pickled' and .npz for every other kind."
                )
            members[ARTIFACTS_DIR + file_name] = bytes(artifacts[file_name])
    return members


def _datasheet_members(
    datasheet: Any, data: Mapping[str, Any], dataset: Any, template: Any, info: Mapping[str, Any]
) -> dict[str, bytes]:
    """``datasheet.md``, ``datasheet.json`` and ``plots/*`` from a prebuilt datasheet or a
    builder (none for ``False``)."""
    if datasheet is False or datasheet is None:
        sheet = None
    elif isinstance(datasheet, Mapping):
        sheet = datasheet
    elif callable(datasheet):
        sheet = datasheet(data, dataset=dataset, template=template, bundle_info=info)
    else:
        raise ConfigError(
            "write_bundle: datasheet must be False, a built datasheet mapping or a datasheet builder; "
            f"got {type(datasheet).__name__}."
        )
    if sheet is None:
        return {}
    members = {
        "datasheet.md": sheet["markdown"].encode("utf-8"),
        "datasheet.json": _json_bytes(sheet["json"]),
    }
    for plot_name, png in sheet.get("plots", {}).items():
        members[f"plots/{plot_name}"] = bytes(png)
    return members


def _write_zip(target: Path, members: Mapping[str, bytes]) -> Path:
    """The members as a stored (not deflated) zip at ``target``, atomically, fixed timestamps."""
    from nirs_core.store._atomic import atomic_path

    # stored, not deflated: every byte of a member's data is content, so flipping any one of
    # them changes what is hashed (a deflate stream has bits whose flip decodes the same)
    with atomic_path(target) as tmp, zipfile.ZipFile(tmp, "x", compression=zipfile.ZIP_STORED) as zf:
        for member in sorted(members):
            zinfo = zipfile.ZipInfo(member, date_time=_FIXED_TIME)
            zinfo.compress_type = zipfile.ZIP_STORED
            zinfo.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(zinfo, members[member])
    return target


# ----------------------------------------------------------------------------- reading


def _check_name(name: str, where: str) -> None:
    parts = PurePosixPath(name).parts
    if (
        not isinstance(name, str)
        or name.startswith("/")
        or "\\" in name
        or ".." in parts
        or (len(name) > 1 and name[1] == ":")
        or not _NAME.match(name)
    ):
        raise BundleIntegrityError(
            f"{where}: member name {name!r} is not a plain relative path (absolute, '..', "
            "backslash or unexpected characters); refusing the bundle."
        )


@dataclass
class Bundle:
    """An opened, verified bundle: its parsed descriptors and the verified bytes of its members.

    ``signature`` is ``"valid"`` (checked with the key ``key_id``), ``"missing"`` or
    ``"unchecked"`` (present, but no key was available); the last two only with
    ``trust_unsigned=True``.
    """

    path: Path
    graph: RuntimeGraph
    info: dict[str, Any]
    input: dict[str, Any]
    members: dict[str, bytes] = field(repr=False)
    signature: str
    key_id: str | None = None
    allow_pickle: bool = False
    _states: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    @property
    def fits(self) -> list[str]:
        return list(self.info["fits"]["names"])

    @property
    def fit_mode(self) -> str:
        return str(self.info["fits"]["mode"])

    @property
    def targets(self) -> list[str]:
        return list(self.info.get("targets") or [])

    @property
    def task(self) -> str | None:
        return self.info.get("task")

    @property
    def classes(self) -> list[Any]:
        return list(self.info.get("classes") or [])

    def member(self, name: str) -> bytes:
        try:
            return self.members[name]
        except KeyError:
            raise BundleIntegrityError(f"{self.path}: no member {name!r} in the bundle.") from None

    def state(self, node_id: str, fit: str) -> Any:
        """The fitted state of a node for one fit: the kernel's kwargs (``.npz``, never
        unpickled) or, for a ``pickled`` node, the unpickled estimator (the bundle was verified
        when it was opened). ``{}`` for a node without artefacts (a stateless kernel)."""
        cache_key = (node_id, fit)
        if cache_key in self._states:
            return self._states[cache_key]
        node = self.graph.node(node_id)
        if not node.artifacts:
            value: Any = {}
        else:
            file_name = node.artifacts.get(fit)
            if file_name is None:
                raise BundleIntegrityError(
                    f"{self.path}: node {node_id!r} has no artefact for fit {fit!r} (it has {sorted(node.artifacts)})."
                )
            data = self.member(ARTIFACTS_DIR + file_name)
            if file_name.endswith(".npz"):
                try:
                    value = state_from_bytes(data)
                except (GraphError, ValueError, OSError, zipfile.BadZipFile) as exc:
                    raise BundleIntegrityError(
                        f"{self.path}: artefact {file_name!r} of node {node_id!r} is not a readable state ({exc})."
                    ) from None
            else:
                # a valid signature says who made the file, not that its code is harmless: a
                # pickle runs code, so it loads only when the caller says so, every time
                if not self.allow_pickle:
                    raise BundleIntegrityError(
                        f"{self.path}: node {node_id!r} is a pickled third-party estimator (signature "
                        f"{self.signature}); unpickling runs code from the file. Pass allow_pickle=True / "
                        "--allow-pickle only if you trust whoever made the file."
                    )
                import pickle

                try:
                    value = pickle.loads(data)
                except Exception as exc:  # a damaged pickle fails in many ways; one message for all
                    raise BundleIntegrityError(
                        f"{self.path}: artefact {file_name!r} of node {node_id!r} cannot be unpickled ({exc})."
                    ) from None
        self._states[cache_key] = value
        return value

    def datasheet(self) -> dict[str, Any] | None:
        data = self.members.get("datasheet.json")
        return None if data is None else json.loads(data)

    def summary(self) -> dict[str, Any]:
        """What ``nirs verify`` prints."""
        artefacts = sorted(m for m in self.members if m.startswith(ARTIFACTS_DIR))
        return {
            "path": str(self.path),
            "format": self.info.get("format"),
            "signature": self.signature,
            "key_id": self.key_id,
            "members": len(self.members),
            "artifacts": len(artefacts),
            "pickled_artifacts": sum(1 for a in artefacts if a.endswith(".pkl")),
            "nodes": len(self.graph.nodes),
            "fits": self.info["fits"],
            "targets": self.targets,
            "task": self.task,
            "config": self.info.get("config_name"),
            "dataset": self.info.get("dataset"),
            "structure_hash": self.graph.structure_hash(),
            "created_at": self.info.get("created_at"),
        }


def _checked_infos(zf: zipfile.ZipFile, where: str) -> dict[str, zipfile.ZipInfo]:
    """The members by name, after the hygiene checks and the size bounds, from the central
    directory alone (nothing is inflated)."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise BundleIntegrityError(
            f"{where}: {len(infos)} members, over the limit of {MAX_MEMBERS}; refusing the bundle."
        )
    out: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for zi in infos:
        _check_name(zi.filename, where)
        if zi.filename in out:
            raise BundleIntegrityError(f"{where}: member {zi.filename!r} appears twice; refusing the bundle.")
        file_type = stat.S_IFMT(zi.external_attr >> 16)  # 0 when the writer set no type
        if zi.is_dir() or file_type not in (0, stat.S_IFREG):
            raise BundleIntegrityError(
                f"{where}: member {zi.filename!r} is not a regular file (directory or link); refusing the bundle."
            )
        if zi.file_size > MAX_MEMBER_BYTES:
            raise BundleIntegrityError(
                f"{where}: member {zi.filename!r} declares {zi.file_size} bytes, over the "
                f"{MAX_MEMBER_BYTES}-byte limit; refusing the bundle."
            )
        if zi.file_size > MAX_RATIO * max(zi.compress_size, 1) and zi.file_size > 1 << 20:
            raise BundleIntegrityError(
                f"{where}: member {zi.filename!r} inflates {zi.compress_size} bytes to {zi.file_size} "
                f"(over {MAX_RATIO} times); refusing the bundle (a zip bomb)."
            )
        total += zi.file_size
        out[zi.filename] = zi
    if total > MAX_TOTAL_BYTES:
        raise BundleIntegrityError(
            f"{where}: the members declare {total} bytes in all, over the {MAX_TOTAL_BYTES}-byte limit; "
            "refusing the bundle."
        )
    return out


def _read_member(
    zf: zipfile.ZipFile, zi: zipfile.ZipInfo, where: str, limit: int = MAX_MEMBER_BYTES
) -> bytes:
    """A member's bytes, read at most to its declared size (a lying header cannot inflate more)."""
    if zi.file_size > limit:
        raise BundleIntegrityError(
            f"{where}: member {zi.filename!r} declares {zi.file_size} bytes, over its {limit}-byte limit."
        )
    try:
        with zf.open(zi) as fh:
            data = fh.read(zi.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise BundleIntegrityError(
            f"{where}: member {zi.filename!r} cannot be read ({exc}); the file is corrupted."
        ) from None
    if len(data) != zi.file_size:
        raise BundleIntegrityError(
            f"{where}: member {zi.filename!r} holds {len(data)} bytes; its header declares {zi.file_size}."
        )
    return data


def _parse_manifest(text: bytes, where: str) -> dict[str, str]:
    try:
        lines = text.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise BundleIntegrityError(f"{where}: {MANIFEST} is not ASCII text; refusing the bundle.") from None
    entries: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        match = _MANIFEST_LINE.match(line)
        if match is None:
            raise BundleIntegrityError(
                f"{where}: {MANIFEST} line {number} is {line[:100]!r}; expected '<64 hex>  <name>'."
            )
        member = match["name"]
        _check_name(member, where)
        if member in entries or member in (MANIFEST, SIGNATURE):
            raise BundleIntegrityError(
                f"{where}: {MANIFEST} line {number} lists {member!r} again or lists itself."
            )
        entries[member] = match["sha"]
    if list(entries) != sorted(entries):
        raise BundleIntegrityError(f"{where}: {MANIFEST} is not sorted by name; refusing the bundle.")
    return entries


def _check_signature(
    raw: bytes | None, manifest: bytes, where: str, keys: Mapping[str, Any], trust_unsigned: bool
) -> tuple[str, str | None]:
    if raw is None:
        if trust_unsigned:
            return "missing", None
        raise BundleIntegrityError(
            f"{where}: the bundle is not signed; refusing it (pass trust_unsigned=True / --trust-unsigned "
            "to accept an unsigned bundle from a source you trust)."
        )
    try:
        sig = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        sig = None
    if not isinstance(sig, dict) or not isinstance(sig.get("algorithm"), str):
        raise BundleIntegrityError(
            f"{where}: member {SIGNATURE!r} is malformed; expected JSON with 'algorithm' and the signature."
        )
    status, signed_by = check_signature(sig, manifest, where, **keys)
    if status == "unchecked" and not trust_unsigned:
        raise BundleIntegrityError(
            f"{where}: the bundle is signed (key id {sig.get('key_id')}, {sig['algorithm']}) but no key is "
            "configured to check it; pass --public-key (or set $NIRS_VERIFY_KEY_FILE) for Ed25519, "
            f"${KEY_ENV} or --key-file for an old HMAC bundle."
        )
    return status, signed_by


def open_bundle(
    path: str | os.PathLike[str],
    *,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    public_key: Any = None,
    trust_unsigned: bool = False,
    allow_pickle: bool = False,
) -> Bundle:
    """Open and verify a bundle (see the module docstring for the checks and their order);
    :class:`~nirs_core.errors.BundleIntegrityError` naming what failed otherwise. No member is
    inflated before the signature and the listing are checked, and nothing is parsed or
    unpickled before every check has passed."""
    bundle_path = Path(path)
    where = str(bundle_path)
    if not bundle_path.is_file():
        raise FileNotFoundError(f"{where}: no such bundle file.")
    try:
        zf = zipfile.ZipFile(bundle_path)
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise BundleIntegrityError(f"{where}: not a valid zip file ({exc}).") from None
    with zf:
        infos = _checked_infos(zf, where)
        if MANIFEST not in infos:
            raise BundleIntegrityError(f"{where}: no {MANIFEST} member; not a bundle, or it was stripped.")
        manifest = _read_member(zf, infos[MANIFEST], where, MAX_SMALL_MEMBER)
        raw_sig = _read_member(zf, infos[SIGNATURE], where, MAX_SMALL_MEMBER) if SIGNATURE in infos else None
        listed = _parse_manifest(manifest, where)
        keys = {"key": key, "key_file": key_file, "public_key": public_key}
        signature, signed_by = _check_signature(raw_sig, manifest, where, keys, trust_unsigned)
        unexpected = sorted(set(infos) - set(listed) - {MANIFEST, SIGNATURE})
        if unexpected:
            raise BundleIntegrityError(
                f"{where}: member(s) {unexpected} are not listed in {MANIFEST}; refusing the bundle."
            )
        missing = sorted(set(listed) - set(infos))
        if missing:
            raise BundleIntegrityError(f"{where}: member(s) {missing} listed in {MANIFEST} are missing.")
        members: dict[str, bytes] = {MANIFEST: manifest}
        if raw_sig is not None:
            members[SIGNATURE] = raw_sig
        for member, expected in listed.items():
            data = _read_member(zf, infos[member], where)
            actual = _sha256(data)
            if not hmac.compare_digest(actual, expected):
                raise BundleIntegrityError(
                    f"{where}: member {member!r} hashes to sha256 {actual}; the manifest says {expected} "
                    "(the member was modified)."
                )
            members[member] = data
    absent = [m for m in REQUIRED if m not in members]
    if absent:
        raise BundleIntegrityError(f"{where}: required member(s) {absent} are missing.")
    info, spec, graph = _descriptors(members, where)
    for node in graph.nodes:
        for fit in info["fits"]["names"]:
            if node.artifacts and ARTIFACTS_DIR + str(node.artifacts.get(fit)) not in members:
                raise BundleIntegrityError(
                    f"{where}: node {node.id!r} fit {fit!r} refers to artefact {node.artifacts.get(fit)!r}, "
                    "which the bundle does not hold."
                )
    return Bundle(
        path=bundle_path,
        graph=graph,
        info=info,
        input=spec,
        members=members,
        signature=signature,
        key_id=signed_by,
        allow_pickle=allow_pickle,
    )


def _descriptors(
    members: Mapping[str, bytes], where: str
) -> tuple[dict[str, Any], dict[str, Any], RuntimeGraph]:
    """``bundle.json``, ``input.json`` and the graph, parsed and checked for shape."""
    try:
        info = json.loads(members["bundle.json"])
        spec = json.loads(members["input.json"])
        graph = RuntimeGraph.from_json(members["graph.json"].decode("utf-8"))
    except (ValueError, GraphError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise BundleIntegrityError(f"{where}: malformed descriptor ({exc}).") from None
    if not isinstance(info, dict) or info.get("format") != BUNDLE_FORMAT:
        found = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise BundleIntegrityError(f"{where}: bundle format {found!r}; this version reads {BUNDLE_FORMAT}.")
    fits = info.get("fits")
    if (
        not isinstance(fits, dict)
        or not isinstance(fits.get("names"), list)
        or not fits["names"]
        or not all(isinstance(n, str) for n in fits["names"])
        or not isinstance(spec, dict)
        or not isinstance(spec.get("sources"), list)
        or not spec["sources"]
        or not all(_is_source(s) for s in spec["sources"])
    ):
        raise BundleIntegrityError(
            f"{where}: malformed descriptor (bundle.json needs fits.names, a non-empty list of names; "
            "input.json needs sources, a non-empty list of {n_features: int, wavelengths: list of "
            "numbers or null, ...})."
        )
    bad = [n.id for n in graph.nodes if not isinstance(n.meta, dict) or not isinstance(n.params, dict)]
    if bad:
        raise BundleIntegrityError(
            f"{where}: malformed descriptor (graph.json: node {bad[0]!r} needs meta and params mappings)."
        )
    return info, spec, graph


def _is_source(source: Any) -> bool:
    """An ``input.json`` source: a mapping with an integer ``n_features`` and a list of numbers
    (or null) as ``wavelengths``."""
    if not isinstance(source, dict):
        return False
    n = source.get("n_features")
    axis = source.get("wavelengths")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        return False
    if axis is None:
        return True
    return (
        isinstance(axis, list)
        and len(axis) == n
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in axis)
    )


def verify_bundle(
    path: str | os.PathLike[str],
    *,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    public_key: Any = None,
    trust_unsigned: bool = False,
) -> dict[str, Any]:
    """Open and verify a bundle and parse its ``.npz`` states (never unpickling); return the
    summary that ``nirs verify`` prints."""
    bundle = open_bundle(
        path, key=key, key_file=key_file, public_key=public_key, trust_unsigned=trust_unsigned
    )
    for name, data in bundle.members.items():
        if name.startswith(ARTIFACTS_DIR) and name.endswith(".npz"):
            try:
                state_from_bytes(data)
            except (GraphError, ValueError, OSError, zipfile.BadZipFile) as exc:
                raise BundleIntegrityError(
                    f"{bundle.path}: artefact {name!r} is not a readable state ({exc})."
                ) from None
    return bundle.summary()


# ----------------------------------------------------------------------------- from a workspace


def parts_from_workspace(workspace: Any, run_id: str, dataset: str, config_id: str) -> dict[str, Any]:
    """A stored result as :func:`write_bundle` takes it: the manifest's fields, the runtime
    graph, the artefact bytes (hash-checked by the workspace), the result's prediction rows and
    the template's verbatim text (``template_text``)."""
    from nirs_core.store.workspace import Workspace

    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    manifest = ws.read_manifest(run_id, dataset, config_id)
    graph = ws.read_graph(run_id, dataset, config_id)
    artifacts = {}
    for name in manifest.get("artifacts") or []:
        sha, _, ext = str(name).partition(".")
        artifacts[name] = ws.get_artifact(sha, ext)
    rows = ws.read_predictions(dataset, run_id=run_id, config_id=config_id).to_dicts()
    template_text = None
    if manifest.get("template_id"):
        path = ws.template_path(run_id, manifest["template_id"])
        if path.is_file():
            template_text = path.read_text(encoding="utf-8")
    return {
        **manifest,
        "graph": graph,
        "artifacts": artifacts,
        "predictions": rows,
        "template_text": template_text,
    }
