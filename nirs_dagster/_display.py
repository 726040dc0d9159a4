"""What the web UI shows beside a value: PNG plots embedded in Markdown, the runtime DAG as a
PNG picture and a table, a polars table as Markdown."""

from __future__ import annotations

import base64
import functools
import io
from typing import Any

import numpy as np
import polars as pl

from nirs_core.graph.runtime import Node, RuntimeGraph

__all__ = ["dag_layout", "dag_plot", "graph_markdown", "png_markdown", "spectrum_plot", "table_markdown"]


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


def dag_layout(graph: RuntimeGraph) -> dict[str, tuple[int, int]]:
    """``node id → (depth, slot)``: the depth is the length of the longest path from an input
    (a node one step below its deepest parent), the slot its place among the nodes of that
    depth, in the graph's order."""
    depth: dict[str, int] = {}
    for node in graph.topological_order():
        depth[node.id] = 1 + max((depth[p] for p in node.parents), default=-1)
    slots: dict[int, int] = {}
    layout = {}
    for node in graph.nodes:
        d = depth[node.id]
        layout[node.id] = (d, slots.get(d, 0))
        slots[d] = slots.get(d, 0) + 1
    return layout


def dag_plot(graph: RuntimeGraph, title: str = "") -> bytes:
    """PNG of the runtime DAG: one column per depth (:func:`dag_layout`), a box per node with
    its id and kind, an arrow from each parent to its child. Drawn once per shape and title
    (the configs of a sweep share a few shapes; a drawing costs a tenth of a second)."""
    shape = tuple((n.id, n.kind, tuple(n.parents)) for n in graph.nodes)
    return _dag_png(shape, title)


@functools.lru_cache(maxsize=256)
def _dag_png(shape: tuple[tuple[str, str, tuple[str, ...]], ...], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    graph = RuntimeGraph()
    for node_id, kind, parents in shape:
        graph.add(Node(node_id, kind, list(parents)))
    layout = dag_layout(graph)
    columns = 1 + max((d for d, _ in layout.values()), default=0)
    rows = 1 + max((s for _, s in layout.values()), default=0)
    width = max(len(n.id) for n in graph.nodes) if graph.nodes else 8
    fig = Figure(figsize=(max(4.0, columns * (0.09 * width + 0.9)), max(1.6, rows * 0.9 + 0.6)), dpi=90)
    ax = fig.add_subplot()
    ax.set_axis_off()
    centre = {nid: (d, -(s - (rows - 1) / 2)) for nid, (d, s) in layout.items()}
    colours = {"input": "#d9ead3", "output": "#d9ead3", "model": "#fce5cd", "pickled": "#f4cccc"}
    boxes = {}
    for node in graph.nodes:
        x, y = centre[node.id]
        text = ax.text(
            x,
            y,
            f"{node.id}\n{node.kind}",
            ha="center",
            va="center",
            fontsize=8,
            zorder=3,
            bbox={
                "boxstyle": "round,pad=0.4",
                "facecolor": colours.get(node.kind, "#cfe2f3"),
                "edgecolor": "#444",
            },
        )
        boxes[node.id] = text.get_bbox_patch()
    ax.set_xlim(-0.6, columns - 0.4)
    skips = any(centre[c][0] - centre[p][0] > 1 for p, c in graph.edges)
    ax.set_ylim(-rows / 2 - 0.1, rows / 2 + (0.4 if skips else 0.1))
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    FigureCanvasAgg(fig).draw()  # places the boxes, so that the arrows end at their borders
    for parent, child in graph.edges:
        # an edge that skips a column bends, so that it does not run through the boxes between
        skip = centre[child][0] - centre[parent][0] - 1
        bend = -0.1 / skip if skip > 0 else 0.0
        ax.add_patch(
            FancyArrowPatch(
                centre[parent],
                centre[child],
                patchA=boxes[parent],
                patchB=boxes[child],
                arrowstyle="-|>",
                mutation_scale=10,
                color="#444",
                zorder=2,
                clip_on=False,
                connectionstyle=f"arc3,rad={bend}",
            )
        )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def graph_markdown(graph: RuntimeGraph, alt: str = "runtime DAG") -> str:
    """The runtime DAG as an inline PNG picture (:func:`dag_plot`; ``alt`` its text) followed by
    a table of its nodes."""
    table = pl.DataFrame(
        {
            "node": [n.id for n in graph.nodes],
            "kind": [n.kind for n in graph.nodes],
            "parents": [", ".join(n.parents) for n in graph.nodes],
            "class": [n.class_path or "" for n in graph.nodes],
            "fits": [", ".join(sorted(n.artifacts)) for n in graph.nodes],
        }
    )
    return png_markdown(dag_plot(graph), alt) + "\n\n" + table_markdown(table)
