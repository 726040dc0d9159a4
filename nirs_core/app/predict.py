"""Predict new spectra with a bundle: open it (signature and hashes verified by the store),
check the input against what it expects, replay its runtime DAG (:mod:`nirs_core.graph.replay`)
and say for every spectrum whether to trust its value (prediction interval, Hotelling T², Q
residual, leverage, ``in_domain``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nirs_core.graph.replay import prepare_input, replay, replay_table
from nirs_core.store.bundle import Bundle, open_bundle

__all__ = ["DOMAIN_FIELDS", "predict", "predict_table"]

#: The per-spectrum fields beside the value (:func:`predict_table`).
DOMAIN_FIELDS = ("lower", "upper", "t2", "q", "in_domain")


def predict(
    bundle: Bundle | str | os.PathLike[str],
    data: Any,
    *,
    resample: bool = False,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    public_key: Any = None,
    trust_unsigned: bool = False,
    allow_pickle: bool = False,
    values_only: bool = False,
    coverage: float | None = None,
) -> Any:
    """Predict ``data`` with a bundle (a path, verified here, or an opened :class:`Bundle`).

    Returns a polars DataFrame, one row per spectrum in input order: the sample id column when
    the input had one, then the columns of :func:`nirs_core.graph.replay.replay_table` (each
    target, ``<target>_lower``/``<target>_upper`` at ``coverage`` (default: the bundle's, 90 %),
    ``t2``, ``t2_limit``, ``q``, ``q_limit``, ``leverage``, ``in_domain``). With
    ``values_only=True``: the plain ``(n_spectra, n_targets)`` array of the predictions (see
    the module docstring of :mod:`nirs_core.graph.replay` for inputs, checks and ensembles).
    ``allow_pickle`` lets a bundle whose signature is not valid unpickle its third-party
    estimators, which runs code from the file (see :mod:`nirs_core.store.bundle`).
    """
    if not isinstance(bundle, Bundle):
        bundle = open_bundle(
            bundle,
            key=key,
            key_file=key_file,
            public_key=public_key,
            trust_unsigned=trust_unsigned,
            allow_pickle=allow_pickle,
        )
    prepared = prepare_input(bundle, data, resample=resample)
    if values_only:
        return replay(bundle, prepared.sources)
    import polars as pl

    columns = replay_table(bundle, prepared.sources, coverage=coverage)
    table = pl.DataFrame({name: np.asarray(values) for name, values in columns.items()})
    if prepared.sample is not None:
        table = table.insert_column(0, pl.Series(prepared.sample_column, prepared.sample))
    return table


def predict_table(
    bundle: Bundle, data: Any, *, resample: bool = False, wavelengths: Any = None
) -> dict[str, Any]:
    """Predictions of ``data`` (as :func:`predict`; ``wavelengths`` the axis of an array input)
    with, per spectrum, what says whether to trust them, from
    :func:`~nirs_core.graph.replay.replay_table` (the columns ``nirs predict`` writes):
    ``{"targets", "values": (n, n_targets), "lower", "upper": (n, n_targets) or None (no
    interval: classification), "t2", "q", "in_domain": (n,), "resampled", "sample"}``. A bundle
    without a domain gives NaN statistics and ``in_domain`` False (replay_table's rule). The
    prediction service answers from this table alone."""
    prepared = prepare_input(bundle, data, resample=resample, wavelengths=wavelengths)
    columns = replay_table(bundle, prepared.sources)
    # replay_table names the targets y0, y1… when the bundle does not
    targets = list(bundle.targets) or [k for k in columns if k[:1] == "y" and k[1:].isdigit()]
    values = np.column_stack([columns[t] for t in targets])
    bounds = {
        side: np.column_stack([columns[f"{t}_{side}"] for t in targets])
        if all(f"{t}_{side}" in columns for t in targets)
        else None
        for side in ("lower", "upper")
    }
    return {
        "targets": targets,
        "values": values,
        **bounds,
        "t2": columns["t2"],
        "q": columns["q"],
        "in_domain": columns["in_domain"],
        "resampled": prepared.resampled,
        "sample": prepared.sample,
    }
