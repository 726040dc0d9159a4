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
import functools
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
    "cleanup_partial_of",
    "dump_yaml",
    "is_partial_name",
    "pid_alive",
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


@functools.cache
def _syncfs_function() -> Any:
    """libc's ``syncfs`` (Linux), or None."""
    if sys.platform != "linux":
        return None
    import ctypes

    return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)


def _syncfs(path: Path) -> bool:
    """Flush the file system holding ``path`` (Linux ``syncfs(2)``); False where unavailable."""
    func = _syncfs_function()
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
    tmp = _temp_path_for(target)
    try:
        try:
            handle = open(tmp, "xb")
        except FileNotFoundError:  # the folder is new (checked only then: one syscall less)
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = open(tmp, "xb")
        with handle:
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


# Plain data (mappings with string keys, lists, str, int, float, bool, None) is emitted here
# directly: PyYAML's representer is pure Python and dominated the cost of storing a run's small
# files. Strings that YAML 1.1 would read as anything but the same string (numbers, dates,
# yes/no, null, anything with ':' or '#', leading or trailing spaces…) are written as JSON
# double-quoted strings, which YAML reads verbatim; floats carry a '.' as YAML 1.1 requires.
# Anything else (a tuple, a numpy scalar, a non-string key) goes to PyYAML unchanged.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*(?: [A-Za-z0-9_./()-]+)*")
_YAML11_WORDS = frozenset(
    "y yes n no true false on off null".split()
)  # compared lower-cased: each spelling YAML 1.1 reads as a bool or null


class _NotPlain(TypeError):
    pass


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "." not in text:  # 1e-05 -> 1.0e-05 (YAML 1.1 floats need a dot)
            mantissa, _, exponent = text.partition("e")
            text = f"{mantissa}.0" + (f"e{exponent}" if exponent else "")
        return text
    if type(value) is str:
        if _PLAIN.fullmatch(value) and value.lower() not in _YAML11_WORDS:
            return value
        # non-printable characters (line breaks, U+2028, a BOM…) as \u escapes: YAML would
        # fold or strip some of them inside quotes
        return json.dumps(value, ensure_ascii=not value.isprintable())
    raise _NotPlain(type(value).__name__)


def _yaml_lines(value: Any, indent: str, out: list[str], prefix: str) -> None:
    """Append the block-style lines of ``value``; ``prefix`` starts its first line."""
    if type(value) is dict and value:
        first = True
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain("key")
            lead = prefix if first else indent
            first = False
            name = _yaml_scalar(key)
            if (type(item) is dict or type(item) is list) and item:
                out.append(f"{lead}{name}:")
                _yaml_lines(
                    item,
                    indent + ("  " if type(item) is dict else ""),
                    out,
                    indent + ("  " if type(item) is dict else ""),
                )
            else:
                out.append(f"{lead}{name}: {_yaml_empty_or_scalar(item)}")
    elif type(value) is list and value:
        first = True
        for item in value:
            lead = prefix if first else indent
            first = False
            if (type(item) is dict or type(item) is list) and item:
                _yaml_lines(item, indent + "  ", out, lead + "- ")
            else:
                out.append(f"{lead}- {_yaml_empty_or_scalar(item)}")
    else:
        out.append(f"{prefix}{_yaml_empty_or_scalar(value)}")


def _yaml_empty_or_scalar(value: Any) -> str:
    if type(value) is dict:
        return "{}"
    if type(value) is list:
        return "[]"
    return _yaml_scalar(value)


def dump_yaml(data: Any) -> str:
    """``data`` as block-style YAML, keys in insertion order (see the note above)."""
    try:
        lines: list[str] = []
        _yaml_lines(data, "", lines, "")
        return "\n".join(lines) + "\n"
    except _NotPlain:
        return yaml.dump(
            data, Dumper=YAML_DUMPER, sort_keys=False, allow_unicode=True, default_flow_style=False
        )


def atomic_write_yaml(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as block-style YAML (keys in insertion order) atomically; return the path."""
    return atomic_write_text(path, dump_yaml(data))


def atomic_write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2) -> Path:
    """Write ``data`` as strict JSON (no NaN) atomically; return the path."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this machine (ours included)."""
    return _pid_alive(pid)


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


def cleanup_partial_of(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files that interrupted atomic writes of ``path`` (one target, in its
    folder only, not recursively) left behind, when their writer is dead; return them."""
    target = Path(path)
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
    for candidate in target.parent.glob(f".{_glob_escape(target.name)}.tmp-*"):
        match = _TMP_NAME.match(candidate.name)
        if match is None or match["target"] != target.name or _pid_alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
    return sorted(removed)


def _glob_escape(name: str) -> str:
    """``name`` with the glob metacharacters escaped."""
    import glob

    return glob.escape(name)
