"""Fast PLS cross-validation: out-of-fold predictions for every number of components from ONE
fit per fold.

With algorithm 2 the folds share the work (Engstrøm & Jensen, "Fast partition-based
cross-validation with centering and scaling for XᵀX and XᵀY", 2025, the method behind the
``cvmatrix`` package): ``X`` is centred once by its global mean, the cross-products of each
fold's held-out rows are computed once (they add up to the full ``XᵀX`` when the held-out sets
partition the rows, so the full product costs nothing more), and each training set's
``XᵀX``/``XᵀY`` is the full one minus its held-out rows' contribution, re-centred exactly on the
training mean by a rank-one correction. Centring globally first keeps that correction small, so
no precision is lost to cancellation. Per-fold scaling (``scale=True``) reads the training
standard deviations off the diagonal of the centred ``XᵀX``.

With algorithm 1 (fewer samples than features, the usual case for a calibration set) each fold
is fitted on its own centred rows, which is cheaper than forming ``XᵀX`` at all.

Pure numpy: importable without scikit-learn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from numbers import Integral

import numpy as np

import nirs_core.models._kernels as _kernels
from nirs_core.errors import ConfigError, DataError

__all__ = ["pls_cv_predict", "pls_cv_scores"]


def _as_arrays(X: object, y: object) -> tuple[np.ndarray, np.ndarray, bool]:
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise DataError(f"pls_cv_predict: X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    one_d = Y.ndim == 1
    if one_d:
        Y = Y.reshape(-1, 1)
    if Y.ndim != 2 or Y.shape[0] != X.shape[0]:
        raise DataError(
            f"pls_cv_predict: y must have one row per row of X ({X.shape[0]}); got shape {np.shape(y)}."
        )
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise DataError("pls_cv_predict: X and y must be finite; found NaN or infinity.")
    return X, Y, one_d


def _as_folds(folds: Iterable[Sequence], n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    seen = np.full(n, -1)
    for k, fold in enumerate(folds):
        try:
            train, val = fold
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"pls_cv_predict: fold {k} must be a (train_idx, val_idx) pair; got {fold!r}."
            ) from exc
        pair = []
        for name, idx in (("train", train), ("validation", val)):
            idx = np.asarray(idx)
            if idx.dtype == bool:
                if idx.shape != (n,):
                    raise ConfigError(
                        f"pls_cv_predict: fold {k} {name} mask must have {n} entries; got shape {idx.shape}."
                    )
                idx = np.flatnonzero(idx)
            if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
                raise ConfigError(
                    f"pls_cv_predict: fold {k} {name} indices must be a non-empty 1-D integer array."
                )
            if idx.min() < -n or idx.max() >= n:
                raise ConfigError(
                    f"pls_cv_predict: fold {k} {name} indices must lie in [0, {n}); got {idx.max()}."
                )
            idx = np.where(idx < 0, idx + n, idx)
            if np.unique(idx).size != idx.size:
                raise ConfigError(f"pls_cv_predict: fold {k} {name} indices contain duplicates.")
            pair.append(idx)
        train, val = pair
        if np.intersect1d(train, val).size:
            raise ConfigError(f"pls_cv_predict: fold {k} has rows in both its training and validation sets.")
        again = val[seen[val] >= 0]
        if again.size:
            raise ConfigError(
                f"pls_cv_predict: fold {k} validates row {again[0]} already validated by fold "
                f"{seen[again[0]]}; pooled out-of-fold predictions need disjoint validation sets "
                "(run repeated cross-validation one repetition at a time)."
            )
        seen[val] = k
        out.append((train, val))
    if not out:
        raise ConfigError("pls_cv_predict: folds is empty; expected at least one (train_idx, val_idx) pair.")
    return out


def _check_components(max_components: object, folds: list, p: int, center: bool) -> int:
    if isinstance(max_components, bool) or not isinstance(max_components, Integral) or max_components < 1:
        raise ConfigError(f"pls_cv_predict: max_components must be an integer ≥ 1; got {max_components!r}.")
    smallest = min(len(train) for train, _ in folds)
    limit = min(smallest - int(center), p)
    if max_components > limit:
        raise ConfigError(
            f"pls_cv_predict: max_components={max_components} exceeds the rank limit "
            f"min(n_train{' - 1' if center else ''}, n_features) = {limit} of the smallest "
            f"training set ({smallest} rows, {p} features); reduce max_components."
        )
    return int(max_components)


def _fold_predictions(
    Xv: np.ndarray, R: np.ndarray, Q: np.ndarray, x_mean, x_std, y_mean, y_std
) -> np.ndarray:
    """Predictions ``(n_val, A, q)`` for every number of components: cumulative sums of each
    component's contribution ``t_a q_aᵀ``, scores ``t = (Xv - x_mean) / x_std @ R`` computed
    without forming the centred rows."""
    Rs = R / x_std[:, None]
    T = Xv @ Rs
    T -= x_mean @ Rs
    return np.cumsum(T[:, :, None] * Q.T[None, :, :], axis=1) * y_std + y_mean


def pls_cv_predict(
    X,
    y,
    folds,
    max_components: int,
    *,
    center: bool = True,
    scale: bool = False,
    algorithm: int | str = "auto",
) -> np.ndarray:
    """Out-of-fold PLS predictions for every number of components ``1..max_components``.

    Parameters
    ----------
    X : array (n_samples, n_features)
    y : array (n_samples,) or (n_samples, n_targets)
    folds : iterable of (train_idx, val_idx)
        As any scikit-learn splitter's ``split`` yields (integer indices or boolean masks).
        Validation sets must be disjoint; rows in none of them get NaN.
    max_components : int
        At most ``min(n_train - 1, n_features)`` for the smallest training set.
    center, scale : bool
        Centre (and scale to unit ``ddof=1`` standard deviation) X and y on each training set,
        as ``PLSRegression(scale=...)`` does on its training data.
    algorithm : {1, 2, "auto"}
        1 fits each fold on its rows; 2 downdates the shared cross-products; "auto" picks the
        cheaper for the shape.

    Returns
    -------
    ndarray (n_samples, max_components, n_targets)
        ``out[i, a - 1]`` predicts row ``i`` with ``a`` components, from the fold that held
        row ``i`` out. Equal (to rounding) to fitting ``PLSRegression(a)`` on each training set.
    """
    X, Y, _ = _as_arrays(X, y)
    n, p = X.shape
    q = Y.shape[1]
    folds = _as_folds(folds, n)
    A = _check_components(max_components, folds, p, center)
    if algorithm == "auto":
        n_train = int(np.mean([len(train) for train, _ in folds]))
        algorithm = _kernels.select_algorithm(n_train, p, A, n_fits=len(folds), gram_rows=n)
    if algorithm not in (1, 2):
        raise ConfigError(f"pls_cv_predict: algorithm must be 1, 2 or 'auto'; got {algorithm!r}.")
    out = np.full((n, A, q), np.nan)
    if algorithm == 1:
        for train, val in folds:
            Xt = X[train]
            x_mean, x_std = _kernels.moments(Xt, center, scale)
            Yt, y_mean, y_std = _kernels.center_scale(Y[train], center, scale)
            _, _, R, Q, _, _ = _kernels.ikpls_components(
                _kernels.implicit_xty(Xt, Yt, x_mean, x_std),
                A,
                X=Xt,
                x_shift=x_mean if center else None,
                x_scale=x_std if scale else None,
            )
            out[val] = _fold_predictions(X[val], R, Q, x_mean, x_std, y_mean, y_std)
        return out
    for val, XtX, XtY, n_t, dx, x_mean, x_std, y_mean, y_std in _downdated_cross_products(
        X, Y, folds, center, scale
    ):
        _, _, R, Q, _, _ = _kernels.ikpls_components(
            XtY, A, XtX=XtX, x_shift=dx, n_rows=n_t, x_scale=x_std if scale else None
        )
        out[val] = _fold_predictions(X[val], R, Q, x_mean, x_std, y_mean, y_std)
    return out


def _downdated_cross_products(X: np.ndarray, Y: np.ndarray, folds: list, center: bool, scale: bool):
    """Yield, per fold, what algorithm 2 needs: the training rows' ``XᵀX`` about the global
    mean (the full one minus the held-out rows', or the training rows' own when they are the
    smaller set), the centred (scaled) training ``XᵀY``, the row count, the offset of the
    training mean from the global mean, and the training statistics (Engstrøm & Jensen).

    When the held-out sets partition the rows, their blocks add up to the full ``XᵀX``, which
    then costs one addition per fold instead of a second pass over ``X``; the blocks are kept
    only while they take less memory than a few copies of ``X``.
    """
    n, p = X.shape
    q = Y.shape[1]
    g_x = X.mean(axis=0) if center else np.zeros(p)
    g_y = Y.mean(axis=0) if center else np.zeros(q)
    Yg = Y - g_y
    all_rows = np.arange(n)
    removed = [np.setdiff1d(all_rows, train, assume_unique=True) for train, _ in folds]
    direct = [len(rem) >= len(train) for (train, _), rem in zip(folds, removed)]
    own = [train if d else rem for (train, _), rem, d in zip(folds, removed, direct)]
    counts = np.zeros(n, dtype=np.int64)
    for rem, d in zip(removed, direct):
        if not d:
            counts[rem] += 1
    partition = not any(direct) and bool(np.all(counts == 1))
    keep_blocks = partition and (len(folds) + 1) * p * p <= 4 * n * p
    blocks: list = [None] * len(folds)
    full = None
    if keep_blocks:
        for k, rows in enumerate(own):
            blocks[k] = _kernels.shifted_cross_products(X, Yg, g_x, rows)
        full = tuple(b.copy() for b in blocks[0])
        for block in blocks[1:]:
            for total, part in zip(full, block):
                total += part
    elif not all(direct):
        full = _kernels.shifted_cross_products(X, Yg, g_x)
    for k, ((train, val), is_direct) in enumerate(zip(folds, direct)):
        XtX_b, XtY_b, sx_b = (
            blocks[k] if blocks[k] is not None else _kernels.shifted_cross_products(X, Yg, g_x, own[k])
        )
        blocks[k] = None
        if is_direct:
            XtX, XtY, sx = XtX_b, XtY_b, sx_b
        else:
            XtX = np.subtract(full[0], XtX_b, out=XtX_b)
            XtY, sx = full[1] - XtY_b, full[2] - sx_b
        n_t = len(train)
        Yt = Yg[train]
        if center:
            # (Xt - 1dxᵀ)ᵀ(Yt - 1dyᵀ) = XtᵀYt - n_t dx dyᵀ, with dx, dy the training means of
            # the globally centred rows; XᵀX gets the same correction inside the kernel.
            dx, dy = sx / n_t, Yt.mean(axis=0)
            XtY = XtY - n_t * np.outer(dx, dy)
            x_mean, y_mean = g_x + dx, g_y + dy
        else:
            dx, x_mean, y_mean = None, np.zeros(p), np.zeros(q)
        if scale:
            x_std = np.sqrt(np.maximum(np.diag(XtX) - sx * sx / n_t, 0.0) / max(n_t - 1, 1))
            x_std[x_std == 0.0] = 1.0
            y_std = Yt.std(axis=0, ddof=1)
            y_std[y_std == 0.0] = 1.0
            XtY = XtY / np.outer(x_std, y_std)
        else:
            x_std, y_std = np.ones(p), np.ones(q)
        yield val, XtX, XtY, n_t, dx, x_mean, x_std, y_mean, y_std


def pls_cv_scores(
    X,
    y,
    folds,
    max_components: int,
    *,
    center: bool = True,
    scale: bool = False,
    algorithm: int | str = "auto",
) -> np.ndarray:
    """RMSECV for every number of components, from the pooled out-of-fold predictions of
    :func:`pls_cv_predict` (rows in no validation set are left out).

    Returns ``(max_components,)`` for a 1-D ``y``, ``(max_components, n_targets)`` otherwise.
    """
    pred = pls_cv_predict(X, y, folds, max_components, center=center, scale=scale, algorithm=algorithm)
    Y = np.asarray(y, dtype=np.float64)
    Y2 = Y.reshape(-1, 1) if Y.ndim == 1 else Y
    rows = ~np.isnan(pred[:, 0, 0])
    err = pred[rows] - Y2[rows, None, :]
    rmse = np.sqrt(np.mean(err * err, axis=0))
    return rmse[:, 0] if Y.ndim == 1 else rmse
