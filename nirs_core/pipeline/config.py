"""Pipeline configs (one concrete pipeline expanded from a template, with its choices and stable
id) and template files (YAML or JSON, read strictly).

:mod:`nirs_core.pipeline.generators` expands templates into :class:`PipelineConfig` objects."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from nirs_core.errors import ConfigError
from nirs_core.pipeline._limits import BoundedComposer, check_flow_depth, folder_settings, read_bounded
from nirs_core.pipeline.serialize import canonical_json, config_hash, from_canonical
from nirs_core.registry import allowing, check_module_names

__all__ = ["ID_LENGTH", "LoadedTemplate", "PipelineConfig", "load_template"]

#: Hex digits of a config id (sha256 prefix of the canonical JSON of its steps).
ID_LENGTH = 8


# --------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class PipelineConfig:
    """One concrete pipeline expanded from a template.

    ``steps`` is the canonical JSON form (see :mod:`nirs_core.pipeline.serialize`); ``id`` is
    the first :data:`ID_LENGTH` hex digits of its sha256; ``choices`` lists, per generator that
    fired, ``{path, generator, index, value}`` (and ``param``). Treat the lists as read-only.
    """

    index: int
    id: str
    name: str
    steps: list[Any]
    choices: list[dict[str, Any]]
    template_id: str
    allowed_modules: tuple[str, ...] = ()  # from the template folder's settings (nirs.yaml)

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON/YAML-able dict (deep copies)."""
        out = {
            "index": self.index,
            "id": self.id,
            "name": self.name,
            "template_id": self.template_id,
            "choices": copy.deepcopy(self.choices),
            "steps": copy.deepcopy(self.steps),
        }
        if self.allowed_modules:
            out["allowed_modules"] = list(self.allowed_modules)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineConfig:
        """Inverse of :meth:`to_dict`; checks that ``id`` still matches ``steps``."""
        fields = ("index", "id", "name", "template_id", "choices", "steps")
        missing = [k for k in fields if k not in data]
        if missing:
            raise ConfigError(f"pipeline config: missing key(s) {', '.join(missing)}.")
        steps = copy.deepcopy(list(data["steps"]))
        expected = config_hash(steps)[:ID_LENGTH]
        if data["id"] != expected:
            raise ConfigError(
                f"pipeline config {data['name']}: id {data['id']!r} does not match its steps "
                f"(hash {expected!r}); the config was edited or corrupted."
            )
        return cls(
            index=int(data["index"]),
            id=str(data["id"]),
            name=str(data["name"]),
            steps=steps,
            choices=copy.deepcopy(list(data["choices"])),
            template_id=str(data["template_id"]),
            allowed_modules=check_module_names(
                data.get("allowed_modules", []), f"pipeline config {data['name']}: allowed_modules"
            ),
        )

    def canonical_json(self) -> str:
        """The canonical JSON text of the steps (what ``id`` hashes)."""
        return canonical_json(self.steps)

    def build(self) -> list[Any]:
        """The steps as live objects (operators constructed, keyword steps kept as mappings)."""
        with allowing(self.allowed_modules):
            return from_canonical(self.steps)


# --------------------------------------------------------------------------- files


class LoadedTemplate(NamedTuple):
    """A template file: the parsed data, its verbatim text (to store before expansion), its
    path. The modules its folder's ``nirs.yaml`` allows (see :mod:`nirs_core.registry`) apply
    when it is expanded."""

    data: Any
    text: str
    path: Path


class _TemplateLoader(BoundedComposer, yaml.SafeLoader):
    """Safe YAML, strict about duplicate keys, reading ``1e-3`` as a float (as YAML 1.2 does)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = lines.get(key)
            except TypeError:
                continue  # unhashable: the base class reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first + 1})", key_node.start_mark
                )
            lines[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_TemplateLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_template(path: str | Path) -> LoadedTemplate:
    """Read a YAML (``.yaml``/``.yml``) or JSON (``.json``) template.

    Syntax errors raise ``ConfigError`` naming the file, the line and the column.
    """
    path = Path(path)
    text = read_bounded(path)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        check_flow_depth(text, path)
        try:
            data = yaml.load(text, Loader=_TemplateLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = " ".join(p for p in (exc.context, exc.problem) if p)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            raise ConfigError(f"{path}: {where}invalid YAML: {problem}.") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}.") from exc
    elif suffix == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_json_pairs)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}."
            ) from exc
        except RecursionError:
            raise ConfigError(f"{path}: invalid JSON: nested too deeply to read.") from None
        except ValueError as exc:
            raise ConfigError(f"{path}: invalid JSON: {exc}.") from exc
    else:
        raise ConfigError(f"{path}: expected a .yaml, .yml or .json template; got {suffix or 'no suffix'!r}.")
    if data is None:
        raise ConfigError(f"{path}: the template is empty.")
    folder_settings(path.resolve().parent)  # a bad settings file fails here, before any work
    return LoadedTemplate(data=data, text=text, path=path)
