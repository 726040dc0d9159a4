"""Pure numpy kernels of the sample-selection splitters (Kennard–Stone, SPXY, group folds).

No scikit-learn import: the functions take arrays and return index arrays, and the splitter
classes in this package are thin wrappers around them.
"""

from __future__ import annotations

import numpy as np

from nirs_core.errors import ConfigError

__all__ = [
    "METRICS",
    "balanced_group_folds",
    "distance_to_mean",
    "kennard_stone_folds",
    "kennard_stone_order",
    "most_distant_pair",
    "pairwise_distances",
    "spxy_distances",
    "standardize_columns",
]

METRICS = ("euclidean", "cityblock", "chebyshev")

_CHUNK = 256


def standardize_columns(X: np.ndarray) -> np.ndarray:
    """Drop the constant columns of ``X`` and scale the others to zero mean and unit variance
    (``ddof=0``), as the ``kennard_stone`` package does before measuring distances."""
    X = np.asarray(X, dtype=np.float64)
    std = X.std(axis=0)
    keep = std > 0.0
    return (X[:, keep] - X[:, keep].mean(axis=0)) / std[keep]


def pairwise_distances(X: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Symmetric ``(n, n)`` distance matrix between the rows of ``X``, zero diagonal.

    ``euclidean`` uses the Gram expansion ``|a|² + |b|² - 2 a·b`` (clipped at zero), the
    others are computed in row chunks to bound memory at ``256 × n × p`` floats.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    if metric == "euclidean":
        sq = np.einsum("ij,ij->i", X, X)
        D2 = -2.0 * (X @ X.T)
        D2 += sq[:, None]
        D2 += sq[None, :]
        np.maximum(D2, 0.0, out=D2)
        np.fill_diagonal(D2, 0.0)
        D = np.sqrt(D2)
        return np.maximum(D, D.T)  # exact symmetry whatever the rounding of the product
    if metric not in METRICS:
        raise ConfigError(f"pairwise_distances: metric must be one of {METRICS}; got {metric!r}.")
    D = np.empty((n, n))
    for start in range(0, n, _CHUNK):
        diff = np.abs(X[start : start + _CHUNK, None, :] - X[None, :, :])
        D[start : start + _CHUNK] = diff.sum(axis=2) if metric == "cityblock" else diff.max(axis=2)
    return D


def distance_to_mean(X: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Distance of each row of ``X`` to the mean row, in ``metric``."""
    X = np.asarray(X, dtype=np.float64)
    diff = np.abs(X - X.mean(axis=0))
    if metric == "euclidean":
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))
    if metric == "cityblock":
        return diff.sum(axis=1)
    if metric == "chebyshev":
        return diff.max(axis=1) if diff.shape[1] else np.zeros(diff.shape[0])
    raise ConfigError(f"distance_to_mean: metric must be one of {METRICS}; got {metric!r}.")


def spxy_distances(DX: np.ndarray, DY: np.ndarray) -> np.ndarray:
    """SPXY joint distance (Galvão et al., Talanta 67 (2005) 736–740): ``DX / max(DX) +
    DY / max(DY)``. A block whose maximum is zero (constant X or y) contributes nothing."""
    out = np.zeros_like(np.asarray(DX, dtype=np.float64))
    for D in (DX, DY):
        top = float(np.max(D)) if D.size else 0.0
        if top > 0.0:
            out += D / top
    return out


def most_distant_pair(D: np.ndarray) -> tuple[int, int]:
    """The pair ``(i, j)``, ``i < j``, of largest distance (first in row-major order on ties)."""
    D = np.asarray(D)
    if D.shape[0] < 2:
        return 0, 0
    upper = np.triu(D, k=1)
    flat = int(np.argmax(upper))
    i, j = divmod(flat, D.shape[0])
    return int(i), int(j)


def kennard_stone_order(D: np.ndarray, start: np.ndarray | list[int]) -> np.ndarray:
    """Kennard–Stone (max–min) selection order of all rows of the distance matrix ``D``.

    ``start`` holds the rows selected first (one row: the sample farthest from the mean, as the
    ``kennard_stone`` package does; two rows: the most distant pair, as Kennard & Stone 1969).
    Each next row is the one whose distance to its nearest selected row is largest; ties go to
    the lowest row index.
    """
    D = np.asarray(D, dtype=np.float64)
    n = D.shape[0]
    start = [int(s) for s in dict.fromkeys(int(s) for s in start)]
    order = np.empty(n, dtype=np.intp)
    order[: len(start)] = start
    taken = np.zeros(n, dtype=bool)
    taken[start] = True
    nearest = D[start].min(axis=0) if start else np.full(n, np.inf)
    for k in range(len(start), n):
        score = np.where(taken, -np.inf, nearest)
        nxt = int(np.argmax(score))
        order[k] = nxt
        taken[nxt] = True
        np.minimum(nearest, D[nxt], out=nearest)
    return order


def kennard_stone_folds(D: np.ndarray, seeds: np.ndarray | list[int]) -> list[np.ndarray]:
    """Grow ``len(seeds)`` Kennard–Stone designs in parallel, one per fold.

    Fold ``k`` starts from ``seeds[k]``. In each round, fold 0, 1, … in turn takes the free row
    farthest from its own nearest member (ties: lowest row index), until no row is left; so
    folds differ in size by at most one and the first ``n % n_folds`` folds are the larger.
    With two folds this equals ``kennard_stone.KFold(n_splits=2)``; from three folds on, that
    package starts fold ``k``'s search at its k-th farthest row, which we do not copy.

    Returns the member rows of each fold, in selection order.
    """
    D = np.asarray(D, dtype=np.float64)
    n = D.shape[0]
    seeds = [int(s) for s in seeds]
    g = len(seeds)
    taken = np.zeros(n, dtype=bool)
    taken[seeds] = True
    members: list[list[int]] = [[s] for s in seeds]
    nearest = D[seeds].copy()  # (g, n): distance of each row to the nearest member of each fold
    remaining = n - g
    while remaining > 0:
        for k in range(g):
            if remaining == 0:
                break
            score = np.where(taken, -np.inf, nearest[k])
            nxt = int(np.argmax(score))
            members[k].append(nxt)
            taken[nxt] = True
            remaining -= 1
            np.minimum(nearest[k], D[nxt], out=nearest[k])
    return [np.asarray(m, dtype=np.intp) for m in members]


def balanced_group_folds(codes: np.ndarray, n_splits: int, order: np.ndarray | None = None) -> np.ndarray:
    """Fold number of each sample such that every group stays in one fold and fold sizes are
    as even as a greedy assignment makes them.

    ``codes`` are integer group codes ``0..G-1`` per sample. Groups are visited by decreasing
    size (equal sizes: in ``order``, default ascending code) and each goes to the fold that
    holds the fewest samples so far (ties: lowest fold number).
    """
    codes = np.asarray(codes, dtype=np.intp)
    sizes = np.bincount(codes)
    visit = np.arange(sizes.size) if order is None else np.asarray(order, dtype=np.intp)
    visit = visit[np.argsort(-sizes[visit], kind="stable")]
    fold_of_group = np.empty(sizes.size, dtype=np.intp)
    load = np.zeros(n_splits, dtype=np.int64)
    for group in visit:
        f = int(np.argmin(load))
        fold_of_group[group] = f
        load[f] += sizes[group]
    return fold_of_group[codes]
