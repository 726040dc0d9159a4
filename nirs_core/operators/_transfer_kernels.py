"""Pure numpy kernels of calibration transfer (direct and piecewise direct standardisation).

A fitted transfer is an affine map ``X_slave @ F + b`` into the master instrument's space;
:func:`affine_map` is what a bundle replays. The fitting functions are here too (numpy only)
so that the maths reads in one place.
"""

from __future__ import annotations

import numpy as np

__all__ = ["affine_map", "ds_fit", "local_pls1", "pds_fit", "window_bounds"]


def affine_map(X: np.ndarray, F: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``X @ F + b``: slave spectra (n, p_slave) mapped to master space (n, p_master)."""
    return np.asarray(X, dtype=np.float64) @ F + b


def ds_fit(
    X_slave: np.ndarray,
    X_master: np.ndarray,
    *,
    rcond: float = 1e-10,
    rank: int | None = None,
    center: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Direct standardisation (Wang, Veltkamp & Kowalski, Anal. Chem. 63 (1991) 2750):
    ``F = pinv(S) M`` over the paired transfer spectra (centred when ``center``), with the
    pseudo-inverse truncated to the singular values above ``rcond × s_max`` and, if given, to
    the first ``rank`` of them. Returns ``(F (p_slave, p_master), b (p_master,))``."""
    S = np.asarray(X_slave, dtype=np.float64)
    M = np.asarray(X_master, dtype=np.float64)
    s_mean = S.mean(axis=0) if center else np.zeros(S.shape[1])
    m_mean = M.mean(axis=0) if center else np.zeros(M.shape[1])
    U, s, Vt = np.linalg.svd(S - s_mean, full_matrices=False)
    keep = s > rcond * (s[0] if s.size else 0.0)
    if rank is not None:
        keep[rank:] = False
    k = int(keep.sum())
    F = (Vt[:k].T / s[:k]) @ (U[:, :k].T @ (M - m_mean))
    return F, m_mean - s_mean @ F


def window_bounds(n_master: int, n_slave: int, half_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Slave channel window ``[lo, hi)`` of each master channel. Master channel ``j`` is centred
    on the slave channel at the same relative position, ``round((j + ½) p_slave / p_master - ½)``
    (channel ``j`` itself when both have the same channels); windows are clipped at the ends."""
    j = np.arange(n_master)
    centre = np.rint((j + 0.5) * n_slave / n_master - 0.5).astype(np.intp)
    lo = np.clip(centre - half_width, 0, n_slave)
    hi = np.clip(centre + half_width + 1, 0, n_slave)
    return lo, hi


def local_pls1(Z: np.ndarray, m: np.ndarray, n_components: int) -> np.ndarray:
    """Regression vector of a PLS1 (NIPALS, centred inputs) of ``m`` on the columns of ``Z``
    with ``n_components`` latent variables; zeros where ``Z`` carries no more variance."""
    Z = Z.copy()
    m = m.copy()
    p = Z.shape[1]
    W, P, q = [], [], []
    for _ in range(n_components):
        w = Z.T @ m
        norm = np.linalg.norm(w)
        if norm <= 1e-12 * max(1.0, np.abs(Z).max(initial=0.0)):
            break
        w /= norm
        t = Z @ w
        tt = t @ t
        if tt == 0.0:
            break
        p_a = Z.T @ t / tt
        q_a = m @ t / tt
        Z -= np.outer(t, p_a)
        m = m - q_a * t
        W.append(w)
        P.append(p_a)
        q.append(q_a)
    if not W:
        return np.zeros(p)
    W_ = np.array(W).T
    P_ = np.array(P).T
    return W_ @ np.linalg.solve(P_.T @ W_, np.array(q))


def pds_fit(
    X_slave: np.ndarray,
    X_master: np.ndarray,
    *,
    half_width: int = 2,
    n_components: int = 1,
    center: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise direct standardisation (Wang et al. 1991): each master channel is regressed
    on a window of ``2 × half_width + 1`` slave channels around it by a local PLS1 with up to
    ``n_components`` latent variables (fewer where the window or the sample count allows
    fewer). Returns the banded ``F (p_slave, p_master)`` and ``b (p_master,)``."""
    S = np.asarray(X_slave, dtype=np.float64)
    M = np.asarray(X_master, dtype=np.float64)
    n, p_s = S.shape
    p_m = M.shape[1]
    s_mean = S.mean(axis=0) if center else np.zeros(p_s)
    m_mean = M.mean(axis=0) if center else np.zeros(p_m)
    Sc, Mc = S - s_mean, M - m_mean
    lo, hi = window_bounds(p_m, p_s, half_width)
    F = np.zeros((p_s, p_m))
    limit = n - 1 if center else n
    for j in range(p_m):
        a = max(0, min(n_components, hi[j] - lo[j], limit))
        if a:
            F[lo[j] : hi[j], j] = local_pls1(Sc[:, lo[j] : hi[j]], Mc[:, j], a)
    return F, m_mean - s_mean @ F
