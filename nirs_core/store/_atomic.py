"""Atomic file writes: a reader, or a process killed half-way, sees the old file or the new one,
never a half-written file.

Every write goes to a temporary file in the target's own directory (so ``os.replace`` is a
rename within one file system), is flushed and fsynced, then renamed over the target; the
directory is fsynced after the rename so that the rename itself survives a power cut. A write
that fails removes its temporary file.

Many small files written together (a result's artefacts, graph and manifest) can share their
durability: inside :func:`synced_together`, writes are still atomic (temporary file, rename)
but skip their own fsyncs, and the block's exit makes them all durable at once (Linux
``syncfs`` on the file system that holds them: one call instead of two per file; elsewhere
each file and directory is fsynced then). A caller commits what depends on them (a
checkpoint) after the block, so a power cut never leaves a commit pointing at lost data. A write whose process is killed leaves its temporary
file behind under a recognisable name, ``.<name>.tmp-<pid>-<8 hex>``, which
:func:`cleanup_partial` removes later.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "atomic_write_yaml",
    "cleanup_partial",
    "is_partial_name",
    "synced_together",
]

_TMP_NAME = re.compile(r"^\.(?P<target>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]{8}$")


def _temp_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def is_partial_name(name: str) -> bool:
    """True when ``name`` is the name of a temporary file left by an atomic write."""
    return _TMP_NAME.match(name) is not None


def _fsync_directory(directory: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory for fsync; its rename is durable enough.
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# the files written inside the innermost synced_together() block (None outside any block)
_DEFERRED: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar(
    "nirs_deferred_sync", default=None
)


def _commit(tmp: Path, path: Path) -> None:
    deferred = _DEFERRED.get()
    if deferred is None:
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    else:
        os.replace(tmp, path)
        deferred.append(path)


def _syncfs(path: Path) -> bool:
    """Flush the file system holding ``path`` (Linux ``syncfs(2)``); False where unavailable."""
    if sys.platform != "linux":
        return False
    import ctypes

    func = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if func is None:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        return func(fd) == 0
    finally:
        os.close(fd)


@contextlib.contextmanager
def synced_together(root: str | os.PathLike[str]) -> Iterator[None]:
    """Atomic writes inside the block become durable together when it ends (see the module's
    docstring). ``root`` is a directory on the file system the writes go to. Blocks nest: an
    inner block's files are synced with the outer block's."""
    outer = _DEFERRED.get()
    if outer is not None:
        yield
        return
    written: list[Path] = []
    token = _DEFERRED.set(written)
    try:
        yield
    finally:
        _DEFERRED.reset(token)
    if written and not _syncfs(Path(root)):
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                _fsync_file(path)
        for directory in {p.parent for p in written}:
            _fsync_directory(directory)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit, fsync it (unless inside
    :func:`synced_together`) and rename it over ``path``; on an exception, remove it and
    re-raise.

    For writers that need a path rather than bytes (``pyarrow.parquet.write_table``,
    ``numpy.save``, ``zipfile``). The caller must create the file::

        with atomic_path("predictions/corn.parquet") as tmp:
            pq.write_table(table, tmp)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path_for(target)
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(
                f"atomic_path({target}): expected the caller to write the temporary file {tmp.name}; "
                "found no file there, so the target was left unchanged."
            )
        _commit(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path_for(target)
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
        _commit(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8 unless told); return the path."""
    return atomic_write_bytes(path, text.encode(encoding))


# libyaml's emitter and parser when PyYAML was built with them (the same YAML, several times
# faster); the pure-Python safe classes otherwise.
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def atomic_write_yaml(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as block-style YAML (keys in insertion order) atomically; return the path."""
    text = yaml.dump(data, Dumper=YAML_DUMPER, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return atomic_write_text(path, text)


def atomic_write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as strict JSON (no NaN) atomically; return the path."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def cleanup_partial(directory: str | os.PathLike[str], *, force: bool = False) -> list[Path]:
    """Remove the temporary files that interrupted atomic writes left under ``directory``
    (recursively) and return their paths, sorted.

    A temporary file whose writer (the pid in its name) is still alive on this machine is kept,
    since that writer is about to rename it; ``force=True`` removes it anyway (use only when no
    other process can be writing, e.g. on a copy of a workspace).
    """
    root = Path(directory)
    if not root.is_dir():
        raise NotADirectoryError(f"cleanup_partial: expected a directory; got {root} (not a directory).")
    removed: list[Path] = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            match = _TMP_NAME.match(name)
            if match is None:
                continue
            if not force and _pid_alive(int(match["pid"])):
                continue
            path = Path(dirpath) / name
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return sorted(removed)
