"""Ongoing checks of a calibration (ISO 12099 §11): new reference samples (spectra and
laboratory values) are predicted with the bundle and their reference − NIR differences added to
a control chart with warning (±2·SEP) and action (±3·SEP) limits and a run rule
(:func:`nirs_core.validation.control_chart`). The SEP is the bundle's test SEP (its
cross-validation SEP without a test set).

:func:`chart_points` predicts one batch; :func:`evaluate_chart` evaluates points without storing
them (the Dagster check over a folder of reference files); :func:`monitor` appends a batch to
the chart's history (CSV) and writes the chart (PNG), both atomically (what ``nirs monitor``
does)."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nirs_core.errors import ConfigError, DataError
from nirs_core.graph.replay import prepare_input, replay_table
from nirs_core.store._atomic import atomic_write_bytes, atomic_write_text
from nirs_core.store.bundle import Bundle, open_bundle
from nirs_core.validation import control_chart

__all__ = ["HISTORY_COLUMNS", "chart_points", "chart_sep", "evaluate_chart", "monitor"]

HISTORY_COLUMNS = ("added_at", "sample", "reference", "predicted", "difference", "in_domain")


def chart_sep(bundle: Bundle) -> tuple[float, str]:
    """(SEP, where it comes from) of the bundle's validation: test, else cross-validation."""
    validation = bundle.info.get("validation") or {}
    for kind in ("test", "cv"):
        sep = (validation.get(kind) or {}).get("sep")
        if sep is not None and sep > 0:
            return float(sep), kind
    raise ConfigError(
        f"{bundle.path}: the bundle records no validation SEP (test or cv); a control chart needs one "
        "(retrain it with this version and a split step)."
    )


def chart_points(bundle: Bundle, reference: Any, *, target: str | None = None) -> dict[str, np.ndarray]:
    """``sample``, ``reference``, ``predicted``, ``difference`` (reference − predicted) and
    ``in_domain`` of every spectrum of ``reference`` (a path any loader reads, with the
    laboratory values, or a :class:`~nirs_core.data.SpectroDataset`), in row order."""
    from nirs_core.data import load

    if bundle.task != "regression":
        raise ConfigError(
            f"{bundle.path}: a control chart needs a regression bundle; this one is {bundle.task}."
        )
    wanted = target or (bundle.targets[0] if bundle.targets else None)
    if hasattr(reference, "n_sources"):
        ds = reference
    else:
        # one file: its laboratory value column is the bundle's target unless named otherwise
        single = Path(reference).is_file() and wanted is not None
        ds = load(reference, **({"target": wanted} if single else {}))
    where = str(getattr(ds, "path", None) or reference)
    names = list(ds.target_names)
    if not names:
        raise DataError(f"{where}: no laboratory values; expected a column {wanted!r} beside the spectra.")
    column = names.index(wanted) if wanted in names else 0
    y = np.asarray(ds.y(None, version="regression"), dtype=np.float64)[:, column]
    prepared = prepare_input(bundle, ds)
    table = replay_table(bundle, prepared.sources)
    predicted = np.asarray(table[bundle.targets[0]] if bundle.targets else next(iter(table.values())))
    sample = prepared.sample if prepared.sample is not None else np.arange(y.size)
    return {
        "sample": np.asarray(sample),
        "reference": y,
        "predicted": predicted,
        "difference": y - predicted,
        "in_domain": np.asarray(table["in_domain"], dtype=bool),
    }


def evaluate_chart(bundle: Bundle, differences: Sequence[float], *, run_length: int = 9) -> dict[str, Any]:
    """The control chart of ``differences`` with the bundle's SEP."""
    sep, kind = chart_sep(bundle)
    return {**control_chart(differences, sep, run_length=run_length), "sep_from": kind}


def _read_history(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != HISTORY_COLUMNS:
            raise DataError(
                f"{path}: expected a control chart history with columns {list(HISTORY_COLUMNS)}; got {reader.fieldnames}."
            )
        rows = list(reader)
    for i, row in enumerate(rows, start=2):
        try:
            float(row["difference"])
        except (TypeError, ValueError):
            raise DataError(
                f"{path}: row {i}, column 'difference': expected a number; got {row['difference']!r}."
            ) from None
    return rows


def monitor(
    bundle: Bundle | str | os.PathLike[str],
    reference: Any,
    *,
    history: str | os.PathLike[str] | None = None,
    png: str | os.PathLike[str] | None = None,
    target: str | None = None,
    run_length: int = 9,
    key: bytes | str | None = None,
    key_file: str | os.PathLike[str] | None = None,
    public_key: Any = None,
    trust_unsigned: bool = False,
) -> dict[str, Any]:
    """Predict ``reference``, append its points to ``history`` (default: the bundle's path with
    ``.monitor.csv``), evaluate the whole chart and write it to ``png`` (default: the history
    with ``.png``). Returns ``{"added", "in_domain", "chart", "history", "png"}``."""
    if not isinstance(bundle, Bundle):
        bundle = open_bundle(
            bundle, key=key, key_file=key_file, public_key=public_key, trust_unsigned=trust_unsigned
        )
    history = Path(history) if history is not None else bundle.path.with_suffix(".monitor.csv")
    png = Path(png) if png is not None else history.with_suffix(".png")
    points = chart_points(bundle, reference, target=target)
    rows = _read_history(history)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for i in range(points["difference"].size):
        rows.append(
            {
                "added_at": now,
                "sample": str(
                    points["sample"][i].item()
                    if hasattr(points["sample"][i], "item")
                    else points["sample"][i]
                ),
                "reference": repr(float(points["reference"][i])),
                "predicted": repr(float(points["predicted"][i])),
                "difference": repr(float(points["difference"][i])),
                "in_domain": str(bool(points["in_domain"][i])).lower(),
            }
        )
    differences = [float(r["difference"]) for r in rows]
    chart = evaluate_chart(bundle, differences, run_length=run_length)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(history, buffer.getvalue())
    from nirs_core.reports.control_chart import control_chart_png

    atomic_write_bytes(
        png, control_chart_png(differences, chart, title=f"{bundle.info.get('config_name') or ''}:")
    )
    return {
        "added": int(points["difference"].size),
        "in_domain": float(points["in_domain"].mean()),
        "chart": chart,
        "history": str(history),
        "png": str(png),
    }
