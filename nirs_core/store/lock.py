"""Inter-process locks for a workspace.

A lock is an OS lock (``flock`` through the ``filelock`` package) on a small file: the kernel
releases it when its holder dies, even by SIGKILL, so a crashed run never leaves a workspace
locked. Beside the lock file, the holder writes ``<lock>.holder`` (pid, host, since, command)
so that a process that times out can say who holds the lock.

Locks are re-entrant within a thread (a function that holds the ``datasets`` lock may call
another that takes it again) and exclusive between threads and processes.

- :func:`workspace_lock` — a named lock of a workspace: ``<root>/.locks/<name>.lock``.
- :func:`file_lock` — the lock of one file, ``.<file name>.lock`` beside it; every writer of
  that file takes it (``predictions/<dataset>.parquet`` is appended to under it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock
from filelock import Timeout as _FileLockTimeout

from nirs_core.errors import ConfigError, NirsError
from nirs_core.store._atomic import atomic_write_json

__all__ = ["DEFAULT_TIMEOUT", "LockTimeoutError", "file_lock", "lock_holder", "workspace_lock"]

DEFAULT_TIMEOUT = 60.0
"""Seconds a writer waits for a lock before :class:`LockTimeoutError`."""

_LOCK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_registry_guard = threading.Lock()
_locks: dict[Path, FileLock] = {}
_depth = threading.local()


class LockTimeoutError(NirsError, TimeoutError):
    """A lock was not acquired in time: names the lock file and its holder when known."""


def _lock_for(lock_path: Path) -> FileLock:
    with _registry_guard:
        lock = _locks.get(lock_path)
        if lock is None:
            lock = FileLock(lock_path, timeout=-1, preserve_lock_file=True)
            _locks[lock_path] = lock
        return lock


def _holder_path(lock_path: Path) -> Path:
    return lock_path.with_name(lock_path.name + ".holder")


def lock_holder(lock_path: str | os.PathLike[str]) -> dict | None:
    """What the holder of ``lock_path`` wrote about itself (pid, host, since, command), or None
    when nobody recorded holding it (never taken, released, or the record is unreadable)."""
    try:
        return json.loads(_holder_path(Path(lock_path)).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _describe_holder(lock_path: Path) -> str:
    holder = lock_holder(lock_path)
    if holder is None:
        return "holder unknown"
    return (
        f"held by pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
        f" ({holder.get('command')})"
    )


@contextlib.contextmanager
def _hold(lock_path: Path, timeout: float, what: str) -> Iterator[Path]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock_for(lock_path)
    depths: dict[Path, int] = _depth.__dict__.setdefault("depths", {})
    try:
        lock.acquire(timeout=timeout, poll_interval=0.01)
    except _FileLockTimeout:
        raise LockTimeoutError(
            f"{what} {lock_path}: expected to acquire it within {timeout:g} s; "
            f"it is still locked, {_describe_holder(lock_path)}."
        ) from None
    depths[lock_path] = depths.get(lock_path, 0) + 1
    try:
        if depths[lock_path] == 1:
            atomic_write_json(
                _holder_path(lock_path),
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "thread": threading.current_thread().name,
                    "since": datetime.now(UTC).isoformat(timespec="seconds"),
                    "command": " ".join(sys.argv[:3]) or sys.executable,
                },
                indent=None,
            )
        yield lock_path
    finally:
        depths[lock_path] -= 1
        if depths[lock_path] == 0:
            del depths[lock_path]
            with contextlib.suppress(FileNotFoundError):
                _holder_path(lock_path).unlink()
        lock.release()


def workspace_lock(
    root: str | os.PathLike[str], name: str = "workspace", *, timeout: float = DEFAULT_TIMEOUT
) -> contextlib.AbstractContextManager[Path]:
    """Hold the workspace lock ``name`` (``<root>/.locks/<name>.lock``) for the ``with`` block;
    yields the lock file's path. Raises :class:`LockTimeoutError` after ``timeout`` seconds
    (``timeout=-1`` waits for ever)."""
    if not _LOCK_NAME.match(name):
        raise ConfigError(
            f"workspace_lock({root}): lock name must match {_LOCK_NAME.pattern} (a file name); got {name!r}."
        )
    lock_path = Path(root).resolve() / ".locks" / f"{name}.lock"
    return _hold(lock_path, timeout, f"workspace lock {name!r}")


def file_lock(
    path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT
) -> contextlib.AbstractContextManager[Path]:
    """Hold the lock of the file ``path`` (``.<name>.lock`` in the same directory) for the
    ``with`` block; every process that rewrites ``path`` takes it first."""
    target = Path(path).resolve()
    return _hold(target.with_name(f".{target.name}.lock"), timeout, f"lock of {target.name}")
