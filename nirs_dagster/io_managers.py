"""IO managers: one file (or folder) per asset and partition under ``<workspace>/dagster/``,
every write atomic (a temporary file renamed over the target; :mod:`nirs_core.store._atomic`).

What the engine stores already (results, runtime graphs, artefacts, prediction rows, datasheets,
bundles: everything from ``fitted_pipeline`` on) is stored *by reference*: the asset's value is
a record of :mod:`nirs_dagster.records` naming the files in the engine's workspace, and the IO
manager writes that record as a small JSON file. :class:`NirsIOManager` picks the format from
the value:

=====================  =====================================================================
value                  stored as
=====================  =====================================================================
a record               ``<path>.ref.json``: ``{"kind": ..., ids and paths relative to the
                       workspace}``; loaded back bound to the workspace
``polars.DataFrame``   ``<path>.parquet``
``numpy.ndarray``      ``<path>.npy``, a hard link to ``_blobs/<sha256>.npy``: identical
                       arrays are stored once
``SpectroDataset``     ``<path>.dataset/`` (:meth:`SpectroDataset.save`; loaded memory-mapped)
anything else          ``<path>.pkl`` (cloudpickle; no asset of the project returns one)
=====================  =====================================================================

``<path>`` is ``<asset>/<dataset>`` for a ``dataset`` partition and
``<asset>/<dataset>/<config>`` for a ``dataset × config`` partition.

A value whose blocking asset check failed is marked unusable (:func:`mark_unusable`: a
``<path>.unusable.json`` beside it, naming the check and why); loading it raises a
``dagster.Failure`` that says so (an input with ``allow_missing_partitions`` leaves it out), so
no later downstream run reads it. Writing a new value or a passing check removes the mark.

Batch outputs: a run that covers several partitions of an asset (a single-run backfill) returns
a mapping ``partition key → value`` and each value is written to its own partition's path.
An input that covers several upstream partitions (``leaderboard`` reads the ``predictions`` of
every config of its dataset) is loaded as such a mapping; with the input metadata
``{"allow_missing_partitions": True}`` the partitions never materialised are left out instead
of raising.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cloudpickle
import dagster as dg
import numpy as np
import polars as pl

from nirs_core.data import SpectroDataset
from nirs_core.errors import DataError
from nirs_core.store._atomic import atomic_path, atomic_write_bytes, atomic_write_json
from nirs_dagster.partitions import split_result_key
from nirs_dagster.records import record_from_json, record_kind
from nirs_dagster.resources import NirsResource

__all__ = [
    "SUFFIXES",
    "NirsIOManager",
    "clear_unusable",
    "mark_unusable",
    "read_value",
    "unusable_reason",
    "value_base",
    "write_value",
]

SUFFIXES = (".ref.json", ".parquet", ".npy", ".dataset", ".pkl")


def _suffix_for(value: Any) -> str:
    if record_kind(value) is not None:
        return ".ref.json"
    if isinstance(value, pl.DataFrame):
        return ".parquet"
    if isinstance(value, np.ndarray):
        return ".npy"
    if isinstance(value, SpectroDataset):
        return ".dataset"
    return ".pkl"


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _write_array(value: np.ndarray, target: Path, blobs: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(value), allow_pickle=False)
    data = buffer.getvalue()
    blob = blobs / f"{hashlib.sha256(data).hexdigest()}.npy"
    if not (blob.is_file() and blob.stat().st_size == len(data)):
        atomic_write_bytes(blob, data)
    with atomic_path(target) as tmp:
        try:
            os.link(blob, tmp)
        except OSError:  # a file system without hard links: a plain copy
            shutil.copyfile(blob, tmp)


def write_value(value: Any, base: Path, *, blobs: Path) -> Path:
    """Write ``value`` at ``base`` + the suffix of its format (see the module docstring), atomically,
    removing a copy of the partition in another format; return the path written."""
    suffix = _suffix_for(value)
    target = base.with_name(base.name + suffix)
    for other in SUFFIXES:
        if other != suffix:
            _remove(base.with_name(base.name + other))
    if suffix == ".ref.json":
        atomic_write_json(target, {"kind": record_kind(value), **value.to_json()})
    elif suffix == ".parquet":
        with atomic_path(target) as tmp:
            value.write_parquet(tmp)
    elif suffix == ".npy":
        _write_array(value, target, blobs)
    elif suffix == ".dataset":
        value.save(target)
    else:
        atomic_write_bytes(target, cloudpickle.dumps(value))
    return target


def read_value(base: Path, *, root: Path | None = None) -> Any:
    """Read what :func:`write_value` wrote at ``base``; ``FileNotFoundError`` when nothing is
    there. A record is bound to the engine workspace ``root``."""
    for suffix in SUFFIXES:
        path = base.with_name(base.name + suffix)
        if not path.exists():
            continue
        if suffix == ".ref.json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if root is None:
                raise DataError(f"{path}: a record names files of an engine workspace; pass its root.")
            return record_from_json(str(data.pop("kind", "")), data, Path(root), str(path))
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False)
        if suffix == ".dataset":
            return SpectroDataset.load(path)
        return cloudpickle.loads(path.read_bytes())
    raise FileNotFoundError(f"{base}: nothing stored (looked for {', '.join('*' + s for s in SUFFIXES)}).")


UNUSABLE = ".unusable.json"


def value_base(root: Path, asset_key: dg.AssetKey, partition_key: str | None) -> Path:
    """Where an asset partition's value lives under ``root``, without its format suffix."""
    base = Path(root).joinpath(*asset_key.path)
    if partition_key is None:
        return base / "__all__"
    if "|" in partition_key:  # a dataset × config key, "<config>|<dataset>" (dimensions sorted)
        dataset, config = split_result_key(partition_key)
        return base / dataset / config
    return base / partition_key


def _mark_path(nirs: NirsResource, asset_key: dg.AssetKey, partition_key: str | None) -> Path:
    base = value_base(nirs.dagster_path(), asset_key, partition_key)
    return base.with_name(base.name + UNUSABLE)


def mark_unusable(
    nirs: NirsResource, asset_key: dg.AssetKey, partition_key: str | None, check: str, reason: str
) -> None:
    """Mark the stored value unusable: its blocking check ``check`` failed for ``reason``."""
    atomic_write_bytes(
        _mark_path(nirs, asset_key, partition_key), json.dumps({"check": check, "reason": reason}).encode()
    )


def clear_unusable(nirs: NirsResource, asset_key: dg.AssetKey, partition_key: str | None) -> None:
    """Remove the mark of :func:`mark_unusable` (a new value, or its check passed)."""
    _mark_path(nirs, asset_key, partition_key).unlink(missing_ok=True)


def unusable_reason(nirs: NirsResource, asset_key: dg.AssetKey, partition_key: str | None) -> str | None:
    """Why the stored value is unusable, or None when it is not marked."""
    path = _mark_path(nirs, asset_key, partition_key)
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return f"its blocking check {data['check']} failed: {data['reason']}"


class NirsIOManager(dg.ConfigurableIOManager):
    """Stores asset values under ``<workspace>/dagster/`` (see the module docstring)."""

    nirs: NirsResource

    def _root(self) -> Path:
        return self.nirs.dagster_path()

    def _base(self, asset_key: dg.AssetKey, partition_key: str | None) -> Path:
        return value_base(self._root(), asset_key, partition_key)

    def _read_usable(self, asset_key: dg.AssetKey, partition_key: str | None) -> Any:
        reason = unusable_reason(self.nirs, asset_key, partition_key)
        if reason is not None:
            where = asset_key.to_user_string() + (f" [{partition_key}]" if partition_key else "")
            raise dg.Failure(
                description=f"{where}: not read, {reason}. Fix the cause and materialise it again.",
                allow_retries=False,
            )
        return read_value(self._base(asset_key, partition_key), root=self.nirs.workspace_path())

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        blobs = self._root() / "_blobs"
        key = context.asset_key
        if not context.has_asset_partitions:
            path = write_value(obj, self._base(key, None), blobs=blobs)
            clear_unusable(self.nirs, key, None)
            context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})
            return
        keys = [str(k) for k in context.asset_partition_keys]
        if len(keys) == 1 and not (isinstance(obj, Mapping) and set(map(str, obj)) == set(keys)):
            path = write_value(obj, self._base(key, keys[0]), blobs=blobs)
            clear_unusable(self.nirs, key, keys[0])
            context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})
            return
        if not isinstance(obj, Mapping):
            raise TypeError(
                f"{key.to_user_string()}: a run over {len(keys)} partitions must return a mapping "
                f"partition key → value; got {type(obj).__name__}."
            )
        values = {str(k): v for k, v in obj.items()}
        if set(values) != set(keys):
            missing, extra = sorted(set(keys) - set(values)), sorted(set(values) - set(keys))
            raise ValueError(
                f"{key.to_user_string()}: the returned mapping must hold one value per partition of the run; "
                f"missing {missing}, unexpected {extra}."
            )
        for k in keys:
            write_value(values[k], self._base(key, k), blobs=blobs)
            clear_unusable(self.nirs, key, k)
        context.add_output_metadata(
            {
                "partitions_written": len(keys),
                "folder": dg.MetadataValue.path(str(self._root().joinpath(*key.path))),
            }
        )

    def load_input(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        if not context.has_asset_partitions:
            return self._read_usable(key, None)
        keys = [str(k) for k in context.asset_partition_keys]
        allow_missing = bool((context.definition_metadata or {}).get("allow_missing_partitions"))
        if len(keys) == 1 and not allow_missing:
            return self._read_usable(key, keys[0])
        values = {}
        for k in keys:
            if allow_missing and unusable_reason(self.nirs, key, k) is not None:
                continue  # a value its blocking check refused is left out like a missing one
            try:
                values[k] = self._read_usable(key, k)
            except FileNotFoundError:
                if not allow_missing:
                    raise
        return values
