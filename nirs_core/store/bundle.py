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
    signature            JSON: ``{"algorithm": "HMAC-SHA256", "key_id": …, "mac": …}``, the
                         HMAC-SHA256 of the bytes of ``manifest.sha256``

The signing key (at least 16 bytes) is found, in this order: the ``key=`` argument; the file
given as ``key_file=`` (``--key-file`` on the command line); the environment variable
``NIRS_BUNDLE_KEY`` (its text, UTF-8); the file named by ``NIRS_BUNDLE_KEY_FILE``;
``~/.config/nirs/bundle.key``. A key file holds the key as text; surrounding whitespace is
ignored. Make one with::

    python -c "import secrets; print(secrets.token_hex(32))" > ~/.config/nirs/bundle.key

:func:`open_bundle` checks, before it parses or unpickles anything: zip hygiene (no absolute
or ``..`` names, no duplicates, no directories or links, no member that the manifest does not
list, no listed member missing), the signature over the manifest, then the sha256 of every
member. The bytes it checked are the bytes it keeps and later uses, so nothing is read twice.
A bundle without a signature, or with a signature that cannot be checked because no key is
available, is refused unless ``trust_unsigned=True``; a signature that does not match, or any
hash that does not match, is always refused.
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
KEY_ENV = "NIRS_BUNDLE_KEY"
KEY_FILE_ENV = "NIRS_BUNDLE_KEY_FILE"
DEFAULT_KEY_FILE = Path("~/.config/nirs/bundle.key")
MIN_KEY_BYTES = 16
MANIFEST = "manifest.sha256"
SIGNATURE = "signature"
REQUIRED = ("bundle.json", "graph.json", "input.json")
ARTIFACTS_DIR = "artifacts/"
MAX_MEMBER_BYTES = 1 << 30  # one member larger than 1 GiB is not a model: refuse (zip bomb)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")
_ARTIFACT_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*\.(npz|pkl)$")
_MANIFEST_LINE = re.compile(r"^(?P<sha>[0-9a-f]{64})  (?P<name>\S+)$")
_FOLD = re.compile(r"^fold_(\d+)$")


# ----------------------------------------------------------------------------- keys


def _key_bytes(value: bytes | str, origin: str) -> bytes:
    key = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    key = key.strip()
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"bundle key from {origin}: expected at least {MIN_KEY_BYTES} bytes; got {len(key)}."
        )
    return key


def _read_key_file(path: str | os.PathLike[str], origin: str) -> bytes:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"bundle key file {p} (from {origin}): no such file.")
    return _key_bytes(p.read_bytes(), f"{origin} {p}")


def resolve_key(
    key: bytes | str | None = None, key_file: str | os.PathLike[str] | None = None
) -> tuple[bytes | None, str | None]:
    """``(key, where it came from)``, or ``(None, None)`` when no key is configured. The order is
    in the module docstring."""
    if key is not None:
        return _key_bytes(key, "the key argument"), "the key argument"
    if key_file is not None:
        return _read_key_file(key_file, "--key-file"), f"key file {key_file}"
    env = os.environ.get(KEY_ENV)
    if env:
        return _key_bytes(env, f"${KEY_ENV}"), f"${KEY_ENV}"
    env_file = os.environ.get(KEY_FILE_ENV)
    if env_file:
        return _read_key_file(env_file, f"${KEY_FILE_ENV}"), f"key file {env_file}"
    default = DEFAULT_KEY_FILE.expanduser()
    if default.is_file():
        return _read_key_file(default, "the default key file"), f"key file {default}"
    return None, None


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key (tells keys apart, reveals nothing of the key)."""
    return hashlib.sha256(b"nirs-bundle-key-id\0" + key).hexdigest()[:16]


def _mac(key: bytes, manifest: bytes) -> str:
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


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
    signing_key = None
    if sign:
        signing_key, _origin = resolve_key(key, key_file)
        if signing_key is None:
            raise ConfigError(
                f"write_bundle: no signing key; set ${KEY_ENV}, pass key=/key_file= (--key-file), "
                f"create {DEFAULT_KEY_FILE}, or pass sign=False for an unsigned bundle."
            )
    mode, fit_names = _select_fits(graph, fits)
    bundled = _restrict_artifacts(graph, fit_names)

    members: dict[str, bytes] = {}
    for node in bundled.nodes:
        for fit, file_name in node.artifacts.items():
            if not isinstance(file_name, str) or not _ARTIFACT_FILE.match(file_name):
                raise ConfigError(
                    f"write_bundle: node {node.id!r} fit {fit!r}: artefact name must be a plain file "
                    f"name ending in .npz or .pkl; got {file_name!r}."
                )
            if file_name not in data["artifacts"]:
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
            members[ARTIFACTS_DIR + file_name] = bytes(data["artifacts"][file_name])

    from nirs_core import __version__

    outputs = dict(graph.outputs)
    info = {
        "format": BUNDLE_FORMAT,
        "name": name or Path(path).name.removesuffix(".zip"),
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
    }
    members["bundle.json"] = _json_bytes(info)
    members["input.json"] = _json_bytes(_input_spec(graph, dataset))
    members["graph.json"] = (bundled.to_json() + "\n").encode()

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
    if sheet is not None:
        members["datasheet.md"] = sheet["markdown"].encode("utf-8")
        members["datasheet.json"] = _json_bytes(sheet["json"])
        for plot_name, png in sheet.get("plots", {}).items():
            members[f"plots/{plot_name}"] = bytes(png)

    for member in members:
        _check_name(member, "write_bundle")
    manifest = "".join(f"{_sha256(members[m])}  {m}\n" for m in sorted(members)).encode()
    members[MANIFEST] = manifest
    if signing_key is not None:
        members[SIGNATURE] = _json_bytes(
            {
                "format": SIGNATURE_FORMAT,
                "algorithm": "HMAC-SHA256",
                "key_id": key_id(signing_key),
                "mac": _mac(signing_key, manifest),
            }
        )

    from nirs_core.store._atomic import atomic_path

    target = Path(path)
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
                value = state_from_bytes(data)
            else:
                import pickle

                value = pickle.loads(data)
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


def _read_members(path: Path) -> dict[str, bytes]:
    """Every member's bytes after the hygiene checks (names, duplicates, kinds, sizes)."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise BundleIntegrityError(f"{path}: not a valid zip file ({exc}).") from None
    with zf:
        infos = zf.infolist()
        seen: set[str] = set()
        for zi in infos:
            _check_name(zi.filename, str(path))
            if zi.filename in seen:
                raise BundleIntegrityError(
                    f"{path}: member {zi.filename!r} appears twice; refusing the bundle."
                )
            seen.add(zi.filename)
            file_type = stat.S_IFMT(zi.external_attr >> 16)  # 0 when the writer set no type
            if zi.is_dir() or file_type not in (0, stat.S_IFREG):
                raise BundleIntegrityError(
                    f"{path}: member {zi.filename!r} is not a regular file (directory or link); refusing the bundle."
                )
            if zi.file_size > MAX_MEMBER_BYTES:
                raise BundleIntegrityError(
                    f"{path}: member {zi.filename!r} declares {zi.file_size} bytes, over the "
                    f"{MAX_MEMBER_BYTES}-byte limit; refusing the bundle."
                )
        members: dict[str, bytes] = {}
        for zi in infos:
            try:
                with zf.open(zi) as fh:
                    data = fh.read(MAX_MEMBER_BYTES + 1)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as exc:
                raise BundleIntegrityError(
                    f"{path}: member {zi.filename!r} cannot be read ({exc}); the file is corrupted."
                ) from None
            if len(data) != zi.file_size:
                raise BundleIntegrityError(
                    f"{path}: member {zi.filename!r} holds {len(data)} bytes; its header declares {zi.file_size}."
                )
            members[zi.filename] = data
    return members


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
    members: dict[str, bytes], where: str, key: bytes | None, key_origin: str | None, trust_unsigned: bool
) -> tuple[str, str | None]:
    raw = members.get(SIGNATURE)
    if raw is None:
        if trust_unsigned:
            return "missing", None
        raise BundleIntegrityError(
            f"{where}: the bundle is not signed; refusing it (pass trust_unsigned=True / --trust-unsigned "
            "to accept an unsigned bundle from a source you trust)."
        )
    try:
        sig = json.loads(raw)
        algorithm, mac, signed_id = sig["algorithm"], sig["mac"], sig.get("key_id")
    except (ValueError, TypeError, KeyError):
        raise BundleIntegrityError(
            f"{where}: member {SIGNATURE!r} is malformed; expected JSON with 'algorithm' and 'mac'."
        ) from None
    if algorithm != "HMAC-SHA256" or not isinstance(mac, str):
        raise BundleIntegrityError(
            f"{where}: signature algorithm {algorithm!r}; this version checks 'HMAC-SHA256'."
        )
    if key is None:
        if trust_unsigned:
            return "unchecked", None
        raise BundleIntegrityError(
            f"{where}: the bundle is signed (key id {signed_id}) but no key is configured to check it; set "
            f"${KEY_ENV}, pass --key-file, or create {DEFAULT_KEY_FILE}."
        )
    if not hmac.compare_digest(_mac(key, members[MANIFEST]), mac):
        mine = key_id(key)
        hint = (
            f"it was signed with another key (key id {signed_id}; yours, from {key_origin}, is {mine})"
            if signed_id != mine
            else "the manifest was changed after signing"
        )
        raise BundleIntegrityError(f"{where}: the signature does not match the manifest: {hint}.")
    return "valid", key_id(key)


def open_bundle(
    path: str | os.PathLike[str],
    *,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    trust_unsigned: bool = False,
) -> Bundle:
    """Open and verify a bundle (see the module docstring for the checks and their order);
    :class:`~nirs_core.errors.BundleIntegrityError` naming what failed otherwise. Nothing is
    parsed or unpickled before every check has passed."""
    bundle_path = Path(path)
    where = str(bundle_path)
    if not bundle_path.is_file():
        raise FileNotFoundError(f"{where}: no such bundle file.")
    members = _read_members(bundle_path)
    if MANIFEST not in members:
        raise BundleIntegrityError(f"{where}: no {MANIFEST} member; not a bundle, or it was stripped.")
    listed = _parse_manifest(members[MANIFEST], where)
    unexpected = sorted(set(members) - set(listed) - {MANIFEST, SIGNATURE})
    if unexpected:
        raise BundleIntegrityError(
            f"{where}: member(s) {unexpected} are not listed in {MANIFEST}; refusing the bundle."
        )
    missing = sorted(set(listed) - set(members))
    if missing:
        raise BundleIntegrityError(f"{where}: member(s) {missing} listed in {MANIFEST} are missing.")
    if SIGNATURE in members or not trust_unsigned:
        resolved, origin = resolve_key(key, key_file)
    else:
        resolved, origin = None, None
    signature, signed_by = _check_signature(members, where, resolved, origin, trust_unsigned)
    for member, expected in listed.items():
        actual = _sha256(members[member])
        if not hmac.compare_digest(actual, expected):
            raise BundleIntegrityError(
                f"{where}: member {member!r} hashes to sha256 {actual}; the manifest says {expected} "
                "(the member was modified)."
            )
    absent = [m for m in REQUIRED if m not in members]
    if absent:
        raise BundleIntegrityError(f"{where}: required member(s) {absent} are missing.")
    try:
        info = json.loads(members["bundle.json"])
        spec = json.loads(members["input.json"])
        graph = RuntimeGraph.from_json(members["graph.json"].decode("utf-8"))
    except (ValueError, GraphError, TypeError, KeyError) as exc:
        raise BundleIntegrityError(f"{where}: malformed descriptor ({exc}).") from None
    if not isinstance(info, dict) or info.get("format") != BUNDLE_FORMAT:
        found = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise BundleIntegrityError(f"{where}: bundle format {found!r}; this version reads {BUNDLE_FORMAT}.")
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
    )


def verify_bundle(
    path: str | os.PathLike[str],
    *,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    trust_unsigned: bool = False,
) -> dict[str, Any]:
    """Open and verify a bundle and parse its ``.npz`` states (never unpickling); return the
    summary that ``nirs verify`` prints."""
    bundle = open_bundle(path, key=key, key_file=key_file, trust_unsigned=trust_unsigned)
    for name, data in bundle.members.items():
        if name.startswith(ARTIFACTS_DIR) and name.endswith(".npz"):
            try:
                state_from_bytes(data)
            except (ValueError, OSError, zipfile.BadZipFile) as exc:
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
