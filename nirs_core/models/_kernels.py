"""Pure numpy kernels of the PLS family: no scikit-learn, no scipy, so that a bundle replays on
numpy alone.

PLS is fitted with the improved kernel PLS algorithms of Dayal & MacGregor (1997, J.
Chemometrics 11:73-85). Both deflate only the cross-product ``XᵀY``, never ``X``:

- algorithm 1 works on ``X`` itself: two passes over ``X`` per component (``t = X r`` and
  ``p = Xᵀt / tᵀt``). Cheapest when ``n_samples`` is small or few components are asked for.
- algorithm 2 works on ``XᵀX``: one ``n·p²`` product up front, then ``p²`` per component.
  Cheapest when ``n_samples ≫ n_features``, and the basis of fast cross-validation, where each
  fold's ``XᵀX`` is obtained by downdating the full one.

Every fit returns the regression coefficients for EVERY number of components ``1..A`` (``coef``
of shape ``(A, p, q)``), so one fit scores every ``A``. Weights carry scikit-learn's sign
convention (the largest absolute entry of each ``x_weights`` column is positive), so the fitted
attributes match ``sklearn.cross_decomposition.PLSRegression`` column for column.

:func:`pls_predict` is the replay kernel: the estimators' ``predict`` calls it with the exact
arguments their ``replay_spec`` returns, so replay is bit for bit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "PLSFit",
    "center_scale",
    "coef_path",
    "ikpls_components",
    "implicit_xty",
    "moments",
    "opls_coef",
    "opls_filter",
    "opls_fit",
    "opls_orthogonal_scores",
    "pcr_fit",
    "pls_fit",
    "pls_predict",
    "plsda_predict",
    "plsda_proba",
    "select_algorithm",
    "shifted_cross_products",
]

# Flops of a BLAS-3 product per element streamed by a BLAS-2 product, roughly: used to pick
# the cheaper improved kernel algorithm. Calibrated with bench/operators.py.
_FLOPS_PER_PASS_ELEMENT = 13.0


class PLSFit(NamedTuple):
    """Everything one PLS fit produces. ``A`` components, ``p`` features, ``q`` targets.

    ``coef[a]`` and ``intercept[a]`` predict with ``a + 1`` components in original units:
    ``X @ coef[a] + intercept[a]``. Weights, loadings and rotations are in the centred (and
    scaled, with ``scale=True``) space, as scikit-learn reports them. Components after an exact
    fit (``XᵀY`` deflated to zero) are zero and leave ``coef`` unchanged; ``n_effective``
    counts the others.
    """

    coef: np.ndarray  # (A, p, q)
    intercept: np.ndarray  # (A, q)
    x_weights: np.ndarray  # (p, A)  W
    x_loadings: np.ndarray  # (p, A)  P
    x_rotations: np.ndarray  # (p, A)  R = W (PᵀW)⁻¹, scores T = X R
    y_loadings: np.ndarray  # (q, A)  Q (scikit-learn's y_weights_ equal them in regression mode)
    x_scores_ss: np.ndarray  # (A,)  tᵀt of each score column
    x_mean: np.ndarray  # (p,)
    y_mean: np.ndarray  # (q,)
    x_std: np.ndarray  # (p,)
    y_std: np.ndarray  # (q,)
    n_effective: int


def select_algorithm(
    n_samples: int, n_features: int, n_components: int, n_fits: int = 1, gram_rows: int | None = None
) -> int:
    """The cheaper improved kernel algorithm for ``n_fits`` fits on ``n_samples`` rows each.

    Algorithm 1 streams ``X`` twice per component and fit; algorithm 2 pays one product
    ``XᵀX`` over ``gram_rows`` rows (default ``n_samples``; BLAS-3, fast per element) and then
    streams ``XᵀX`` once per component and fit.
    """
    gram_rows = n_samples if gram_rows is None else gram_rows
    cost_1 = 2.0 * n_components * n_samples * n_features * n_fits
    cost_2 = gram_rows * n_features**2 / _FLOPS_PER_PASS_ELEMENT + n_components * n_features**2 * n_fits
    return 1 if cost_1 <= cost_2 else 2


def center_scale(X: np.ndarray, center: bool, scale: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X - mean) / std`` as a new array, with the mean and the std (``ddof=1``, zeros → 1)."""
    n, p = X.shape
    mean = X.mean(axis=0) if center else np.zeros(p)
    out = X - mean if center else X.copy()
    if scale:
        std = out.std(axis=0, ddof=1) if n > 1 else np.ones(p)
        std[std == 0.0] = 1.0
        out /= std
    else:
        std = np.ones(p)
    return out, mean, std


def moments(X: np.ndarray, center: bool, scale: bool) -> tuple[np.ndarray, np.ndarray]:
    """Column means (zeros without ``center``) and standard deviations (``ddof=1``, zeros → 1;
    ones without ``scale``) of ``X``, as :func:`center_scale` uses them."""
    n, p = X.shape
    mean = X.mean(axis=0) if center else np.zeros(p)
    if scale and n > 1:
        std = X.std(axis=0, ddof=1)
        std[std == 0.0] = 1.0
    else:
        std = np.ones(p)
    return mean, std


def implicit_xty(X: np.ndarray, Yc: np.ndarray, x_shift: np.ndarray, x_scale: np.ndarray) -> np.ndarray:
    """``((X - x_shift) / x_scale)ᵀ Yc`` without forming the centred X."""
    return (X.T @ Yc - np.outer(x_shift, Yc.sum(axis=0))) / x_scale[:, None]


def shifted_cross_products(
    X: np.ndarray, Yc: np.ndarray, shift: np.ndarray, rows: np.ndarray | None = None, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Xs ᵀXs, Xs ᵀYc[rows], Σ Xs)`` of ``Xs = X[rows] - shift`` (all rows if ``rows`` is
    None), in blocks of ``chunk`` rows so that the shifted copy never exceeds one block.

    Shifting by a mean before the product (rather than correcting ``XᵀX - n m mᵀ`` afterwards)
    keeps the digits that the cancellation would lose on spectra, whose mean dominates."""
    n, p = X.shape
    rows = np.arange(n) if rows is None else np.asarray(rows)
    XtX = XtY = total = None
    for start in range(0, len(rows), chunk):
        idx = rows[start : start + chunk]
        block = X[idx]
        block -= shift
        if XtX is None:
            XtX, XtY, total = block.T @ block, block.T @ Yc[idx], block.sum(axis=0)
        else:
            XtX += block.T @ block
            XtY += block.T @ Yc[idx]
            total += block.sum(axis=0)
    if XtX is None:
        return np.zeros((p, p)), np.zeros((p, Yc.shape[1])), np.zeros(p)
    return XtX, XtY, total


def _dominant_weight(XtY: np.ndarray) -> np.ndarray:
    """The dominant left singular vector of ``XᵀY``, scaled by its singular value."""
    p, q = XtY.shape
    if q == 1:
        return XtY[:, 0].copy()
    if q <= p:
        vals, vecs = np.linalg.eigh(XtY.T @ XtY)
        return XtY @ vecs[:, -1]
    vals, vecs = np.linalg.eigh(XtY @ XtY.T)
    return vecs[:, -1] * np.sqrt(max(vals[-1], 0.0))


def ikpls_components(
    XtY: np.ndarray,
    n_components: int,
    *,
    X: np.ndarray | None = None,
    XtX: np.ndarray | None = None,
    x_shift: np.ndarray | None = None,
    x_scale: np.ndarray | None = None,
    n_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Improved kernel PLS: algorithm 1 if ``X`` is given, 2 if ``XtX`` is. ``XtY`` (``(p, q)``,
    not modified) is the cross-product of the centred (scaled) data with the centred (scaled) Y.

    The data the components are extracted from is ``(X - x_shift) / x_scale``, never formed:

    - algorithm 1: ``t = X (r/s) - x_shift·(r/s)`` and ``p = (Xᵀt - x_shift Σt) / s / tᵀt``
      (``Σt`` is zero up to rounding; kept so the identity is exact). Saves the copy of ``X``
      that centring costs, a pass as long as two components.
    - algorithm 2: ``XtX`` is the cross-product of ``n_rows`` rows whose column mean is
      ``x_shift``; the centred product ``XtX - n_rows·x_shift x_shiftᵀ`` is applied as a
      rank-one correction inside each product, so no second ``p × p`` matrix is formed.

    Returns ``(W, P, R, Q, tt, n_effective)``: weights, loadings, rotations ``(p, A)``,
    y-loadings ``(q, A)``, score sums of squares ``(A,)``, and the number of components
    computed before ``XᵀY`` deflated to (numerical) zero (later columns stay zero).
    """
    if (X is None) == (XtX is None):
        raise TypeError("ikpls_components: pass exactly one of X (algorithm 1) or XtX (algorithm 2).")
    if XtX is not None and x_shift is not None and n_rows is None:
        raise TypeError("ikpls_components: algorithm 2 with x_shift needs n_rows, the row count of XtX.")
    p, q = XtY.shape
    A = n_components
    W = np.zeros((p, A))
    P = np.zeros((p, A))
    R = np.zeros((p, A))
    Q = np.zeros((q, A))
    tt_all = np.zeros(A)
    XtY = XtY.copy()
    floor = 100.0 * np.finfo(np.float64).eps * np.sqrt(np.sum(XtY * XtY))
    n_effective = 0
    for a in range(A):
        w = _dominant_weight(XtY)
        norm = np.sqrt(w @ w)
        if not norm > floor:
            break
        w /= norm
        if w[np.argmax(np.abs(w))] < 0:
            w = -w
        r = w - R[:, :a] @ (P[:, :a].T @ w) if a else w.copy()
        if X is not None:
            rs = r if x_scale is None else r / x_scale
            t = X @ rs
            if x_shift is not None:
                t -= x_shift @ rs
            tt = t @ t
            if not tt > 0:
                break
            p_a = X.T @ t
            if x_shift is not None:
                p_a -= x_shift * t.sum()
            if x_scale is not None:
                p_a /= x_scale
            p_a /= tt
        else:
            rs = r if x_scale is None else r / x_scale
            u = XtX @ rs
            if x_shift is not None:
                u -= (n_rows * (x_shift @ rs)) * x_shift
            if x_scale is not None:
                u /= x_scale
            tt = r @ u
            if not tt > 0:
                break
            p_a = u / tt
        q_a = (r @ XtY) / tt
        XtY -= np.outer(p_a * tt, q_a)
        W[:, a], P[:, a], R[:, a], Q[:, a], tt_all[a] = w, p_a, r, q_a, tt
        n_effective = a + 1
    return W, P, R, Q, tt_all, n_effective


def pls_fit(
    X: np.ndarray,
    Y: np.ndarray,
    n_components: int,
    *,
    center: bool = True,
    scale: bool = False,
    algorithm: int | str = "auto",
) -> PLSFit:
    """Fit PLS with ``n_components`` components and return coefficients for every ``1..A``.

    ``X`` is ``(n, p)``, ``Y`` is ``(n, q)`` or ``(n,)`` (the results are shaped for ``q = 1``
    then). ``scale`` divides X and Y columns by their standard deviation (``ddof=1``), as
    scikit-learn's ``scale=True``. ``algorithm`` is 1, 2 or ``"auto"``
    (:func:`select_algorithm`). Neither input is modified; validation is the caller's (the
    estimators validate, this kernel trusts finite float input and ``n_components`` ≤ rank).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    n, p = X.shape
    if algorithm == "auto":
        algorithm = select_algorithm(n, p, n_components)
    Yc, y_mean, y_std = center_scale(Y, center, scale)
    if algorithm == 1:
        x_mean, x_std = moments(X, center, scale)
        XtY = implicit_xty(X, Yc, x_mean, x_std)
        W, P, R, Q, tt, n_eff = ikpls_components(
            XtY, n_components, X=X, x_shift=x_mean if center else None, x_scale=x_std if scale else None
        )
    else:
        x_mean, x_std = moments(X, center, scale)
        XtX, XtY, _ = shifted_cross_products(X, Yc, x_mean)
        W, P, R, Q, tt, n_eff = ikpls_components(
            XtY / x_std[:, None], n_components, XtX=XtX, x_scale=x_std if scale else None
        )
    coef, intercept = coef_path(R, Q, x_mean, y_mean, x_std, y_std)
    return PLSFit(coef, intercept, W, P, R, Q, tt, x_mean, y_mean, x_std, y_std, n_eff)


def coef_path(
    R: np.ndarray,
    Q: np.ndarray,
    x_mean: np.ndarray,
    y_mean: np.ndarray,
    x_std: np.ndarray,
    y_std: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``(A, p, q)`` and intercepts ``(A, q)`` in original units for every number
    of components: ``B_a = Σ_{j≤a} r_j q_jᵀ``, unscaled, with the intercept that absorbs the
    centring (``X @ B_a + b_a`` predicts)."""
    coef = np.cumsum(R.T[:, :, None] * Q.T[:, None, :], axis=0)
    coef *= y_std[None, None, :] / x_std[None, :, None]
    intercept = y_mean[None, :] - np.einsum("p,apq->aq", x_mean, coef)
    return coef, intercept


def pls_predict(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray | float) -> np.ndarray:
    """The replay kernel of every linear model here: ``X @ coef.T + intercept``.

    ``coef`` is ``(p,)`` with a scalar ``intercept`` for one target (returns ``(n,)``), or
    ``(q, p)`` with ``intercept`` ``(q,)`` (returns ``(n, q)``), as scikit-learn's ``coef_``.
    """
    X = np.asarray(X, dtype=np.float64)
    coef = np.asarray(coef, dtype=np.float64)
    # one dot product per row and target (vecdot), not a matrix product: BLAS groups the rows
    # of a matrix product in its kernels, so a row's prediction would change with the number
    # of rows predicted with it, and replay on new spectra would not equal training-time
    # predictions bit for bit
    rows = X if coef.ndim == 1 else X[:, None, :]
    products = np.vecdot(rows, coef) if hasattr(np, "vecdot") else np.einsum("...j,...j->...", rows, coef)
    return products + np.asarray(intercept, dtype=np.float64)


def plsda_proba(decision: np.ndarray) -> np.ndarray:
    """Class membership scores from PLS-DA decision values (one column per class).

    Clipped-normalised: negative values are set to 0 and each row is divided by its sum. A row
    whose values are all ≤ 0 resembles no class; it gets probability 1 on its largest value,
    so ``argmax`` of the scores always equals the predicted class.
    """
    clipped = np.maximum(decision, 0.0)
    total = clipped.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0.0
    if np.any(empty):
        rows = np.flatnonzero(empty)
        clipped[rows] = 0.0
        clipped[rows, np.argmax(decision[rows], axis=1)] = 1.0
        total[rows] = 1.0
    return clipped / total


def plsda_predict(
    X: np.ndarray, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray | list
) -> np.ndarray:
    """PLS-DA labels: the class whose one-hot column has the largest predicted value."""
    decision = pls_predict(X, coef, intercept)
    return np.asarray(classes)[np.argmax(decision, axis=1)]


def pcr_fit(
    X: np.ndarray, Y: np.ndarray, n_components: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Principal component regression for every number of components ``1..A``.

    Returns ``(coef (A, p, q), intercept (A, q), components (A, p), explained_variance (A,))``.
    The PCA is the SVD of the centred ``X`` (signs as scikit-learn's ``svd_flip``: the largest
    absolute entry of each row of ``Vᵀ`` positive); the regression of ``Y`` on the first ``a``
    orthogonal scores is ``B_a = Σ_{j≤a} v_j (u_jᵀ Yc) / s_j``.
    """
    n = X.shape[0]
    x_mean = X.mean(axis=0)
    y_mean = Y.mean(axis=0)
    U, s, Vt = np.linalg.svd(X - x_mean, full_matrices=False)
    U, s, Vt = U[:, :n_components], s[:n_components], Vt[:n_components]
    signs = np.sign(Vt[np.arange(len(s)), np.argmax(np.abs(Vt), axis=1)])
    signs[signs == 0] = 1.0
    U *= signs
    Vt *= signs[:, None]
    keep = s > s[0] * max(X.shape) * np.finfo(np.float64).eps if len(s) else s > 0
    gamma = np.zeros((len(s), Y.shape[1]))
    gamma[keep] = (U[:, keep].T @ (Y - y_mean)) / s[keep, None]
    coef = np.cumsum(Vt[:, :, None] * gamma[:, None, :], axis=0)
    intercept = y_mean[None, :] - np.einsum("p,apq->aq", x_mean, coef)
    return coef, intercept, Vt, s**2 / max(n - 1, 1)


def opls_fit(
    X: np.ndarray, y: np.ndarray, n_orthogonal: int
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float, int]:
    """Orthogonal PLS (Trygg & Wold 2002, J. Chemometrics 16:119-128) for one target.

    ``X`` ``(n, p)`` and ``y`` ``(n,)``. Returns ``(x_mean, y_mean, w_orth (p, k), p_orth (p, k),
    w (p,), p (p,), q, tt, n_effective_orthogonal)``: orthogonal weights and loadings, and the
    predictive weight, loading, y-loading and score sum of squares after the orthogonal
    variation is removed. An orthogonal component whose weight vanishes (no variation left
    that is orthogonal to y) stops the extraction; the remaining columns are zero.

    The deflated ``E = X - x_mean - T_o P_oᵀ`` is never formed: its products with a vector are
    ``X v - x_mean·v - T_o (P_oᵀ v)`` and ``Xᵀt - x_mean Σt - P_o (T_oᵀ t)``, so the fit streams
    ``X`` four times per orthogonal component and never copies it.
    """
    n, p = X.shape
    x_mean = X.mean(axis=0)
    y_mean = float(y.mean())
    yc = y - y_mean
    k_max = n_orthogonal
    T_o = np.zeros((n, k_max))
    w_orth = np.zeros((p, k_max))
    p_orth = np.zeros((p, k_max))

    def e_dot(v: np.ndarray, k: int) -> np.ndarray:
        out = X @ v
        out -= x_mean @ v
        if k:
            out -= T_o[:, :k] @ (p_orth[:, :k].T @ v)
        return out

    def e_t_dot(t: np.ndarray, k: int) -> np.ndarray:
        out = X.T @ t
        out -= x_mean * t.sum()
        if k:
            out -= p_orth[:, :k] @ (T_o[:, :k].T @ t)
        return out

    w = e_t_dot(yc, 0)
    norm_w = np.sqrt(w @ w)
    if norm_w > 0:
        w = w / norm_w
    n_eff = 0
    for k in range(k_max):
        if not norm_w > 0:
            break
        t = e_dot(w, k)
        tt = t @ t
        if not tt > 0:
            break
        load = e_t_dot(t, k) / tt
        wo = load - (w @ load) * w
        norm_o = np.sqrt(wo @ wo)
        if not norm_o > 1e3 * np.finfo(np.float64).eps * np.sqrt(load @ load):
            break
        wo /= norm_o
        to = e_dot(wo, k)
        too = to @ to
        if not too > 0:
            break
        w_orth[:, k] = wo
        p_orth[:, k] = e_t_dot(to, k) / too
        T_o[:, k] = to
        n_eff = k + 1
    t = e_dot(w, n_eff)
    tt = float(t @ t)
    load = e_t_dot(t, n_eff) / tt if tt > 0 else np.zeros(p)
    q = float(yc @ t) / tt if tt > 0 else 0.0
    return x_mean, y_mean, w_orth, p_orth, w, load, q, tt, n_eff


def opls_coef(w: np.ndarray, q: float, w_orth: np.ndarray, p_orth: np.ndarray) -> np.ndarray:
    """The OPLS regression vector on centred X: the predictive ``w q`` pulled back through the
    orthogonal filter ``Π_j (I - w_oj p_ojᵀ)``."""
    b = w * q
    for j in range(w_orth.shape[1] - 1, -1, -1):
        b = b - w_orth[:, j] * (p_orth[:, j] @ b)
    return b


def opls_orthogonal_scores(
    X: np.ndarray, x_mean: np.ndarray, w_orth: np.ndarray, p_orth: np.ndarray
) -> np.ndarray:
    """Orthogonal scores ``(n, k)`` of spectra: ``t_j = (X - x_mean - Σ_{i<j} t_i p_iᵀ) w_j``,
    from one product ``X W_o`` and a triangular recursion on ``k × k`` numbers."""
    X = np.asarray(X, dtype=np.float64)
    T = X @ w_orth
    T -= x_mean @ w_orth
    cross = p_orth.T @ w_orth  # cross[i, j] = p_i·w_j
    for j in range(1, w_orth.shape[1]):
        T[:, j] -= T[:, :j] @ cross[:j, j]
    return T


def opls_filter(X: np.ndarray, x_mean: np.ndarray, w_orth: np.ndarray, p_orth: np.ndarray) -> np.ndarray:
    """Remove the y-orthogonal variation from spectra, ``X - T_o P_oᵀ`` (the mean spectrum and
    the predictive variation stay)."""
    X = np.asarray(X, dtype=np.float64)
    x_mean = np.asarray(x_mean, dtype=np.float64)
    w_orth = np.asarray(w_orth, dtype=np.float64)
    p_orth = np.asarray(p_orth, dtype=np.float64)
    out = opls_orthogonal_scores(X, x_mean, w_orth, p_orth) @ -p_orth.T
    out += X
    return out
