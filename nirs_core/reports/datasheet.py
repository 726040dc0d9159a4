"""The datasheet (model card) of a fitted pipeline: Markdown for people, JSON for tools, and
PNG plots referenced from the Markdown.

Contents: the dataset's identity (name, file sha256, content hash, n_samples, partitions,
wavelength range and unit, target statistics); the template and the chosen config (canonical
JSON and the generator choices); the cross-validation and test metrics; lineage (dataset file
and content hashes, the runtime DAG's ``structure_hash``, config and template ids); package
versions; the creation time; and three plots: predicted vs measured (pooled out-of-fold and
test), residuals, and the mean training spectrum ± one standard deviation with the wavelength
range the pipeline uses shaded.

matplotlib is imported here, lazily and with the Agg backend, when plots are drawn; replay
never imports this module.
"""

from __future__ import annotations

import io
import json
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from nirs_core.names import POOLED_FOLD, REFIT_FOLD

__all__ = ["DATASHEET_FORMAT", "build_datasheet", "package_versions", "render_markdown"]

DATASHEET_FORMAT = "nirs.datasheet/1"
_PACKAGES = (
    "nirs-dagster",
    "numpy",
    "scipy",
    "scikit-learn",
    "polars",
    "pyarrow",
    "cloudpickle",
    "matplotlib",
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape a model's numbers, plus Python's."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["platform"] = f"{platform.system()} {platform.machine()}"
    return out


def _field(source: Any, name: str, default: Any = None) -> Any:
    if isinstance(source, Mapping):
        return source.get(name, default)
    return getattr(source, name, default)


def _rows(predictions: list[Mapping[str, Any]], fold: int, partition: str) -> dict[str, np.ndarray] | None:
    """y_true / y_pred (n, targets) of the first prediction row with this fold and partition."""
    for row in predictions:
        if int(row.get("fold", 0)) == fold and row.get("partition") == partition:
            n, t = int(row["n_samples"]), int(row.get("n_targets") or 1)
            try:
                true = np.asarray(row["y_true"], dtype=np.float64).reshape(n, t)
                pred = np.asarray(row["y_pred"], dtype=np.float64).reshape(n, t)
            except (TypeError, ValueError):
                return None
            return {"y_true": true, "y_pred": pred}
    return None


def _dataset_identity(dataset: Any, info: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    if dataset is None:
        given = info.get("dataset") if isinstance(info.get("dataset"), Mapping) else {}
        return {"name": name, **{k: v for k, v in given.items() if k != "name"}}
    meta = dataset.get_metadata()
    return {
        "name": meta.get("name"),
        "path": meta.get("path"),
        "sha256": meta.get("sha256"),
        "content_hash": dataset.content_hash(),
        "file_size": meta.get("file_size"),
        "n_samples": meta.get("n_samples"),
        "partitions": meta.get("partitions"),
        "n_sources": meta.get("n_sources"),
        "n_features": meta.get("n_features"),
        "wavelength_range": meta.get("wavelength_range"),
        "wavelength_unit": meta.get("wavelength_unit"),
        "task": meta.get("task"),
        "targets": meta.get("targets"),
    }


def _selected_columns(graph: Any, artifacts: Mapping[str, bytes], n_features: int) -> np.ndarray:
    """Columns of source 0 that reach the model: crops and column selections applied in
    topological order (other transforms keep every column)."""
    from nirs_core.graph.runtime import state_from_bytes

    cols = np.arange(n_features)
    for node in graph.topological_order():
        kernel = node.kernel or ""
        if not (kernel.endswith(":crop") or kernel.endswith(":select_columns")):
            continue
        file_name = node.artifacts.get("refit") or next(iter(node.artifacts.values()), None)
        if file_name is None or file_name not in artifacts:
            continue
        state = state_from_bytes(artifacts[file_name])
        if kernel.endswith(":crop"):
            cols = cols[int(state["start_index"]) : int(state["stop_index"])]
        else:
            cols = cols[np.asarray(state["indices"], dtype=np.intp)]
    return cols


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _plots(
    val: dict[str, np.ndarray] | None,
    test: dict[str, np.ndarray] | None,
    dataset: Any,
    selected: np.ndarray | None,
    targets: list[str],
) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plots: dict[str, bytes] = {}
    series = [(label, d) for label, d in (("cross-validation", val), ("test", test)) if d is not None]
    if series:
        fig, ax = plt.subplots(figsize=(5, 5))
        for label, d in series:
            ax.scatter(d["y_true"][:, 0], d["y_pred"][:, 0], s=14, label=label, alpha=0.8)
        both = np.concatenate([np.r_[d["y_true"][:, 0], d["y_pred"][:, 0]] for _, d in series])
        lo, hi = float(both.min()), float(both.max())
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
        name = targets[0] if targets else "target"
        ax.set(xlabel=f"measured {name}", ylabel=f"predicted {name}", title="Predicted vs measured")
        ax.legend()
        fig.tight_layout()
        plots["predicted_vs_measured.png"] = _png(fig)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(6, 4))
        for label, d in series:
            ax.scatter(d["y_true"][:, 0], d["y_pred"][:, 0] - d["y_true"][:, 0], s=14, label=label, alpha=0.8)
        ax.axhline(0.0, color="grey", lw=1)
        ax.set(xlabel=f"measured {name}", ylabel="residual (predicted − measured)", title="Residuals")
        ax.legend()
        fig.tight_layout()
        plots["residuals.png"] = _png(fig)
        plt.close(fig)

    if dataset is not None:
        partition = dataset.index.get_column("partition").to_numpy()
        rows = np.flatnonzero(partition == "train")
        X = np.asarray(
            dataset.x(rows if rows.size else None, source=0, processings=["raw"])[0], dtype=np.float64
        )
        wl = np.asarray(dataset.wavelengths(0), dtype=np.float64)
        mean, std = X.mean(axis=0), X.std(axis=0)
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(wl, mean, color="C0", lw=1.2, label="mean (training spectra)")
        ax.fill_between(wl, mean - std, mean + std, color="C0", alpha=0.25, label="± 1 std")
        if selected is not None and selected.size:
            lo, hi = float(wl[selected].min()), float(wl[selected].max())
            ax.axvspan(lo, hi, color="C2", alpha=0.12, label=f"used range {lo:g}–{hi:g}")
        ax.set(xlabel=f"wavelength ({dataset.unit(0)})", ylabel="signal", title="Mean spectrum")
        ax.legend(fontsize="small")
        fig.tight_layout()
        plots["mean_spectrum.png"] = _png(fig)
        plt.close(fig)
    return plots


def build_datasheet(
    source: Any,
    *,
    dataset: Any = None,
    template: Any = None,
    bundle_info: Mapping[str, Any] | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """``{"markdown": str, "json": dict, "plots": {file name: PNG bytes}}`` for a result
    (a :class:`~nirs_core.pipeline.result.Result` or a mapping with its field names).

    ``dataset``: the training :class:`~nirs_core.data.SpectroDataset` (identity, statistics
    and the mean-spectrum plot; without it the identity comes from ``result.info["dataset"]``).
    ``template``: the template as text or object. The plots are referenced from the Markdown
    as ``plots/<name>.png``.
    """
    from nirs_core.pipeline.serialize import canonical_json

    graph = _field(source, "graph")
    artifacts = _field(source, "artifacts") or {}
    info = dict(_field(source, "info") or {})
    predictions = list(_field(source, "predictions") or [])
    targets = list((graph.outputs.get("targets") if graph is not None else None) or [])
    config = _field(source, "config")
    identity = _dataset_identity(dataset, info, _field(source, "dataset"))
    selected = None
    if graph is not None and dataset is not None:
        selected = _selected_columns(graph, artifacts, int(dataset.n_features[0]))
    wl_range = None
    if selected is not None and selected.size:
        wl = np.asarray(dataset.wavelengths(0), dtype=np.float64)
        wl_range = [float(wl[selected].min()), float(wl[selected].max())]
    val = _rows(predictions, POOLED_FOLD, "val")
    test = _rows(predictions, REFIT_FOLD, "test")
    template_text = None
    if template is not None:
        template_text = template if isinstance(template, str) else json.dumps(template, indent=1, default=str)
    sheet = {
        "format": DATASHEET_FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "config_id": _field(source, "config_id"),
            "config_name": _field(source, "config_name"),
            "task": _field(source, "task") or (graph.outputs.get("task") if graph is not None else None),
            "targets": targets,
            "fits": (bundle_info or {}).get("fits"),
        },
        "dataset": identity,
        "template": {"id": _field(source, "template_id"), "text": template_text},
        "config": {
            "canonical_json": canonical_json(config) if config is not None else None,
            "choices": _field(source, "choices") or [],
        },
        "metrics": {
            "metric": _field(source, "metric"),
            "cv_score": _field(source, "cv_score"),
            "test_score": _field(source, "test_score"),
            "scores": _field(source, "scores") or {},
            "n_train": _field(source, "n_train"),
            "n_test": _field(source, "n_test"),
        },
        "selected_wavelength_range": wl_range,
        "lineage": {
            "dataset_sha256": identity.get("sha256"),
            "dataset_content_hash": identity.get("content_hash"),
            "graph_structure_hash": graph.structure_hash() if graph is not None else None,
            "config_id": _field(source, "config_id"),
            "template_id": _field(source, "template_id"),
        },
        "versions": package_versions(),
        "plots": [],
    }
    images = _plots(val, test, dataset, selected, targets) if plots else {}
    from nirs_core.reports.validation_report import validation_section

    sheet["validation"], extra = validation_section(graph, artifacts, info, predictions, dataset, plots=plots)
    images.update(extra)
    sheet["plots"] = sorted(images)
    return {"markdown": render_markdown(sheet), "json": sheet, "plots": images}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render_markdown(sheet: Mapping[str, Any]) -> str:
    """The Markdown page of a datasheet dict (as built by :func:`build_datasheet`)."""
    model, ds, metrics = sheet["model"], sheet["dataset"], sheet["metrics"]
    lines = [
        f"# Datasheet: {model.get('config_name') or model.get('config_id') or 'model'}",
        "",
        f"Created {sheet['created_at']} · task {_fmt(model.get('task'))} · "
        f"targets {', '.join(model.get('targets') or []) or '—'}",
        "",
        "## Dataset",
        "",
        "| field | value |",
        "|---|---|",
    ]
    for key in (
        "name",
        "path",
        "sha256",
        "content_hash",
        "n_samples",
        "partitions",
        "n_features",
        "wavelength_range",
        "wavelength_unit",
    ):
        if key in ds:
            lines.append(f"| {key} | {_fmt(ds.get(key))} |")
    targets = ds.get("targets") or {}
    if targets:
        lines += ["", "| target | min | max | mean | std |", "|---|---|---|---|---|"]
        for name, stats in targets.items():
            if isinstance(stats, Mapping):
                cells = " | ".join(_fmt(stats.get(k)) for k in ("min", "max", "mean", "std"))
                lines.append(f"| {name} | {cells} |")
    lines += [
        "",
        "## Metrics",
        "",
        f"Selection metric **{_fmt(metrics.get('metric'))}**: cross-validation "
        f"{_fmt(metrics.get('cv_score'))}, test {_fmt(metrics.get('test_score'))} "
        f"(n_train {_fmt(metrics.get('n_train'))}, n_test {_fmt(metrics.get('n_test'))}).",
    ]
    scores = metrics.get("scores") or {}
    if scores:
        names = sorted({m for part in scores.values() for m in part})
        lines += ["", "| partition | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for part, values in scores.items():
            lines.append(f"| {part} | " + " | ".join(_fmt(values.get(m)) for m in names) + " |")
    if sheet.get("selected_wavelength_range"):
        lo, hi = sheet["selected_wavelength_range"]
        lines += ["", f"Wavelength range used by the model: {lo:g}–{hi:g} {_fmt(ds.get('wavelength_unit'))}."]
    if sheet.get("validation"):
        from nirs_core.reports.validation_report import render_validation

        lines += render_validation(sheet["validation"])
    lines += ["", "## Config", "", "```json", _fmt(sheet["config"].get("canonical_json")), "```"]
    for choice in sheet["config"].get("choices") or []:
        lines.append(f"- {choice.get('path')}: {choice.get('value')!r}")
    template = sheet.get("template") or {}
    if template.get("text"):
        lines += [
            "",
            f"### Template {_fmt(template.get('id'))}",
            "",
            "```yaml",
            template["text"].rstrip(),
            "```",
        ]
    lineage = sheet["lineage"]
    lines += ["", "## Lineage", ""] + [f"- {k}: `{_fmt(v)}`" for k, v in lineage.items()]
    lines += ["", "## Versions", ""] + [f"- {k}: {_fmt(v)}" for k, v in sheet["versions"].items()]
    if sheet.get("plots"):
        lines += ["", "## Plots", ""] + [f"![{p.removesuffix('.png')}](plots/{p})" for p in sheet["plots"]]
    return "\n".join(lines) + "\n"
