"""Validation of the spectra of one dataset, shared by the ``spectra`` asset (which refuses to
store an invalid value, so the last good one stays in place and nothing downstream reads the
bad one) and the blocking ``spectra_valid`` asset check (which reports on every stored value)."""

from typing import Any

import numpy as np
import pandera.polars as pa
import polars as pl

from nirs_core.data import SpectroDataset

__all__ = ["MIN_SAMPLES", "axis_schema", "spectra_problems", "spectra_schema"]

#: Fewest calibration samples a dataset needs (a 5-fold cross-validation keeps 4 per fit).
MIN_SAMPLES = 10


def _all_finite(frame: pl.DataFrame) -> bool:
    return bool(np.isfinite(frame.to_numpy()).all())


def _strictly_monotonic(column: pl.Series) -> bool:
    steps = np.diff(column.to_numpy())
    return bool((steps > 0).all() or (steps < 0).all())


spectra_schema = pa.DataFrameSchema(
    checks=[pa.Check(lambda data: _all_finite(data.lazyframe.collect()), error="every value finite")],
    name="spectra",
)
axis_schema = pa.DataFrameSchema(
    {
        "wavelength": pa.Column(
            float,
            checks=[
                pa.Check(
                    lambda data: _strictly_monotonic(data.lazyframe.collect()["wavelength"]),
                    error="strictly monotonic",
                ),
            ],
            unique=True,
        )
    },
    name="wavelength axis",
)


def _calibration_schema(min_samples: int) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {"sample": pa.Column(int)},
        checks=[
            pa.Check(
                lambda data: data.lazyframe.collect().height >= min_samples,
                error=f"at least {min_samples} calibration samples",
            )
        ],
        name="calibration rows",
    )


def _failures(schema: pa.DataFrameSchema, frame: pl.DataFrame) -> list[str]:
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return sorted(
            {
                f"{schema.name}: {e.reason_code.name if e.reason_code else ''} {e}".strip()
                for e in exc.schema_errors
            }
        )
    return []


def spectra_problems(spectra: SpectroDataset) -> tuple[list[str], dict[str, Any]]:
    """(problems, metadata): spectra finite, wavelengths strictly monotonic and unique, enough
    calibration samples; no problem means valid."""
    (X,) = spectra.x(src_concat=True)
    wide = pl.DataFrame(X, schema=[f"x{i}" for i in range(X.shape[1])], orient="row")
    axis = pl.DataFrame({"wavelength": np.asarray(spectra.wavelengths(), dtype=np.float64)})
    rows = spectra.rows({"partition": "train"}, include_augmented=False)
    n_cal = len(np.arange(spectra.n_rows)[rows])
    cal = pl.DataFrame({"sample": np.arange(n_cal, dtype=np.int64)})
    problems = (
        _failures(spectra_schema, wide)
        + _failures(axis_schema, axis)
        + _failures(_calibration_schema(MIN_SAMPLES), cal)
    )
    return problems, {"calibration_samples": n_cal, "non_finite_values": int((~np.isfinite(X)).sum())}
