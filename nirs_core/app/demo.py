"""The bundled demo data: real measured spectra shipped inside a dependency, so that a fresh
install has something true to look at without any download.

``fermentation``: lignocellulosic fermentation followed by ATR-FTIR (mid-IR), 428–1833 cm⁻¹,
target glucose (g/L): 21 spectra of standards and 34 on-line spectra of the fermentation, each
the spectrum nearest an HPLC sample. A model of the 21 standards alone puts every on-line
spectrum outside its domain (Hotelling T² 6–13 times its limit) and predicts them with an RMSEP
of about 10 g/L against an RMSECV of 1.1: the standards do not span the process's matrix. So
the calibration set is the standards plus every other on-line spectrum (in time order: 21 + 17
= 38) and the test set the other 17 on-line spectra, which the calibration then represents
(ISO 12099 §5: the calibration samples span the population to be analysed). Shipped by the
PyPI package ``chemotools`` (MIT); DTU PROSYS, Cabaneros López et al., Biotechnology and
Bioengineering (2021), doi 10.1002/bit.27586.

``coffee``: roasted coffee, ATR-FTIR, 60 spectra × 1841 channels, origin Ethiopia / Brasil /
Vietnam (classification). Shipped by ``chemotools`` (MIT).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from nirs_core.data.dataset import SpectroDataset
from nirs_core.errors import DataError

__all__ = ["DEMOS", "load_demo"]

DEMOS = {
    "fermentation": "ATR-FTIR of a lignocellulosic fermentation, glucose g/L (chemotools, DTU PROSYS, doi 10.1002/bit.27586)",
    "coffee": "ATR-FTIR of roasted coffee, origin Ethiopia/Brasil/Vietnam (chemotools)",
}


def load_demo(name: str = "fermentation") -> SpectroDataset:
    """A demo dataset as a SpectroDataset (see the module docstring for sources)."""
    try:
        from chemotools import datasets
    except ImportError as exc:  # pragma: no cover - chemotools is a dependency
        raise DataError("demo data needs the package chemotools (pip install chemotools).") from exc
    if name == "fermentation":
        X_tr, y_tr = datasets.load_fermentation_train(set_output="polars")
        online, hplc = datasets.load_fermentation_test(set_output="polars")
        # The on-line spectra come every 1.25 min (48 per hour: 1629 spectra over 33.9 h);
        # each HPLC sample is paired with the spectrum nearest its time.
        rows = np.rint(hplc["time"].to_numpy() * 48.0).astype(np.int64)
        if rows.max() >= online.height:
            raise DataError(
                f"demo fermentation: HPLC time {hplc['time'].max()} h is after the last spectrum."
            )
        wl = np.array([float(c) for c in X_tr.columns])
        X = np.vstack([X_tr.to_numpy(), online.select(X_tr.columns).to_numpy()[rows]]).astype(np.float64)
        y = pl.concat([y_tr.select("glucose"), hplc.select("glucose")]).cast(pl.Float64)
        # every other on-line spectrum (time order) joins the standards in the calibration set
        part = ["train"] * X_tr.height + ["train" if i % 2 == 0 else "test" for i in range(len(rows))]
        return SpectroDataset.from_arrays(
            X,
            y,
            name="fermentation",
            wavelengths=wl,
            units="cm-1",
            partition=part,
            load_info={
                "layout": "demo",
                "source": DEMOS[name],
                "unit": "cm-1 (stated by the data's documentation)",
                "test pairing": "on-line spectrum nearest each HPLC time (48 spectra per hour)",
                "partition": "train: the 21 standards and the 1st, 3rd, … on-line spectra; test: the others",
            },
        )
    if name == "coffee":
        X_df, y_df = datasets.load_coffee(set_output="polars")
        return SpectroDataset.from_arrays(
            X_df.to_numpy().astype(np.float64),
            y_df.select(y_df.columns[0]),
            name="coffee",
            load_info={"layout": "demo", "source": DEMOS[name], "unit": "index (no axis shipped)"},
        )
    raise DataError(f"demo: unknown dataset {name!r}; expected one of {sorted(DEMOS)}.")
