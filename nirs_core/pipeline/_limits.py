"""Bounds on what a template file may cost before any work starts, and its folder's settings.

A template is data from whoever can write a file in the templates folder. Reading one must
stay cheap whatever it holds: the file is at most :data:`MAX_TEMPLATE_BYTES`; YAML is
composed with a loader that refuses nesting deeper than :data:`MAX_DEPTH` and a document whose
aliases expand to more than :data:`MAX_NODES` nodes (a 1 KB "billion laughs" is refused in
milliseconds, before it is built); the parsed data (or a Python template) is walked once,
iteratively, with the same bounds, and a pipeline holds at most :data:`MAX_STEPS` steps.

A ``nirs.yaml`` (or ``.nirs.yaml``) beside a template holds settings for the templates of that
folder; today one: ``allowed_modules: [mylab.operators, ...]``, the modules whose classes and
functions those templates may name (see :mod:`nirs_core.registry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from nirs_core.errors import ConfigError
from nirs_core.registry import check_module_names

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_STEPS",
    "MAX_TEMPLATE_BYTES",
    "SETTINGS_FILES",
    "BoundedComposer",
    "check_flow_depth",
    "check_shape",
    "folder_settings",
    "read_bounded",
]

MAX_TEMPLATE_BYTES = 1 << 20
MAX_DEPTH = 40
MAX_NODES = 100_000
MAX_STEPS = 500
SETTINGS_FILES = ("nirs.yaml", ".nirs.yaml")
_SETTINGS_KEYS = ("allowed_modules",)


def read_bounded(path: Path, what: str = "template") -> str:
    """The UTF-8 text of ``path``, refused above :data:`MAX_TEMPLATE_BYTES` without reading it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: {what} file not found.") from exc
    if size > MAX_TEMPLATE_BYTES:
        raise ConfigError(f"{path}: a {what} file is at most {MAX_TEMPLATE_BYTES} bytes; got {size} bytes.")
    with open(path, "rb") as fh:
        data = fh.read(MAX_TEMPLATE_BYTES + 1)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ConfigError(f"{path}: not a text file (a NUL byte at byte {nul}); expected YAML or JSON text.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the {what} as UTF-8."
        ) from exc


def check_flow_depth(text: str, path: Path) -> None:
    """Refuse YAML whose ``[``/``{`` nesting goes deeper than :data:`MAX_DEPTH`, from the text
    alone (PyYAML's scanner takes quadratic time on deep flow nesting, before composing starts).
    Quoted strings and comments are skipped."""
    depth, line, quote = 0, 1, ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(
                    f"{path}: line {line}: nesting deeper than {MAX_DEPTH} levels; a template is at most that deep."
                )
        elif ch in "]}":
            depth = max(depth - 1, 0)
        i += 1


class BoundedComposer:
    """Mixin for a PyYAML loader: nesting and alias expansion bounded while composing."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1

    def get_single_node(self) -> Any:
        node = super().get_single_node()  # type: ignore[misc]
        if node is not None:
            _check_expanded_size(node)
        return node


def _check_expanded_size(root: yaml.Node) -> None:
    """Nodes of the document with every alias expanded, computed once per distinct node."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(c), 1) for c in children)
        if total > MAX_NODES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"the document expands to more than {MAX_NODES} values (aliases repeating aliases)",
                node.start_mark,
            )
        sizes[id(node)] = total


def check_shape(data: Any, root: str) -> None:
    """Refuse a template deeper than :data:`MAX_DEPTH`, larger than :data:`MAX_NODES` values
    (shared objects counted each time they appear) or with more than :data:`MAX_STEPS` steps."""
    if isinstance(data, (list, tuple)) and len(data) > MAX_STEPS:
        raise ConfigError(f"{root}: a pipeline holds at most {MAX_STEPS} steps; got {len(data)}.")
    stack: list[tuple[Any, int, str]] = [(data, 1, root)]
    seen = 0
    while stack:
        obj, depth, where = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise ConfigError(f"{root}: a template holds at most {MAX_NODES} values; this one holds more.")
        if depth > MAX_DEPTH:
            raise ConfigError(
                f"{where}: nesting deeper than {MAX_DEPTH} levels; a template is at most that deep."
            )
        if isinstance(obj, Mapping):
            stack.extend((v, depth + 1, f"{where}.{k}") for k, v in obj.items())
        elif isinstance(obj, (list, tuple)):
            stack.extend((v, depth + 1, f"{where}[{i}]") for i, v in enumerate(obj))


def folder_settings(folder: Path) -> tuple[str, ...]:
    """The ``allowed_modules`` of the settings file in ``folder`` (none: ``()``)."""
    for name in SETTINGS_FILES:
        path = folder / name
        if not path.is_file():
            continue
        text = read_bounded(path, "settings")
        loader = _SettingsLoader(text)
        try:
            data = loader.get_single_data()
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}.") from None
        finally:
            loader.dispose()
        if data is None:
            return ()
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a mapping such as 'allowed_modules: [mylab]'; got {data!r}.")
        unknown = [k for k in data if k not in _SETTINGS_KEYS]
        if unknown:
            raise ConfigError(
                f"{path}: unknown setting {unknown[0]!r}; known settings: {', '.join(_SETTINGS_KEYS)}."
            )
        return check_module_names(data.get("allowed_modules", []), f"{path}: allowed_modules")
    return ()


class _SettingsLoader(BoundedComposer, yaml.SafeLoader):
    """Safe YAML with bounded nesting and aliases."""
