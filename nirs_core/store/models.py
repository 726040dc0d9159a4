"""The model registry of a workspace: the versions of each named model, its aliases and their
history. The store keeps what it is given; the use cases (register after training, promote
under the policy, roll back) are :mod:`nirs_core.app.models`.

A few files per model, under ``<workspace>/models/<name>/``::

    model.yaml           versions (bundle file, sha256, dataset identity, config, scores,
                         validation statistics, training run id, created_at), aliases
                         (``champion: 3``) and the history of every promotion and rollback
    versions/<n>.zip     the bundle of version n, a byte-for-byte copy of what training wrote

``model.yaml`` is rewritten atomically under the workspace lock ``model-<name>``; a version's
bundle is written (atomically) before ``model.yaml`` names it. A process killed at any point
leaves ``model.yaml`` old or new, never half written, and every version it lists has its bundle
with that sha256; a bundle not (yet) listed is overwritten by the next registration. Version
numbers are 1, 2, 3… and never reused.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from nirs_core.errors import ConfigError, NirsError
from nirs_core.names import check_name
from nirs_core.store._atomic import YAML_LOADER, atomic_write_bytes, atomic_write_yaml
from nirs_core.store.lock import DEFAULT_TIMEOUT, workspace_lock

__all__ = [
    "HistoryEntry",
    "ModelNotFoundError",
    "ModelRecord",
    "ModelRegistry",
    "ModelVersion",
    "current_user",
    "sha256_of",
]

REGISTRY_FORMAT = "nirs.models/1"
MODELS_DIR = "models"


class ModelNotFoundError(NirsError, LookupError):
    """No model, or no version, of that name or number in the registry: names what exists."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def current_user() -> str:
    """``user@host`` of this process, recorded as who registered, promoted or rolled back."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container): the uid says who
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ModelVersion:
    """One registered version. ``path`` is relative to the workspace root; ``scores`` holds the
    selection metric's ``cv`` and ``test`` values, ``validation`` the statistics per partition."""

    name: str
    version: int
    path: str
    sha256: str
    created_at: str
    registered_at: str = field(default_factory=_now)
    registered_by: str = field(default_factory=current_user)
    metric: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    training: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class HistoryEntry:
    """One alias change: ``action`` is ``promote`` or ``rollback``; ``from_version`` is None
    when the alias was unset."""

    at: str
    by: str
    action: str
    alias: str
    from_version: int | None
    to_version: int
    reason: str = ""
    forced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelRecord:
    """Everything ``model.yaml`` holds about one model."""

    name: str
    versions: list[ModelVersion] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)

    def version(self, number: int) -> ModelVersion:
        for v in self.versions:
            if v.version == number:
                return v
        raise ModelNotFoundError(
            f"model {self.name!r}: no version {number}; registered: {[v.version for v in self.versions] or 'none'}."
        )

    def holder(self, alias: str) -> ModelVersion | None:
        """The version that ``alias`` points to, or None when the alias is unset."""
        number = self.aliases.get(alias)
        return None if number is None else self.version(number)

    def aliases_of(self, number: int) -> list[str]:
        return sorted(a for a, v in self.aliases.items() if v == number)

    def holders(self, alias: str) -> list[int]:
        """The stack of the alias's holders replayed from the history: a promotion pushes, a
        rollback pops. The last element is the current holder; the one before it is where a
        rollback goes."""
        stack: list[int] = []
        for entry in self.history:
            if entry.alias != alias:
                continue
            if entry.action == "rollback":
                if stack:
                    stack.pop()
            else:
                stack.append(entry.to_version)
        return stack

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REGISTRY_FORMAT,
            "name": self.name,
            "aliases": dict(sorted(self.aliases.items())),
            "versions": [v.to_dict() for v in self.versions],
            "history": [h.to_dict() for h in self.history],
        }


class ModelRegistry:
    """The model registry under ``<root>/models`` of the workspace ``root``."""

    def __init__(self, root: str | os.PathLike[str], *, lock_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.root = Path(root).resolve()
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

    # -- paths

    @property
    def models_dir(self) -> Path:
        return self.root / MODELS_DIR

    def record_path(self, name: str) -> Path:
        return (
            self.models_dir
            / check_name(name, f"model registry {self.models_dir}", "model name")
            / "model.yaml"
        )

    def bundle_path(self, version: ModelVersion) -> Path:
        return self.root / version.path

    def names(self) -> list[str]:
        """The registered models, sorted."""
        if not self.models_dir.is_dir():
            return []
        return sorted(p.parent.name for p in self.models_dir.glob("*/model.yaml"))

    def stamp(self, name: str) -> tuple[int, int, int] | None:
        """``(inode, mtime_ns, size)`` of the model's ``model.yaml`` (None when absent): a cheap
        test of whether it changed, for a server that follows promotions (every change renames
        a new file over it, and the record only grows)."""
        try:
            st = self.record_path(name).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    # -- reading

    def read(self, name: str) -> ModelRecord:
        """The model's record; :class:`ModelNotFoundError` naming the registered models when absent."""
        path = self.record_path(name)
        if not path.is_file():
            raise ModelNotFoundError(
                f"{self.models_dir}: no model named {name!r}; registered: {self.names() or 'none'}."
            )
        return self._parse(path, name)

    def _parse(self, path: Path, name: str) -> ModelRecord:
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc}).") from None
        if not isinstance(data, dict) or data.get("format") != REGISTRY_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ConfigError(
                f"{path}: expected a model record of format {REGISTRY_FORMAT!r}; got {found!r}."
            )
        try:
            versions = [ModelVersion(**v) for v in data.get("versions") or []]
            history = [HistoryEntry(**h) for h in data.get("history") or []]
            aliases = {str(k): int(v) for k, v in (data.get("aliases") or {}).items()}
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: malformed model record ({exc}).") from None
        return ModelRecord(name=name, versions=versions, aliases=aliases, history=history)

    # -- changes

    @contextlib.contextmanager
    def transaction(self, name: str, *, create: bool = False) -> Iterator[ModelRecord]:
        """Hold the model's lock, yield its record for changes, and write it back atomically
        on a clean exit (an exception leaves the file as it was). ``create`` starts an empty
        record for a new model."""
        path = self.record_path(name)
        with workspace_lock(self.root, f"model-{name}", timeout=self.lock_timeout):
            if path.is_file():
                record = self._parse(path, name)
            elif create:
                record = ModelRecord(name=name)
            else:
                raise ModelNotFoundError(
                    f"{self.models_dir}: no model named {name!r}; registered: {self.names() or 'none'}."
                )
            yield record
            atomic_write_yaml(path, record.to_dict())

    def add_version(self, name: str, bundle: bytes, fields: Mapping[str, Any]) -> ModelVersion:
        """Register ``bundle`` (its bytes) as the next version of ``name`` with ``fields`` (the
        other :class:`ModelVersion` fields: ``created_at`` required, ``metric``, ``scores``,
        ``validation``, ``dataset``, ``config``, ``run_id``, ``training``)."""
        allowed = set(ModelVersion.__dataclass_fields__) - {"name", "version", "path", "sha256"}
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise ConfigError(
                f"ModelRegistry.add_version({name!r}): unexpected or reserved field(s) {unknown}."
            )
        if "created_at" not in fields:
            raise ConfigError(
                f"ModelRegistry.add_version({name!r}): 'created_at' (the bundle's) is required."
            )
        with self.transaction(name, create=True) as record:
            number = max((v.version for v in record.versions), default=0) + 1
            relative = Path(MODELS_DIR) / name / "versions" / f"{number}.zip"
            atomic_write_bytes(self.root / relative, bundle)
            version = ModelVersion(
                name=name, version=number, path=relative.as_posix(), sha256=sha256_of(bundle), **fields
            )
            record.versions.append(version)
        return version

    def check(self, name: str) -> list[str]:
        """What is wrong with the stored model (empty when nothing): a listed version whose
        bundle is missing or has another sha256, an alias pointing at no version."""
        record = self.read(name)
        problems = []
        for v in record.versions:
            path = self.bundle_path(v)
            if not path.is_file():
                problems.append(f"version {v.version}: bundle {v.path} is missing")
            elif sha256_of(path.read_bytes()) != v.sha256:
                problems.append(f"version {v.version}: bundle {v.path} does not hash to {v.sha256}")
        numbers = {v.version for v in record.versions}
        problems += [
            f"alias {a!r} points at version {n}, not registered"
            for a, n in record.aliases.items()
            if n not in numbers
        ]
        return problems
