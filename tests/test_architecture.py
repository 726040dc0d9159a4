"""The engine's architecture: one direction of dependency between its parts (the import-linter
contracts in pyproject.toml, imports inside functions included) and no Dagster import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_lint_imports_keeps_every_contract():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    done = subprocess.run(
        [exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def _part_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("nirs_core")
    parts = sorted({m.split(".")[1] for m in graph.modules if m.count(".") >= 1})
    return {
        a: {
            b
            for b in parts
            if b != a
            and graph.direct_import_exists(
                importer=f"nirs_core.{a}", imported=f"nirs_core.{b}", as_packages=True
            )
        }
        for a in parts
    }


def test_no_two_parts_of_the_engine_import_each_other_in_a_cycle():
    deps = _part_graph()
    # depth-first search for a cycle among the top-level parts (an independent check of the contract)
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(deps.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend([*stack[stack.index(nxt) :], nxt] if nxt in stack else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*stack, nxt]):
                return True
        state[node] = 2
        return False

    for part in sorted(deps):
        if state.get(part) is None and visit(part, [part]):
            break
    assert not cycle, f"import cycle between parts of nirs_core: {' -> '.join(cycle)}"


@pytest.mark.parametrize("limit", [900])
def test_no_engine_module_is_over_the_size_limit(limit):
    sizes = {
        str(p.relative_to(ROOT)): sum(1 for _ in p.open(encoding="utf-8"))
        for p in (ROOT / "nirs_core").rglob("*.py")
    }
    over = {name: n for name, n in sizes.items() if n > limit}
    assert not over, f"engine modules over {limit} lines: {over}"
