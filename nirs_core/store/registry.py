"""The datasets registry, ``datasets.yaml`` at the root of a workspace.

A dataset's identity is its content (full sha256), not its path: when a file or folder moves,
:meth:`DatasetRegistry.resolve` finds it again and updates its path. Each entry holds the name
(unique; it names ``predictions/<name>.parquet``), the current path, the kind (``file`` or
``folder``), the size in bytes, a quick hash, the full sha256, a status (``active``, ``moved``
or ``missing``), the previous paths and timestamps.

Resolution of an entry, cheapest test first:

1. the registered path exists, has the registered kind and size and the same quick hash (and,
   with ``verify=True``, the same sha256) → ``found`` (status ``active``);
2. otherwise, in each candidate directory (searched recursively), the files (or folders) of
   the registered size, then among them those of the same quick hash, then the first of those
   whose full sha256 matches → ``moved`` (path updated, old path kept in ``previous_paths``);
3. otherwise → ``missing`` (the entry stays, marked missing).

Hashes: :mod:`nirs_core.data.identity` (the one definition of a dataset's identity, which
:meth:`SpectroDataset.get_metadata` reports too).

Every change is written atomically under the workspace lock ``datasets``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from nirs_core.data.identity import QUICK_HASH_BYTES, Kind, content_size, full_hash, kind_of, quick_hash
from nirs_core.errors import ConfigError
from nirs_core.store._atomic import YAML_LOADER, atomic_write_yaml
from nirs_core.store.lock import DEFAULT_TIMEOUT, workspace_lock

__all__ = [
    "QUICK_HASH_BYTES",
    "DatasetEntry",
    "DatasetRegistry",
    "Resolution",
    "content_size",
    "full_hash",
    "quick_hash",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
REGISTRY_VERSION = 1
Status = Literal["active", "moved", "missing"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- entries


@dataclass
class DatasetEntry:
    """One registered dataset."""

    name: str
    path: str
    kind: Kind
    size: int
    quick_hash: str
    sha256: str
    status: Status = "active"
    registered_at: str = field(default_factory=_now)
    checked_at: str = field(default_factory=_now)
    previous_paths: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Resolution:
    """The outcome of :meth:`DatasetRegistry.resolve`: ``stage`` is ``found`` (at its path),
    ``moved`` (found elsewhere, entry updated) or ``missing``; ``detail`` says why."""

    entry: DatasetEntry
    stage: Literal["found", "moved", "missing"]
    path: Path | None
    detail: str

    @property
    def found(self) -> bool:
        return self.path is not None


class DatasetRegistry:
    """The registry file ``<root>/datasets.yaml`` of the workspace ``root``."""

    def __init__(self, root: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.root = Path(root)
        self.path = self.root / "datasets.yaml"
        self.lock_timeout = lock_timeout

    # -- file

    def _lock(self):
        return workspace_lock(self.root, "datasets", timeout=self.lock_timeout)

    def _load(self) -> dict[str, DatasetEntry]:
        if not self.path.exists():
            return {}
        try:
            data = yaml.load(self.path.read_text(encoding="utf-8"), Loader=YAML_LOADER) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{self.path}: not valid YAML ({exc}).") from None
        if not isinstance(data, dict) or not isinstance(data.get("datasets", []), list):
            raise ConfigError(
                f"{self.path}: expected a mapping with a 'datasets' list; got {type(data).__name__}."
            )
        entries = {}
        for i, raw in enumerate(data.get("datasets", [])):
            try:
                entry = DatasetEntry(**raw)
            except TypeError as exc:
                raise ConfigError(f"{self.path}: datasets[{i}]: malformed entry ({exc}).") from None
            entries[entry.name] = entry
        return entries

    def _save(self, entries: dict[str, DatasetEntry]) -> None:
        atomic_write_yaml(
            self.path,
            {"version": REGISTRY_VERSION, "datasets": [entries[n].to_dict() for n in sorted(entries)]},
        )

    # -- queries

    def entries(self) -> list[DatasetEntry]:
        """All entries, sorted by name."""
        entries = self._load()
        return [entries[n] for n in sorted(entries)]

    def __iter__(self) -> Iterator[DatasetEntry]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    def get(self, key: str) -> DatasetEntry:
        """The entry named ``key``, or whose sha256 is ``key`` (or starts with it, ≥ 8 hex)."""
        return self._find(self._load(), key)

    def _find(self, entries: dict[str, DatasetEntry], key: str) -> DatasetEntry:
        if key in entries:
            return entries[key]
        if len(key) >= 8:
            matches = [e for e in entries.values() if e.sha256.startswith(key)]
            if len(matches) == 1:
                return matches[0]
        raise KeyError(
            f"{self.path}: no dataset named {key!r} (or with that sha256 prefix); "
            f"registered: {sorted(entries) or 'none'}."
        )

    # -- changes

    def register(
        self, path: str | os.PathLike[str], name: str | None = None, *, unique: bool = False
    ) -> DatasetEntry:
        """Register the file or folder ``path`` under ``name`` (default: the file's stem or
        the folder's name) and return its entry. Registering content that is already
        registered returns that entry (its path updated if it moved); a name already taken by
        other content raises :class:`ConfigError`, or, with ``unique=True`` (``name`` is only a
        preference), registers it as ``<name>-<sha256 prefix>``: the choice is made under the
        registry's lock, so two processes registering two folders of the same name never race."""
        source = Path(path).resolve()
        if not source.exists():
            raise FileNotFoundError(f"{self.path}: cannot register {source}: no such file or folder.")
        explicit = name is not None and not unique
        name = name or (source.name if source.is_dir() else source.stem)
        if not _NAME.match(name):
            raise ConfigError(
                f"{self.path}: dataset name must match {_NAME.pattern} (it names files); got {name!r}."
            )
        sha = full_hash(source)
        candidate = DatasetEntry(
            name=name,
            path=str(source),
            kind=kind_of(source),
            size=content_size(source),
            quick_hash=quick_hash(source),
            sha256=sha,
        )
        with self._lock():
            entries = self._load()
            same = next((e for e in entries.values() if e.sha256 == sha), None)
            if same is not None and explicit and same.name != name:
                raise ConfigError(
                    f"{self.path}: the content of {source} (sha256 {sha[:12]}…) is already registered "
                    f"as {same.name!r}; got the name {name!r}. Use {same.name!r}."
                )
            if same is not None:
                if same.path != candidate.path:
                    same.previous_paths.append(same.path)
                    same.path = candidate.path
                same.status, same.checked_at = "active", _now()
                self._save(entries)
                return same
            taken = entries.get(name)
            if taken is not None and unique:
                name = candidate.name = f"{name}-{sha[:8]}"
                taken = entries.get(name)
            if taken is not None:
                raise ConfigError(
                    f"{self.path}: dataset name {name!r} is registered for other content "
                    f"(sha256 {taken.sha256[:12]}…, {taken.path}); got {source} (sha256 {sha[:12]}…). "
                    "Register it under another name."
                )
            entries[name] = candidate
            self._save(entries)
            return candidate

    def remove(self, name: str) -> DatasetEntry:
        """Forget the dataset ``name`` (its files are not touched); return its entry."""
        with self._lock():
            entries = self._load()
            entry = self._find(entries, name)
            del entries[entry.name]
            self._save(entries)
            return entry

    def resolve(
        self, key: str, candidates: Iterable[str | os.PathLike[str]] = (), *, verify: bool = False
    ) -> Resolution:
        """Find the dataset ``key`` (name or sha256) on disk, following the stages of the
        module docstring, record the outcome in the registry and return it. With ``verify``,
        a file at its registered path must also match the full sha256 (catches an edit that
        keeps the size and spares the first and last 64 KiB, at the cost of reading it all)."""
        with self._lock():
            entries = self._load()
            entry = self._find(entries, key)
            resolution = _resolve(entry, [Path(c) for c in candidates], verify)
            entry.checked_at = _now()
            if resolution.stage == "found":
                entry.status = "active"
            elif resolution.stage == "moved":
                entry.previous_paths.append(entry.path)
                entry.path = str(resolution.path)
                entry.status = "moved"
            else:
                entry.status = "missing"
            self._save(entries)
            return Resolution(entry, resolution.stage, resolution.path, resolution.detail)


def _matches_at(entry: DatasetEntry, path: Path, verify: bool) -> str | None:
    """None when ``path`` holds the entry's content by kind, size and quick hash (and full
    hash with ``verify``); else why not."""
    if not path.exists():
        return f"{path} does not exist"
    if kind_of(path) != entry.kind:
        return f"{path} is a {kind_of(path)}, expected a {entry.kind}"
    size = content_size(path)
    if size != entry.size:
        return f"{path} has {size} bytes, expected {entry.size}"
    if quick_hash(path) != entry.quick_hash:
        return f"{path} has the right size but another quick hash (modified)"
    if verify and full_hash(path) != entry.sha256:
        return f"{path} has the right size and quick hash but another sha256 (modified)"
    return None


def _sized_candidates(entry: DatasetEntry, directory: Path) -> list[Path]:
    """Files (or folders) under ``directory`` whose size equals the entry's, sorted."""
    found: list[Path] = []
    if entry.kind == "file":
        for dirpath, dirnames, filenames in os.walk(directory):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                path = Path(dirpath) / name
                if not name.startswith(".") and path.is_file() and path.stat().st_size == entry.size:
                    found.append(path)
        return sorted(found)
    totals: dict[Path, int] = {}
    for dirpath, dirnames, filenames in os.walk(directory, topdown=False):
        here = Path(dirpath)
        if any(part.startswith(".") for part in here.relative_to(directory).parts):
            continue
        total = sum(
            (here / n).stat().st_size for n in filenames if not n.startswith(".") and (here / n).is_file()
        )
        total += sum(totals.get(here / d, 0) for d in dirnames if not d.startswith("."))
        totals[here] = total
        if total == entry.size:
            found.append(here)
    return sorted(found)


def _resolve(entry: DatasetEntry, candidates: list[Path], verify: bool) -> Resolution:
    why = _matches_at(entry, Path(entry.path), verify)
    if why is None:
        return Resolution(entry, "found", Path(entry.path), f"found at its registered path {entry.path}")
    searched = []
    for directory in candidates:
        if not directory.is_dir():
            searched.append(f"{directory} (not a directory)")
            continue
        searched.append(str(directory))
        sized = [p for p in _sized_candidates(entry, directory) if p.resolve() != Path(entry.path)]
        quick = [p for p in sized if quick_hash(p) == entry.quick_hash]
        for path in quick:
            if full_hash(path) == entry.sha256:
                return Resolution(
                    entry,
                    "moved",
                    path.resolve(),
                    f"{why}; found at {path.resolve()} in {directory} "
                    f"({len(sized)} of the same size, {len(quick)} of the same quick hash, sha256 equal)",
                )
    where = ", ".join(searched) if searched else "no candidate directories given"
    return Resolution(entry, "missing", None, f"{why}; not found by size and hash in {where}")
