"""A bounded LRU cache of preprocessed arrays, shared by the configs of a batch.

Keys are processing hashes (:func:`processing_key`): the sha256 of the dataset's content
hash, the fit context (``"all"`` for stateless prefixes computed once on every row,
``"refit"``, or the split and fold for a cross-validation fit) and the canonical JSON of the
chain prefix. Values are immutable snapshots (arrays are made read-only before they are
stored); the cache counts every array it holds once (entries sharing an array share its
bytes) and evicts the least recently used entries to stay under ``max_bytes``. An entry
larger than the bound is not stored. Entries carry a tag (the executor's: the pipeline
prefix they belong to) so that a batch drops what none of its later configs needs.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from nirs_core.errors import ConfigError

__all__ = ["DEFAULT_MAX_BYTES", "PreprocessingCache", "array_bytes", "processing_key"]

DEFAULT_MAX_BYTES = 256 * 2**20


def processing_key(*parts: str) -> str:
    """sha256 hex digest of the parts, separated so that ``("ab", "c") != ("a", "bc")``."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def array_bytes(arrays: Iterable[Any]) -> int:
    """Bytes held by the distinct numpy arrays among ``arrays`` (views count their base once)."""
    seen: set[int] = set()
    total = 0
    for a in arrays:
        if not isinstance(a, np.ndarray):
            continue
        base = a if a.base is None or not isinstance(a.base, np.ndarray) else a.base
        if id(base) in seen:
            continue
        seen.add(id(base))
        total += int(base.nbytes)
    return total


class PreprocessingCache:
    """Bounded LRU of preprocessed arrays, keyed by processing hash.

    Parameters
    ----------
    max_bytes : int, default 256 MiB (:data:`DEFAULT_MAX_BYTES`)
        Upper bound of the array bytes held; least recently used entries go first. Every
        array an entry holds counts, once: entries that share an array (a lane and the
        dataset-wide result it slices) count it once, and it is released when the last of
        them goes. A fixed default rather than a multiple of the data: the cache lives
        beside the executor's working set (about one preprocessed copy of the calibration
        rows), so on a dataset of more than 256 MiB nothing of dataset size is kept and the
        executor computes per fit context instead; raise it to trade memory for time.

    Attributes
    ----------
    hits, misses, evictions : int
        Counters since construction (or :meth:`clear`).
    peak_bytes : int
        The largest number of bytes held at any time.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ConfigError(f"PreprocessingCache: max_bytes must be an integer ≥ 0; got {max_bytes!r}.")
        self.max_bytes = max_bytes
        # key -> (value, bases of its arrays by id, tag)
        self._entries: OrderedDict[str, tuple[Any, tuple[int, ...], str | None]] = OrderedDict()
        self._bases: dict[int, list[Any]] = {}  # id -> [array, number of entries holding it]
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.peak_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> Any | None:
        """The value stored under ``key`` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, key: str, value: Any, arrays: Iterable[np.ndarray], tag: str | None = None) -> bool:
        """Store ``value``, whose numpy data are ``arrays`` (made read-only). Returns False
        when the entry alone exceeds ``max_bytes`` (then nothing is stored). ``tag`` labels
        the entry for :meth:`drop`."""
        bases = _bases(arrays)
        if sum(int(b.nbytes) for b in bases.values()) > self.max_bytes:
            return False
        for a in arrays:
            if isinstance(a, np.ndarray) and a.flags.writeable and a.flags.owndata:
                a.flags.writeable = False
        if key in self._entries:
            self._remove(key)
        for i, base in bases.items():
            held = self._bases.get(i)
            if held is None:
                self._bases[i] = [base, 1]
                self.nbytes += int(base.nbytes)
            else:
                held[1] += 1
        self._entries[key] = (value, tuple(bases), tag)
        while self.nbytes > self.max_bytes:
            self._remove(next(iter(self._entries)))
            self.evictions += 1
        self.peak_bytes = max(self.peak_bytes, self.nbytes)
        return True

    def drop(self, keep: Callable[[str | None], bool]) -> int:
        """Remove the entries whose tag ``keep`` rejects; returns how many went."""
        gone = [k for k, (_, _, tag) in self._entries.items() if not keep(tag)]
        for k in gone:
            self._remove(k)
        return len(gone)

    def _remove(self, key: str) -> None:
        _, bases, _ = self._entries.pop(key)
        for i in bases:
            held = self._bases[i]
            held[1] -= 1
            if held[1] == 0:
                self.nbytes -= int(held[0].nbytes)
                del self._bases[i]

    def clear(self) -> None:
        self._entries.clear()
        self._bases.clear()
        self.nbytes = 0
        self.hits = self.misses = self.evictions = self.peak_bytes = 0

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._entries),
            "bytes": self.nbytes,
            "max_bytes": self.max_bytes,
            "peak_bytes": self.peak_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
        }


def _bases(arrays: Iterable[Any]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for a in arrays:
        if not isinstance(a, np.ndarray):
            continue
        base = a if a.base is None or not isinstance(a.base, np.ndarray) else a.base
        out.setdefault(id(base), base)
    return out
