"""The identity of a dataset's files: one definition, used by the workspace registry
(:mod:`nirs_core.store.registry`) and reported by :meth:`SpectroDataset.get_metadata`.

Hashes. A file's *quick hash* is the sha256 of its size (8 bytes, little-endian), its first
64 KiB and its last 64 KiB (the whole file when it is smaller than 128 KiB); its *sha256* is
the sha256 of its bytes. A folder's hashes cover its files in sorted relative-path order, each
as ``relative/path`` (POSIX), NUL, size, NUL, then its quick hash (for the folder's quick hash)
or its content (for the folder's sha256); names starting with ``.`` (``.DS_Store``, temporary
files) are ignored, and a folder's size is the sum of its files' sizes.

The quick hash decides cheaply whether a file may have changed (the inbox sensor, the
registry's search for a moved dataset); the sha256 decides that it has not.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal

__all__ = ["QUICK_HASH_BYTES", "content_size", "full_hash", "identity", "kind_of", "quick_hash"]

QUICK_HASH_BYTES = 64 * 1024
_CHUNK = 1024 * 1024
Kind = Literal["file", "folder"]


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of the files of ``folder``, sorted, dot-names skipped."""
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            path = Path(dirpath) / name
            if not name.startswith(".") and path.is_file():
                files.append((path.relative_to(folder).as_posix(), path))
    return sorted(files)


def kind_of(path: Path) -> Kind:
    return "folder" if path.is_dir() else "file"


def content_size(path: str | os.PathLike[str]) -> int:
    """Bytes of a file, or of all the (non-dot) files of a folder."""
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for _, f in _folder_files(p))
    return p.stat().st_size


def _file_quick_hash(path: Path) -> bytes:
    size = path.stat().st_size
    digest = hashlib.sha256(size.to_bytes(8, "little"))
    with open(path, "rb") as handle:
        if size <= 2 * QUICK_HASH_BYTES:
            digest.update(handle.read())
        else:
            digest.update(handle.read(QUICK_HASH_BYTES))
            handle.seek(size - QUICK_HASH_BYTES)
            digest.update(handle.read(QUICK_HASH_BYTES))
    return digest.digest()


def _file_sha256(path: Path, digest: Any = None) -> Any:
    digest = hashlib.sha256() if digest is None else digest
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest


def _folder_digest(folder: Path, add_file: Any) -> str:
    """sha256 over the folder's files (sorted): name, NUL, size, NUL, then ``add_file(path,
    digest)``'s part."""
    digest = hashlib.sha256(b"folder\0")
    for rel, f in _folder_files(folder):
        digest.update(f"{rel}\0{f.stat().st_size}\0".encode())
        add_file(f, digest)
    return digest.hexdigest()


def quick_hash(path: str | os.PathLike[str]) -> str:
    """Hex quick hash of a file or folder (see the module docstring)."""
    p = Path(path)
    if not p.is_dir():
        return _file_quick_hash(p).hex()
    return _folder_digest(p, lambda f, digest: digest.update(_file_quick_hash(f)))


def full_hash(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, or of a folder's files with their relative names."""
    p = Path(path)
    if not p.is_dir():
        return _file_sha256(p).hexdigest()
    return _folder_digest(p, _file_sha256)


def identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"sha256", "quick_hash", "size", "kind"}`` of a file or folder."""
    p = Path(path)
    return {"sha256": full_hash(p), "quick_hash": quick_hash(p), "size": content_size(p), "kind": kind_of(p)}
