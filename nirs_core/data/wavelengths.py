"""The spectral axis of a source: its values and unit, inferred from the numbers when not
stated and always recorded with the reason, so loading never guesses silently."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nirs_core.errors import DataError

__all__ = ["UNITS", "Axis", "infer_unit", "validate_axis"]

UNITS = ("nm", "cm-1", "index")
_UNIT_ALIASES = {
    "nm": "nm",
    "nanometer": "nm",
    "nanometers": "nm",
    "cm-1": "cm-1",
    "cm^-1": "cm-1",
    "cm⁻¹": "cm-1",
    "1/cm": "cm-1",
    "wavenumber": "cm-1",
    "wavenumbers": "cm-1",
    "index": "index",
    "channel": "index",
}


@dataclass(frozen=True)
class Axis:
    """A source's spectral axis: ``values`` (1-D float64), ``unit`` and how the unit was decided."""

    values: np.ndarray
    unit: str
    unit_source: str  # "given" or the inference rule that decided it

    @property
    def range(self) -> tuple[float, float]:
        return float(self.values.min()), float(self.values.max())

    def to_dict(self) -> dict:
        return {"values": self.values.tolist(), "unit": self.unit, "unit_source": self.unit_source}

    @classmethod
    def from_dict(cls, data: dict) -> Axis:
        return cls(np.asarray(data["values"], dtype=np.float64), data["unit"], data["unit_source"])


def normalise_unit(unit: str, where: str = "unit") -> str:
    key = str(unit).strip().lower()
    if key not in _UNIT_ALIASES and str(unit).strip() not in _UNIT_ALIASES:
        raise DataError(f"{where}: expected one of {', '.join(UNITS)}; got {unit!r}.")
    return _UNIT_ALIASES.get(key, _UNIT_ALIASES.get(str(unit).strip()))


def infer_unit(values: np.ndarray | None) -> tuple[str, str]:
    """Guess the unit of an axis from its numbers; returns ``(unit, reason)``.

    Rules, in order (NIR instruments report nanometres on a regular grid, 350–2600 nm;
    FTIR/mid-IR and Raman report wavenumbers, often descending and on an irregular grid
    once rounded):

    - no axis, or the integers 0..p-1 (or 1..p) → ``index`` (channel numbers);
    - descending values → ``cm-1``;
    - any value above 2600 or below 350 → ``cm-1``;
    - a regular grid (all steps equal) inside 350–2600 → ``nm``;
    - an irregular grid inside 350–2600 → ``cm-1``.
    """
    if values is None:
        return "index", "no axis given: channel index"
    v = np.asarray(values, dtype=np.float64)
    p = v.size
    if p >= 1 and (np.array_equal(v, np.arange(p)) or np.array_equal(v, np.arange(1, p + 1))):
        return "index", "values are the channel numbers 0..p-1 or 1..p"
    if p >= 2 and v[0] > v[-1]:
        return "cm-1", "descending axis: wavenumbers are usually listed high to low"
    if v.max() > 2600 or v.min() < 350:
        return "cm-1", f"values span {v.min():g}–{v.max():g}, outside the NIR nanometre range 350–2600"
    steps = np.diff(v)
    if p < 3 or np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9):
        reason = f"regular grid ({steps[0]:g} step)" if p >= 2 else "a single value"
        return "nm", f"{reason} inside 350–2600: nanometres"
    return "cm-1", "irregular grid inside 350–2600: wavenumbers converted from an FTIR axis"


def validate_axis(values, n_features: int, where: str) -> np.ndarray:
    """A float64 copy of ``values`` after checking length, finiteness and strict monotonicity."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size != n_features:
        raise DataError(f"{where}: expected {n_features} wavelengths (one per column); got {v.size}.")
    if not np.all(np.isfinite(v)):
        bad = int(np.flatnonzero(~np.isfinite(v))[0])
        raise DataError(f"{where}: wavelength {bad + 1} is {v[bad]}; expected a finite number.")
    if v.size >= 2:
        d = np.diff(v)
        if not (np.all(d > 0) or np.all(d < 0)):
            i = (
                int(np.flatnonzero(d == 0)[0])
                if np.any(d == 0)
                else int(np.flatnonzero(np.sign(d) != np.sign(d[0]))[0])
            )
            kind = "duplicated" if d[i] == 0 else "non-monotonic"
            raise DataError(
                f"{where}: {kind} wavelengths at columns {i + 1} and {i + 2} "
                f"({v[i]:g}, {v[i + 1]:g}); expected a strictly increasing or decreasing axis."
            )
    return v
