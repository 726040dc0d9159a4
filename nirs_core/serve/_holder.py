"""The model a server answers with, and how it follows the registry.

A :class:`ModelHolder` serves either the version an alias of a registered model points to
(``--workspace WS --model NAME --alias champion``) or one bundle file (``MODEL_PATH``). It
checks at most every ``check_interval`` seconds whether the registry's ``model.yaml`` (or the
bundle file) changed — one ``stat`` — and, when the alias now points elsewhere, opens the new
version (sha256 against the registry, then :func:`~nirs_core.store.bundle.open_bundle`:
signature and hashes), warms it up and swaps it in; requests in flight finish on the old one.
A version that fails to load is not swapped in: the previous one keeps serving and
``last_error`` says why.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nirs_core.app.models import DEFAULT_ALIAS, open_version
from nirs_core.app.predict import predict_table
from nirs_core.errors import ConfigError, NirsError
from nirs_core.store.bundle import Bundle, open_bundle
from nirs_core.store.models import ModelRegistry, ModelVersion

__all__ = ["LoadedModel", "ModelHolder"]


@dataclass(frozen=True)
class LoadedModel:
    """One opened, verified, warmed-up bundle and what ``/models/current`` says about it."""

    name: str
    version: int | None
    sha256: str
    bundle: Bundle
    entry: ModelVersion | None
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    def describe(self) -> dict[str, Any]:
        """What ``GET /models/current`` returns (a copy of the cached description)."""
        return dict(self._description)

    @functools.cached_property
    def _description(self) -> dict[str, Any]:
        info = self.bundle.info
        sheet = self.bundle.datasheet() or {}
        validation = self.entry.validation if self.entry is not None and self.entry.validation else None
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "created_at": info.get("created_at"),
            "loaded_at": self.loaded_at,
            "config": {
                "config_id": info.get("config_id"),
                "config_name": info.get("config_name"),
                "canonical_json": (sheet.get("config") or {}).get("canonical_json"),
                "choices": (sheet.get("config") or {}).get("choices"),
            },
            "targets": self.bundle.targets,
            "task": self.bundle.task,
            "input": {
                "n_sources": self.bundle.input.get("n_sources"),
                "n_features": self.bundle.input.get("n_features"),
            },
            "validation": validation
            or {"metric": info.get("metric"), "cv": info.get("cv_score"), "test": info.get("test_score")},
        }


def _warm_up(bundle: Bundle) -> None:
    """Replay one synthetic spectrum per source: imports every kernel and unpacks every state
    before the first request."""
    spectra = [np.linspace(0.5, 1.5, int(s["n_features"])) for s in bundle.input["sources"]]
    with np.errstate(all="ignore"):
        predict_table(bundle, spectra[0] if len(spectra) == 1 else spectra)


class ModelHolder:
    """The current model of a server (see the module docstring)."""

    def __init__(
        self,
        *,
        workspace: str | os.PathLike[str] | None = None,
        model: str | None = None,
        alias: str = DEFAULT_ALIAS,
        model_path: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
        public_key: Any = None,
        trust_unsigned: bool = False,
        allow_pickle: bool = False,
        check_interval: float = 0.25,
    ) -> None:
        if model_path is None and (workspace is None or model is None):
            raise ConfigError(
                "nirs serve: expected --workspace WS --model NAME (a registered model) or $MODEL_PATH "
                f"(a bundle file); got workspace={workspace!r}, model={model!r} and no MODEL_PATH."
            )
        if model_path is not None and model is not None:
            raise ConfigError(
                f"nirs serve: got both $MODEL_PATH ({model_path}) and --model {model}; serve one of them."
            )
        self.workspace = None if workspace is None else Path(workspace)
        self.model, self.alias = model, alias
        self.model_path = None if model_path is None else Path(model_path)
        self.options = {
            "key_file": key_file,
            "public_key": public_key,
            "trust_unsigned": trust_unsigned,
            "allow_pickle": allow_pickle,
        }
        self.check_interval = check_interval
        self.registry = None if self.workspace is None else ModelRegistry(self.workspace)
        self.last_error: str | None = None
        self.reloads = 0
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp: Any = None
        self._current: LoadedModel | None = None

    @property
    def served(self) -> LoadedModel | None:
        """The model answering now, without checking for a change (None before :meth:`load`)."""
        return self._current

    @property
    def follows_registry(self) -> bool:
        return self.model_path is None

    def _read_stamp(self) -> Any:
        if self.model_path is not None:
            try:
                st = self.model_path.stat()
            except FileNotFoundError:
                return None
            return (st.st_ino, st.st_mtime_ns, st.st_size)
        return self.registry.stamp(self.model)

    def _open(self) -> LoadedModel:
        if self.model_path is not None:
            data = self.model_path.read_bytes()
            bundle = open_bundle(self.model_path, **self.options)
            name = str(bundle.info.get("name") or self.model_path.stem)
            loaded = LoadedModel(name, None, hashlib.sha256(data).hexdigest(), bundle, None)
        else:
            entry, bundle = open_version(self.workspace, self.model, alias=self.alias, **self.options)
            loaded = LoadedModel(self.model, entry.version, entry.sha256, bundle, entry)
        _warm_up(loaded.bundle)
        return loaded

    def load(self) -> LoadedModel:
        """Open, verify and warm up the model to serve now; errors propagate (a server that
        cannot load its model at start does not start)."""
        with self._lock:
            stamp = self._read_stamp()
            self._current = self._open()
            self._stamp, self._checked = stamp, time.monotonic()
            return self._current

    def current(self) -> LoadedModel:
        """The model to answer with, reloaded first when the registry (or file) changed. While
        another thread is loading a new version, requests go on with the current one."""
        now = time.monotonic()
        if now - self._checked >= self.check_interval and self._lock.acquire(blocking=False):
            try:
                self._refresh(now, force=False)
            finally:
                self._lock.release()
        return self._current

    def refresh(self, *, force: bool = False) -> bool:
        """Reload now when the registry or file changed (``force``: re-read the registry even
        when the file looks unchanged); True when another version was swapped in."""
        with self._lock:
            return self._refresh(time.monotonic(), force=force)

    def _refresh(self, now: float, *, force: bool) -> bool:
        self._checked = now
        stamp = self._read_stamp()
        if stamp == self._stamp and not force:
            return False
        previous = self._current
        try:
            loaded = self._same_or_new(previous)
        except (NirsError, OSError, ValueError, LookupError) as exc:  # keep the previous one; say why
            self.last_error = f"{type(exc).__name__}: {exc}"
            print(f"nirs serve: not reloading: {self.last_error}", file=sys.stderr, flush=True)
            self._stamp = stamp
            return False
        self._stamp, self.last_error = stamp, None
        if loaded is previous:
            return False
        self._current = loaded
        self.reloads += 1
        return True

    def _same_or_new(self, previous: LoadedModel | None) -> LoadedModel:
        if self.follows_registry and previous is not None:
            holder = self.registry.read(self.model).holder(self.alias)
            if holder is not None and holder.version == previous.version and holder.sha256 == previous.sha256:
                return previous
        return self._open()
