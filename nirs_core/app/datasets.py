"""The datasets of a run: how each is given (a path, a folder of several, an in-memory
SpectroDataset saved into the workspace), loaded, registered in the workspace's dataset
registry under a unique name, and found again by content when a run resumes."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nirs_core.errors import ConfigError, DataError
from nirs_core.names import check_name, safe_name
from nirs_core.store.workspace import Workspace

DATASETS_DIR = "datasets"
_LOAD_OPTIONS = ("layout", "target", "group", "unit")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class DatasetSpec:
    """Where a dataset of the run comes from: a path, an optional name, loader options."""

    path: Path
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    origin: str = "path"  # "path" or "object" (saved into <workspace>/datasets/)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "options": dict(self.options),
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> DatasetSpec:
        if not isinstance(data, Mapping) or "path" not in data:
            raise ConfigError(f"{where}: info.datasets: expected mappings with a 'path'; got {data!r}.")
        return cls(
            path=Path(data["path"]),
            name=data.get("name"),
            options=dict(data.get("options") or {}),
            origin=str(data.get("origin", "path")),
        )


def _dataset_list(datasets: Any) -> list[Any]:
    if isinstance(datasets, (str, os.PathLike, Mapping)) or not isinstance(datasets, Sequence):
        return [datasets]
    items = list(datasets)
    if not items:
        raise ConfigError("run: datasets is empty; expected at least one dataset.")
    return items


def prepare_datasets(datasets: Any, ws: Workspace) -> list[DatasetSpec]:
    from nirs_core.data import SpectroDataset

    specs: list[DatasetSpec | SpectroDataset] = []
    for i, item in enumerate(_dataset_list(datasets)):
        where = f"datasets[{i}]"
        if isinstance(item, SpectroDataset):
            specs.append(item)  # saved once every path is known to be valid
            continue
        options: dict[str, Any] = {}
        name = None
        if isinstance(item, Mapping):
            unknown = sorted(set(item) - {"path", "name", *_LOAD_OPTIONS})
            if unknown or "path" not in item:
                raise ConfigError(
                    f"{where}: a dataset mapping holds 'path' and optionally 'name', "
                    f"{', '.join(map(repr, _LOAD_OPTIONS))}; got keys {sorted(item)}."
                )
            name = item.get("name")
            options = {k: item[k] for k in _LOAD_OPTIONS if item.get(k) is not None}
            item = item["path"]
        if not isinstance(item, (str, os.PathLike)):
            raise ConfigError(
                f"{where}: expected a path, a SpectroDataset or a mapping with 'path'; got {type(item).__name__}."
            )
        path = Path(item).expanduser()
        if not path.exists():
            raise DataError(f"{path}: data path not found ({where}); expected a dataset file or folder.")
        if name is not None:
            check_name(name, where)
        specs.append(DatasetSpec(path=path.resolve(), name=name, options=options))
    given = [s.name for s in specs if isinstance(s, DatasetSpec) and s.name is not None]
    duplicated = sorted({n for n in given if given.count(n) > 1})
    if duplicated:
        raise ConfigError(f"run: datasets: the name(s) {duplicated} are given to more than one dataset.")
    return [_save_object(s, ws) if isinstance(s, SpectroDataset) else s for s in specs]


def _safe_name(name: str) -> str:
    return safe_name(name) or "dataset"


def _save_object(ds: Any, ws: Workspace) -> DatasetSpec:
    """Save an in-memory dataset under ``<workspace>/datasets/<name>-<content hash>`` (once per
    content) so that the run can be resumed from disk."""
    name = _safe_name(ds.name)
    folder = ws.root / DATASETS_DIR / f"{name}-{ds.content_hash()[:12]}"
    if not (folder / "dataset.json").is_file():
        ds.save(folder)
    return DatasetSpec(path=folder, name=name, origin="object")


@dataclass
class LoadedDataset:
    name: str
    dataset: Any
    ref: dict[str, Any]


def read_specs(specs: Sequence[DatasetSpec]) -> list[tuple[str, Any]]:
    """``(label, SpectroDataset)`` of each spec, read without registering anything: what a run
    checks its configs against before it writes (:mod:`nirs_core.pipeline.preflight`).

    :func:`load_datasets` reads the files again rather than reuse these objects: the checks
    fill the dataset's row-selection cache, and a run on Dask that shipped such an object lost
    its tasks when a worker was killed (tests/pipeline/test_run_dask.py; why is not understood
    yet). A second read of the files is the safe choice until it is."""
    from nirs_core.data import load

    out = []
    for spec in specs:
        label = repr(spec.name) if spec.name is not None else f"{spec.path.name!r} ({spec.path})"
        out.append((label, load(spec.path, **spec.options)))
    return out


def _load_spec(ws: Workspace, spec: DatasetSpec) -> LoadedDataset:
    """Load ``spec``, then register it in the workspace registry (only data that loads is
    registered). Without an explicit name, the dataset is named after its file or folder, or,
    when that name already belongs to other content, after it and its sha256
    (``corn-1a2b3c4d``): new content is a new dataset, never a silent replacement."""
    from nirs_core.data import load

    if not spec.path.exists():
        raise DataError(f"{spec.path}: data path not found; expected a dataset file or folder.")
    ds = load(spec.path, **spec.options)
    if spec.name is None:  # the name is chosen under the registry's lock (no race between runs)
        default = _safe_name(spec.path.name if spec.path.is_dir() else spec.path.stem)
        entry = ws.datasets.register(spec.path, default, unique=True)
    else:
        entry = ws.datasets.register(spec.path, spec.name)
    return _with_entry(ds, entry, spec, spec.path)


def _with_entry(ds: Any, entry: Any, spec: DatasetSpec, path: Path) -> LoadedDataset:
    ds.name = entry.name
    ref = {
        "name": entry.name,
        "sha256": entry.sha256,
        "path": str(path),
        "kind": entry.kind,
        "size": entry.size,
        "origin": spec.origin,
        "options": dict(spec.options),
    }
    return LoadedDataset(entry.name, ds, ref)


def _resolve_ref(
    ws: Workspace, ref: Mapping[str, Any], spec: DatasetSpec, data_dirs: Sequence[Path], where: str
) -> LoadedDataset:
    """Find a dataset of a run again through the registry (by its sha256) and load it."""
    registered = Path(str(ref.get("path", "")))
    candidates = [d for d in (registered.parent, *data_dirs) if d.is_dir()]
    key = str(ref.get("sha256") or ref.get("name"))
    try:
        resolution = ws.datasets.resolve(key, candidates)
    except KeyError as exc:
        raise DataError(
            f"{where}: dataset {ref.get('name')!r} (sha256 {key[:12]}…) is not in the registry "
            f"{ws.datasets_path} ({exc.args[0]})."
        ) from None
    if not resolution.found:
        raise DataError(
            f"{where}: dataset {ref.get('name')!r} not found: {resolution.detail}. "
            "Pass the folder that now holds it (nirs resume … --data-dir DIR)."
        )
    from nirs_core.data import load

    return _with_entry(load(resolution.path, **spec.options), resolution.entry, spec, resolution.path)


def dataset_names(ws: Workspace, run_id: str) -> list[str]:
    path = ws.run_datasets_path(run_id)
    if path.is_file():
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
        return [str(d["name"]) for d in data.get("datasets", [])]
    return []


def load_datasets(
    ws: Workspace, run_id: str, specs: list[DatasetSpec], data_dirs: Sequence[Path]
) -> list[LoadedDataset]:
    refs_path = ws.run_datasets_path(run_id)
    if refs_path.is_file():  # a resumed run: find the datasets it used, by content
        data = yaml.load(refs_path.read_text(encoding="utf-8"), Loader=_Loader) or {}
        refs = data.get("datasets", [])
        if len(refs) != len(specs):
            raise ConfigError(
                f"{refs_path}: {len(refs)} datasets; expected {len(specs)} as in info.datasets of run.yaml."
            )
        loaded = [
            _resolve_ref(ws, ref, spec, data_dirs, f"{refs_path}: datasets[{i}]")
            for i, (ref, spec) in enumerate(zip(refs, specs))
        ]
        if [d.ref["path"] for d in loaded] != [r.get("path") for r in refs]:
            ws.write_run_datasets(run_id, [d.ref for d in loaded])
        return loaded
    loaded = [_load_spec(ws, spec) for spec in specs]
    names = [d.name for d in loaded]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(
            f"run: the datasets {duplicated} are given more than once (same content or same name); "
            "give each dataset once."
        )
    ws.write_run_datasets(run_id, [d.ref for d in loaded])
    return loaded
