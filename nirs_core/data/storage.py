"""The folder a SpectroDataset is saved as, and reading it back memory-mapped.

Format 2 (written)::

    dataset.json           name, identity, load_info, sources (file, name, processings,
                           axis), targets (names, task, classes, versions), compression
    source_<k>.npy         one per source, (physical rows, processings, features),
                           uncompressed so that loading memory-maps it without a copy
    index.parquet          the index table; targets.parquet (raw targets),
    metadata.parquet       predictions.parquet: compressed with the codec given to save
    target_versions.npz    the numeric target versions
    folds.json             folds as sample ids, and how they were made

Format 1 (read): the same files, with the ``regression`` target version named ``numeric``
and predictions in the columns ``model, fold, partition, sample, y_pred, y_true, scores``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nirs_core.data.features import FeatureSource
from nirs_core.data.predictions import PREDICTION_SCHEMA
from nirs_core.data.targets import LEGACY_VERSIONS
from nirs_core.data.wavelengths import Axis
from nirs_core.errors import DataError

__all__ = ["COMPRESSIONS", "FORMAT_VERSION", "READABLE_FORMATS", "load", "save"]

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
COMPRESSIONS = ("zstd", "lz4", "snappy", "gzip", "brotli", "uncompressed")


def save(ds, path: str | os.PathLike, *, compression: str = "zstd") -> Path:
    """Write ``ds`` to the folder ``path`` (replaced whole if it exists)."""
    if compression not in COMPRESSIONS:
        raise DataError(
            f"{ds.name}: save: compression must be one of {', '.join(COMPRESSIONS)}; got {compression!r}."
        )
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        _write(ds, tmp, compression)
        for f in tmp.iterdir():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _write(ds, tmp: Path, compression: str) -> None:
    sources_meta = []
    for k, s in enumerate(ds.features.sources):
        fname = f"source_{k}.npy"
        np.save(tmp / fname, np.ascontiguousarray(s.data), allow_pickle=False)
        sources_meta.append(
            {"file": fname, "name": s.name, "processings": s.processings, "axis": s.axis.to_dict()}
        )
    ds.index.write_parquet(tmp / "index.parquet", compression=compression)
    targets_meta = None
    t = ds.targets
    if t:
        t.raw.write_parquet(tmp / "targets.parquet", compression=compression)
        np.savez(tmp / "target_versions.npz", **t.versions)
        targets_meta = {
            "names": t.names,
            "task": t.task,
            "task_source": t.task_source,
            "classes": t.classes,
            "versions": list(t.versions),
        }
    if ds.metadata.table.width:
        ds.metadata.table.write_parquet(tmp / "metadata.parquet", compression=compression)
    ds.predictions.table.write_parquet(tmp / "predictions.parquet", compression=compression)
    (tmp / "folds.json").write_text(json.dumps({"folds": ds.folds.folds, "info": ds.folds.info}))
    info = {
        "format_version": FORMAT_VERSION,
        "name": ds.name,
        "path": None if ds.path is None else str(ds.path),
        "files": [str(f) for f in ds.files],
        "identity": ds._file_identity(),
        "load_info": ds.load_info,
        "version": ds.version,
        "compression": compression,
        "sources": sources_meta,
        "targets": targets_meta,
    }
    (tmp / "dataset.json").write_text(json.dumps(info, indent=1, default=str))


def load(cls, path: str | os.PathLike, *, mmap: bool = True):
    """A ``cls`` (SpectroDataset) read from a folder written by :func:`save`."""
    root = Path(path)
    info_file = root / "dataset.json"
    if not info_file.is_file():
        raise DataError(f"{root}: not a saved SpectroDataset (no dataset.json).")
    info = json.loads(info_file.read_text())
    fmt = info.get("format_version")
    if fmt not in READABLE_FORMATS:
        raise DataError(f"{info_file}: format_version {fmt!r}; this version reads {list(READABLE_FORMATS)}.")
    ds = cls(name=info["name"])
    features = ds.features
    for sm in info["sources"]:
        data = np.load(root / sm["file"], mmap_mode="r" if mmap else None, allow_pickle=False)
        features._sources.append(
            FeatureSource(sm["name"], data, list(sm["processings"]), Axis.from_dict(sm["axis"]))
        )
    features._install(pl.read_parquet(root / "index.parquet"))
    if info["targets"] is not None:
        _read_targets(ds.targets, root, info["targets"])
    if (root / "metadata.parquet").exists():
        ds.metadata.table = pl.read_parquet(root / "metadata.parquet")
    preds = pl.read_parquet(root / "predictions.parquet")
    ds.predictions.load_table(preds if fmt == FORMAT_VERSION else _predictions_v1(preds))
    folds = json.loads((root / "folds.json").read_text())
    ds.folds.folds = [(list(a), list(b)) for a, b in folds["folds"]]
    ds.folds.info = folds["info"]
    ds.path = None if info["path"] is None else Path(info["path"])
    ds.files = [Path(f) for f in info["files"]]
    ds._identity = info["identity"]
    ds.load_info = info["load_info"]
    ds.version = info["version"]
    return ds


def _read_targets(targets, root: Path, tm: dict[str, Any]) -> None:
    with np.load(root / "target_versions.npz", allow_pickle=False) as z:
        targets.versions = {LEGACY_VERSIONS.get(k, k): z[k] for k in tm["versions"]}
    targets.names = tm["names"]
    targets.raw = pl.read_parquet(root / "targets.parquet")
    targets.task = tm["task"]
    targets.task_source = tm["task_source"]
    targets.classes = tm["classes"]


def _predictions_v1(table: pl.DataFrame) -> pl.DataFrame:
    """Format 1 prediction blocks in the columns of format 2 (``y_true`` and ``scores`` kept)."""
    if table.height == 0:
        return pl.DataFrame(schema=PREDICTION_SCHEMA)
    return table.select(
        pl.col("sample").cast(pl.List(pl.Int64)),
        pl.col("model"),
        pl.col("fold"),
        pl.lit(0, dtype=pl.Int64).alias("repeat"),
        pl.col("partition"),
        pl.lit("regression").alias("processing"),
        pl.lit(None, dtype=pl.Int64).alias("seed"),
        pl.col("y_pred").alias("preds"),
        pl.lit(None, dtype=PREDICTION_SCHEMA["preds_raw"]).alias("preds_raw"),
        pl.col("y_true"),
        pl.col("scores"),
    )
