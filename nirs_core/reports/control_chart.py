"""The control chart of ongoing checks (ISO 12099 §11) as a PNG: reference − NIR differences
in the order they were measured, the ±2·SEP warning and ±3·SEP action limits, the points that
broke a rule marked, and the verdict in the title (:func:`nirs_core.validation.control_chart`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["control_chart_png"]


def control_chart_png(differences: Sequence[float], chart: Mapping[str, Any], *, title: str = "") -> bytes:
    """PNG bytes of the chart evaluated as ``chart`` over ``differences``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from nirs_core.reports.datasheet import _png

    d = np.asarray(differences, dtype=np.float64)
    x = np.arange(1, d.size + 1)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(x, d, marker="o", ms=4, lw=1, color="C0", label="reference − NIR")
    ax.axhline(0.0, color="grey", lw=1)
    for sign in (-1, 1):
        ax.axhline(
            sign * chart["warning_limits"][1], color="C1", ls="--", lw=1, label="±2·SEP" if sign > 0 else None
        )
        ax.axhline(
            sign * chart["action_limits"][1], color="C3", ls="-", lw=1, label="±3·SEP" if sign > 0 else None
        )
    broken = sorted(
        set(chart["beyond_action"])
        | set(chart["two_of_three_beyond_warning"])
        | set(chart["run_on_one_side"])
    )
    if broken:
        ax.scatter(x[broken], d[broken], s=60, facecolors="none", edgecolors="C3", label="rule broken")
    ax.set(
        xlabel="reference sample (in order)",
        ylabel="reference − NIR",
        title=f"{title} {chart['verdict']}".strip(),
    )
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    png = _png(fig)
    plt.close(fig)
    return png
