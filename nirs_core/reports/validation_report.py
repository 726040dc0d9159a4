"""The validation part of the datasheet, what a QA reviewer signs: the statistics table
(ISO 12099: RMSEC / RMSECV / RMSEP, bias, SEP, slope, intercept, R², RPD, RPIQ) with the tests
and their verdicts, the number of latent variables and why (the RMSECV curve), the domain
limits and a T² vs Q plot of the calibration and test spectra, the interval method and its
empirical coverage on the test set. Called by :func:`nirs_core.reports.datasheet.build_datasheet`."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np

from nirs_core.names import REFIT_FOLD

__all__ = ["render_validation", "validation_section"]

_KEYS = ("n", "rmse", "bias", "sep", "slope", "intercept", "r2", "rpd", "rpiq")
_RMSE = {"calibration": "rmsec", "cv": "rmsecv", "test": "rmsep"}


class _Fitted:
    """A result's graph and artefacts as :func:`nirs_core.graph.replay.evaluate_nodes` reads
    them (the engine's own fresh bytes: nothing here comes from outside)."""

    def __init__(self, graph: Any, artifacts: Mapping[str, bytes]) -> None:
        self.graph, self.artifacts, self.input = graph, artifacts, {}

    def state(self, node_id: str, fit: str) -> Any:
        from nirs_core.graph.runtime import state_from_bytes

        node = self.graph.node(node_id)
        if not node.artifacts:
            return {}
        name = node.artifacts.get(fit) or next(iter(node.artifacts.values()))
        data = self.artifacts[name]
        return state_from_bytes(data) if name.endswith(".npz") else pickle.loads(data)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _domain_values(graph: Any, artifacts: Mapping[str, bytes], dataset: Any) -> dict[str, np.ndarray] | None:
    """T² and Q of the calibration and test spectra through the refit graph."""
    node = next((n for n in graph.nodes if n.kind == "domain"), None)
    if node is None or dataset is None:
        return None
    from nirs_core.graph.replay import evaluate_nodes

    partition = np.asarray(dataset.index.get_column("partition").to_list())
    sample = dataset.index.get_column("sample").to_numpy()
    measured = sample == dataset.index.get_column("origin").to_numpy()
    out = {}
    for part in ("train", "test"):
        rows = np.flatnonzero((partition == part) & measured)
        if rows.size:
            sources = [
                np.asarray(dataset.x(rows, source=k, processings=["raw"])[0], dtype=np.float64)
                for k in range(dataset.n_sources)
            ]
            out[part] = np.asarray(evaluate_nodes(_Fitted(graph, artifacts), sources)[node.id])
    return out


def _coverage(predictions: list[Mapping[str, Any]], half_width: list[float]) -> float | None:
    for row in predictions:
        if int(row.get("fold", 0)) == REFIT_FOLD and row.get("partition") == "test":
            q = int(row.get("n_targets") or 1)
            t = np.asarray(row["y_true"], dtype=np.float64).reshape(-1, q)
            p = np.asarray(row["y_pred"], dtype=np.float64).reshape(-1, q)
            return float(np.mean(np.abs(p[:, 0] - t[:, 0]) <= half_width[0]))
    return None


def _plot_domain(values: dict[str, np.ndarray], meta: Mapping[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from nirs_core.reports.datasheet import _png

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for part, label in (("train", "calibration"), ("test", "test")):
        if part in values:
            ax.scatter(values[part][:, 0], values[part][:, 1], s=14, alpha=0.8, label=label)
    ax.axvline(meta["t2_limit"], color="C3", lw=1, ls="--", label=f"T² limit {meta['t2_limit']:.3g}")
    ax.axhline(meta["q_limit"], color="C4", lw=1, ls="--", label=f"Q limit {meta['q_limit']:.3g}")
    ax.set(
        xscale="log", yscale="log", xlabel="Hotelling T²", ylabel="Q residual", title="Applicability domain"
    )
    ax.legend(fontsize="small")
    fig.tight_layout()
    png = _png(fig)
    plt.close(fig)
    return png


def _plot_curve(curve: list[list[float]], chosen: int | None) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from nirs_core.reports.datasheet import _png

    a, rmse = zip(*sorted(curve))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(a, rmse, marker="o")
    if chosen is not None:
        ax.axvline(chosen, color="C3", lw=1, ls="--", label=f"chosen: {chosen}")
        ax.legend()
    ax.set(xlabel="latent variables", ylabel="RMSECV", title="RMSECV by number of latent variables")
    fig.tight_layout()
    png = _png(fig)
    plt.close(fig)
    return png


def validation_section(
    graph: Any,
    artifacts: Mapping[str, bytes],
    info: Mapping[str, Any],
    predictions: list[Mapping[str, Any]],
    dataset: Any,
    *,
    plots: bool = True,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``(json, plots)`` of the validation report (module docstring);
    :func:`render_validation` writes its Markdown."""
    domain = info.get("domain") or None
    curve = info.get("rmsecv_curve") or None
    section: dict[str, Any] = {
        "statistics": info.get("validation") or {},
        "domain": domain,
        "rmsecv_curve": curve,
        "n_components": info.get("n_components"),
        "interval_test_coverage": None,
        "test_in_domain": None,
    }
    images: dict[str, bytes] = {}
    if curve and plots:
        images["rmsecv_curve.png"] = _plot_curve(curve, section["n_components"])
    if domain:
        if domain.get("interval"):
            section["interval_test_coverage"] = _coverage(predictions, domain["interval"]["half_width"])
        values = _domain_values(graph, artifacts, dataset) if graph is not None else None
        if values:
            if "test" in values:
                inside = (values["test"][:, 0] <= domain["t2_limit"]) & (
                    values["test"][:, 1] <= domain["q_limit"]
                )
                section["test_in_domain"] = float(np.mean(inside))
            if plots:
                images["domain_t2_q.png"] = _plot_domain(values, domain)
    return section, images


def _classification_lines(validation: Mapping[str, Any]) -> list[str]:
    """Accuracy per kind, then per-class precision / recall / F1 and the confusion matrix of
    the cross-validation (the test set's when there is no cross-validation)."""
    lines = []
    for kind in ("calibration", "cv", "test"):
        if kind in validation:
            v = validation[kind]
            lines.append(
                f"- {kind}: accuracy {_fmt(v.get('accuracy'))}, balanced accuracy "
                f"{_fmt(v.get('balanced_accuracy'))}, n {v.get('n')}"
            )
    kind = "cv" if "cv" in validation else "test" if "test" in validation else None
    if kind is None:
        return lines
    v = validation[kind]
    lines += ["", f"| class ({kind}) | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, c in v["per_class"].items():
        lines.append(
            f"| {name} | {_fmt(c['precision'])} | {_fmt(c['recall'])} | {_fmt(c['f1'])} | {c['support']} |"
        )
    classes = [str(c) for c in v["classes"]]
    lines += [
        "",
        "| reference \\ predicted | " + " | ".join(classes) + " |",
        "|---" * (len(classes) + 1) + "|",
    ]
    for name, counts in zip(classes, v["confusion_matrix"]):
        lines.append(f"| {name} | " + " | ".join(str(k) for k in counts) + " |")
    return lines


def render_validation(section: Mapping[str, Any]) -> list[str]:
    """The Markdown lines of a :func:`validation_section` json."""
    validation = section.get("statistics") or {}
    domain = section.get("domain")
    curve = section.get("rmsecv_curve")
    lines = ["", "## Validation (ISO 12099)", ""]
    kinds = [k for k in ("calibration", "cv", "test") if k in validation and "sep" in validation[k]]
    if kinds:
        lines += ["| statistic | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
        for key in _KEYS:
            cells = [validation[k].get(_RMSE[k] if key == "rmse" else key) for k in kinds]
            name = "RMSEC / RMSECV / RMSEP" if key == "rmse" else key
            lines.append(f"| {name} | " + " | ".join(_fmt(c) for c in cells) + " |")
        lines += ["", "| test (95 %) | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
        for test in ("bias", "slope", "sep"):
            cells = []
            for k in kinds:
                t = validation[k]["tests"].get(test)
                cells.append(
                    "—" if t is None else f"{t['verdict']} ({_fmt(t['statistic'])} vs {_fmt(t['limit'])})"
                )
            lines.append(f"| {test} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Bias: t = |bias|·√n/SEP against t(0.975, n−1); slope: t = |b−1|·√Σ(ŷ−ȳ̂)²/s_res against "
            "t(0.975, n−2); SEP: F = SEP²/SECV² against F(0.95, n−1, n_cv−1).",
        ]
    else:
        lines[1] = "## Validation"
        lines += _classification_lines(validation)
    if curve:
        lines += [
            "",
            f"Latent variables: {_fmt(section.get('n_components'))}, the count with the lowest RMSECV among "
            + ", ".join(f"{int(a)} ({r:.4g})" for a, r in sorted(curve))
            + " (plots/rmsecv_curve.png).",
        ]
    if domain:
        lines += [
            "",
            "### Applicability domain",
            "",
            f"Scores: {domain.get('scores')}; n = {domain.get('n_calibration')}.",
            f"Hotelling T² limit {_fmt(domain.get('t2_limit'))} ({domain.get('t2_limit_method')}); "
            f"Q limit {_fmt(domain.get('q_limit'))} ({domain.get('q_limit_method')}); "
            f"leverage limit {_fmt(domain.get('leverage_limit'))} (3(A+1)/n, ASTM E1655).",
            f"Calibration spectra beyond a limit: {_fmt(domain['calibration_false_alarms']['either'])}.",
        ]
        interval = domain.get("interval")
        if interval:
            coverage = section.get("interval_test_coverage")
            lines.append(
                f"Prediction interval: {interval['method']}; nominal coverage {interval['coverage']:.0%}, "
                f"half-width {_fmt(interval['half_width'][0])}; empirical coverage on the test set "
                f"{'—' if coverage is None else format(coverage, '.0%')}."
            )
        if section.get("test_in_domain") is not None:
            lines.append(f"Test spectra inside the domain: {section['test_in_domain']:.0%}.")
    return lines
