"""What the web UI shows beside a value: PNG plots embedded in Markdown, the runtime DAG as a
Mermaid diagram and a table, a polars table as Markdown."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import polars as pl

from nirs_core.graph.runtime import RuntimeGraph

__all__ = ["graph_markdown", "png_markdown", "spectrum_plot", "table_markdown"]


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown that shows ``png`` inline (a base64 data URI: the UI needs no file server)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def spectrum_plot(wavelengths: np.ndarray, X: np.ndarray, unit: str, title: str) -> bytes:
    """PNG of the mean spectrum ± one standard deviation."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    mean, std = X.mean(axis=0), X.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
    fig = Figure(figsize=(6.4, 3.2), dpi=90)
    ax = fig.add_subplot()
    ax.fill_between(wavelengths, mean - std, mean + std, alpha=0.3, label="± 1 std")
    ax.plot(wavelengths, mean, lw=1.2, label="mean")
    ax.set_xlabel(f"wavelength ({unit})")
    ax.set_ylabel("signal")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    if unit == "cm-1":
        ax.invert_xaxis()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def table_markdown(frame: pl.DataFrame, max_rows: int = 50) -> str:
    """A Markdown table of the first ``max_rows`` rows (floats with 4 significant digits)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value).replace("|", "\\|")

    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * frame.width
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.head(max_rows).iter_rows()]
    more = [f"\n… {frame.height - max_rows} more rows"] if frame.height > max_rows else []
    return "\n".join([head, rule, *rows, *more])


def graph_markdown(graph: RuntimeGraph) -> str:
    """The runtime DAG as a Mermaid flowchart followed by a table of its nodes."""
    ids = {node.id: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = ["```mermaid", "flowchart LR"]
    for node in graph.nodes:
        label = node.id if node.kind in ("input", "output") else f"{node.id}<br/>{node.kind}"
        lines.append(f'  {ids[node.id]}["{label}"]')
    for parent, child in graph.edges:
        lines.append(f"  {ids[parent]} --> {ids[child]}")
    lines.append("```")
    table = pl.DataFrame(
        {
            "node": [n.id for n in graph.nodes],
            "kind": [n.kind for n in graph.nodes],
            "parents": [", ".join(n.parents) for n in graph.nodes],
            "class": [n.class_path or "" for n in graph.nodes],
            "fits": [", ".join(sorted(n.artifacts)) for n in graph.nodes],
        }
    )
    return "\n".join(lines) + "\n\n" + table_markdown(table)
