"""Predict new spectra with a bundle: open it (signature and hashes verified by the store),
check the input against what it expects, replay its runtime DAG (:mod:`nirs_core.graph.replay`)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nirs_core.graph.replay import prepare_input, replay
from nirs_core.store.bundle import Bundle, open_bundle

__all__ = ["predict"]


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
) -> np.ndarray:
    """Predict ``data`` with a bundle (a path, verified here, or an opened :class:`Bundle`).

    Returns ``(n_spectra, n_targets)`` in input order; the column names are ``Bundle.targets``
    (see the module docstring for inputs, checks and ensembles). ``allow_pickle`` lets a bundle
    whose signature is not valid unpickle its third-party estimators, which runs code from the
    file (see :mod:`nirs_core.store.bundle`).
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
    return replay(bundle, prepared.sources)
