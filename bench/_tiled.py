"""A larger dataset made from a real one, for benchmarks: its calibration spectra repeated
with noise to a given number of rows, its test rows unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["tiled_dataset", "write_cal_val"]


def tiled_dataset(seed_ds, rows: int):
    """The calibration spectra of ``seed_ds`` repeated to ``rows`` rows with noise (block by
    block, so no temporary as large as the result), plus its test rows unchanged."""
    from nirs_core.data import SpectroDataset

    Xcal = np.asarray(seed_ds.x({"partition": "train"}, src_concat=True)[0])
    ycal = np.asarray(seed_ds.y({"partition": "train"})).ravel()
    Xtest = np.asarray(seed_ds.x({"partition": "test"}, src_concat=True)[0])
    ytest = np.asarray(seed_ds.y({"partition": "test"})).ravel()
    n_test, p = len(Xtest), Xcal.shape[1]
    rng = np.random.default_rng(0)
    X = np.empty((rows + n_test, p))
    y = np.empty(rows + n_test)
    noise = 1e-3 * float(Xcal.std())
    for start in range(0, rows, 1000):
        stop = min(start + 1000, rows)
        idx = np.arange(start, stop) % len(Xcal)
        X[start:stop] = Xcal[idx] + rng.normal(0.0, noise, (stop - start, p))
        y[start:stop] = ycal[idx]
    X[rows:], y[rows:] = Xtest, ytest
    part = np.array(["train"] * rows + ["test"] * n_test, dtype=object)
    return SpectroDataset.from_arrays(
        X,
        y,
        partition=part,
        name=f"tiled{rows}",
        wavelengths=seed_ds.wavelengths(),
        target_names=seed_ds.target_names,
    )


def write_cal_val(ds, folder: Path) -> Path:
    """``ds`` (one target, ``train`` and ``test`` rows) as a ``cal_val`` folder like
    ``../shared/data/corn``: ``Xcal/Ycal/Xval/Yval.csv``, ``;``-delimited, wavelengths as the
    X headers."""
    folder.mkdir(parents=True, exist_ok=True)
    axis = ds.wavelengths()
    for part, suffix in (("train", "cal"), ("test", "val")):
        X = np.asarray(ds.x({"partition": part}, src_concat=True)[0])
        y = np.asarray(ds.y({"partition": part})).ravel()
        header = ";".join(f"{w:g}" for w in axis)
        np.savetxt(folder / f"X{suffix}.csv", X, delimiter=";", header=header, comments="", fmt="%.10g")
        name = ds.target_names[0] if ds.target_names else "y"
        np.savetxt(folder / f"Y{suffix}.csv", y, header=name, comments="", fmt="%.10g")
    return folder
