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
    trust_unsigned: bool = False,
) -> np.ndarray:
    """Predict ``data`` with a bundle (a path, verified here, or an opened :class:`Bundle`).

    Returns ``(n_spectra, n_targets)`` in input order; the column names are ``Bundle.targets``
    (see the module docstring for inputs, checks and ensembles).
    """
    if not isinstance(bundle, Bundle):
        bundle = open_bundle(bundle, key=key, key_file=key_file, trust_unsigned=trust_unsigned)
    prepared = prepare_input(bundle, data, resample=resample)
    return replay(bundle, prepared.sources)
