"""Templates: pipelines with generators, expanded into concrete, validated pipeline configs.

:func:`expand` turns a template into every :class:`PipelineConfig` (validated: every config
built, every operator resolved through the allow-list of :mod:`nirs_core.registry` and its
parameter names checked, within the bounds of :mod:`nirs_core.pipeline._limits`; operators are
constructed only when a config runs, never here); :func:`count` says how many without expanding. The syntax
(generators ``_or_``, ``_range_``, ``_log_range_``, ``_grid_`` and their modifiers, where a
generated value goes, config ids and names) is the user guide ``docs/templates.md``.
"""

from __future__ import annotations

import abc
import contextlib
import decimal
import itertools
import json
import math
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from nirs_core.errors import ConfigError
from nirs_core.pipeline._limits import check_shape, folder_settings
from nirs_core.pipeline.config import ID_LENGTH, LoadedTemplate, PipelineConfig, load_template
from nirs_core.pipeline.keywords import KEYWORDS, Context
from nirs_core.pipeline.naming import Namer
from nirs_core.pipeline.serialize import (
    build_operator,
    canonical_json,
    canonicalize,
    classify_step,
    config_hash,
    is_operator_mapping,
    key_path,
    public_path,
)
from nirs_core.pipeline.template_forms import normalize_steps
from nirs_core.pipeline.tuning import check_steps as check_tuning
from nirs_core.registry import allowing

__all__ = [
    "DEFAULT_MAX_CONFIGS",
    "GENERATOR_KEYS",
    "ID_LENGTH",
    "LoadedTemplate",
    "PipelineConfig",
    "count",
    "expand",
    "load_template",
    "template_id",
    "template_to_json",
]

#: Generator keys and the modifiers each accepts beside it.
_MODIFIERS: dict[str, tuple[str, ...]] = {
    "_or_": ("arrange", "count", "model", "param", "pick", "seed"),
    "_range_": ("count", "model", "param", "seed"),
    "_log_range_": ("count", "model", "param", "seed"),
    "_grid_": ("count", "model", "param", "seed"),
}
GENERATOR_KEYS: tuple[str, ...] = tuple(_MODIFIERS)
#: :func:`expand` refuses templates that expand to more configs than this (``count:`` limits).
DEFAULT_MAX_CONFIGS = 10_000

_TEMPLATE_KEYS = ("pipeline", "steps", "name", "description", "schema_version", "id")
_ELEMENT = {
    Context.CHAIN: Context.CHAIN,
    Context.CHAINS: Context.CHAIN,
    Context.BRANCHES: Context.CHAIN,
    Context.VALUE: Context.VALUE,
}
_WHAT = {
    Context.CHAIN: "a step",
    Context.STEP: "a step",
    Context.OPERATOR: "an operator",
    Context.CHAINS: "a list of chains",
    Context.BRANCHES: "a list of branches",
    Context.VALUE: "a value",
}

Choices = tuple[dict[str, Any], ...]
Expansion = list[tuple[Any, Choices]]


# --------------------------------------------------------------------------- small helpers


def _is_reserved(key: Any) -> bool:
    return isinstance(key, str) and len(key) >= 3 and key.startswith("_") and key.endswith("_")


def _has_generator(obj: Any) -> bool:
    if isinstance(obj, Mapping):
        return any(_is_reserved(k) for k in obj) or any(_has_generator(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_has_generator(v) for v in obj)
    return False


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}")


def _repr(value: Any) -> str:
    text = repr(list(value) if isinstance(value, tuple) else value)
    return text if len(text) <= 120 else text[:117] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _wrap(step: Any, context: Context) -> Any:
    if context is Context.CHAIN:
        return [step]
    if context in (Context.CHAINS, Context.BRANCHES):
        return [[step]]
    return step


def _combine(parts: list[Any], context: Context) -> Any:
    """Join the values of a list's elements (or of picked alternatives) in ``context``."""
    if context is Context.CHAIN:
        return [step for chain in parts for step in chain]
    return list(parts)


def _product(expansions: list[Expansion]) -> Iterator[tuple[list[Any], Choices]]:
    for combo in itertools.product(*expansions):
        yield [value for value, _ in combo], tuple(c for _, choices in combo for c in choices)


# --------------------------------------------------------------------------- nodes


class _Const:
    """A generator-free subtree: one value, canonicalised (resolved) when expanded."""

    def __init__(self, raw: Any, context: Context, path: str) -> None:
        self.raw, self.context, self.path = raw, context, path

    def count(self) -> int:
        return 1

    def expand(self) -> Expansion:
        return [(canonicalize(self.raw, self.context, self.path), ())]


class _Sequence:
    """A list holding generators: the product of its elements."""

    def __init__(self, items: list[Any], context: Context) -> None:
        self.items, self.context = items, context

    def count(self) -> int:
        return math.prod(item.count() for item in self.items)

    def expand(self) -> Expansion:
        return [
            (_combine(values, self.context), choices)
            for values, choices in _product([item.expand() for item in self.items])
        ]


class _Alternatives:
    """The values of several nodes one after the other (an axis of ``_grid_``)."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def count(self) -> int:
        return sum(item.count() for item in self.items)

    def expand(self) -> Expansion:
        return [pair for item in self.items for pair in item.expand()]


class _Fields:
    """A mapping holding generators (a value, named branches or a keyword step): the product
    of its values, keys in sorted order."""

    def __init__(self, fields: dict[str, Any], context: Context, wrap: bool) -> None:
        self.keys = sorted(fields)
        self.nodes = [fields[k] for k in self.keys]
        self.context, self.wrap = context, wrap

    def count(self) -> int:
        return math.prod(node.count() for node in self.nodes)

    def expand(self) -> Expansion:
        out = []
        for values, choices in _product([node.expand() for node in self.nodes]):
            value = dict(zip(self.keys, values))
            out.append((_wrap(value, self.context) if self.wrap else value, choices))
        return out


class _Operator:
    """``{"class": ..., "params": ...}`` with generators in its class or params."""

    def __init__(self, class_node: Any, params_node: Any, context: Context, path: str) -> None:
        self.class_node, self.params_node = class_node, params_node
        self.context, self.path = context, path

    def count(self) -> int:
        return self.class_node.count() * self.params_node.count()

    def expand(self) -> Expansion:
        out = []
        for (cls, params), choices in _product([self.class_node.expand(), self.params_node.expand()]):
            out.append((_wrap(build_operator(cls, params, self.path), self.context), choices))
        return out


class _Generator(abc.ABC):
    """Common part of the generators: ``count`` limit, ``param`` and ``model`` modifiers."""

    key = ""

    def __init__(self, raw: Mapping, context: Context, path: str) -> None:
        self.context, self.path = context, path
        self.gpath = key_path(path, self.key)
        self.limit = raw.get("count")
        if "count" in raw and not (_is_int(self.limit) and self.limit >= 1):
            raise _fail(key_path(path, "count"), f"expected an integer >= 1; got {_repr(self.limit)}.")
        self.seed = raw.get("seed")
        if "seed" in raw and not (_is_int(self.seed) and self.seed >= 0 and "count" in raw):
            raise _fail(
                key_path(path, "seed"), f"expected an integer >= 0 beside 'count'; got {_repr(self.seed)}."
            )
        self.param = raw.get("param")
        if "param" in raw and not (isinstance(self.param, str) and self.param):
            raise _fail(key_path(path, "param"), f"expected a parameter name; got {_repr(self.param)}.")
        self.model = None
        if "model" in raw:
            if context is not Context.CHAIN:
                raise _fail(
                    key_path(path, "model"),
                    "a 'model' sweep makes a whole model step and belongs in a step list; here "
                    f"{_WHAT[context]} is expected (sweep the operator's params instead).",
                )
            self.model = compile_node(raw["model"], Context.OPERATOR, key_path(path, "model"))
        self.value_context = Context.VALUE if ("param" in raw or self.model is not None) else context

    @abc.abstractmethod
    def own_count(self) -> int:
        """How many values the generator itself makes, before ``count`` and ``model``."""

    @abc.abstractmethod
    def own_values(self) -> Iterator[tuple[Any, Any, Choices]]:
        """(value, index, choices of nested generators), in order."""

    def count(self) -> int:
        n = self.own_count()
        if self.limit is not None:
            n = min(n, self.limit)
        return n * (self.model.count() if self.model is not None else 1)

    def expand(self) -> Expansion:
        models = self.model.expand() if self.model is not None else None
        out: Expansion = []
        for value, index, inner in _kept(self.own_values(), self.own_count(), self.limit, self.seed):
            choice = {"path": self.gpath, "generator": self.key, "index": index, "value": value}
            if self.seed is not None:
                choice["seed"] = self.seed
            if self.param is not None:
                choice["param"] = self.param
            generated = {self.param: value} if self.param is not None else value
            if models is None:
                if self.param is not None and self.context is not Context.VALUE:
                    generated = canonicalize(generated, self.context, self.gpath)
                out.append((generated, (choice, *inner)))
                continue
            if not (isinstance(generated, Mapping) and all(isinstance(k, str) for k in generated)):
                raise _fail(
                    self.gpath,
                    "with 'model' and no 'param', each generated value must be a mapping of "
                    f"parameters; got {_repr(value)}.",
                )
            for operator, model_choices in models:
                params = {**operator["params"], **generated}
                step = {"model": build_operator(operator["class"], params, self.gpath)}
                out.append((_wrap(step, self.context), (choice, *inner, *model_choices)))
        return out


def _kept(values: Iterator[Any], n: int, limit: int | None, seed: int | None) -> Iterator[Any]:
    """The first ``limit`` values, or with ``seed`` ``limit`` values drawn without replacement
    (``random.Random(seed)``), kept in their order."""
    if limit is None or seed is None or limit >= n:
        return itertools.islice(values, limit)
    chosen = set(random.Random(seed).sample(range(n), limit))
    return (v for i, v in enumerate(values) if i in chosen)


class _Or(_Generator):
    key = "_or_"

    def __init__(self, raw: Mapping, context: Context, path: str) -> None:
        super().__init__(raw, context, path)
        alternatives = raw["_or_"]
        if not isinstance(alternatives, (list, tuple)) or not alternatives:
            raise _fail(self.gpath, f"expected a non-empty list of alternatives; got {_repr(alternatives)}.")
        n = len(alternatives)
        if "pick" in raw and "arrange" in raw:
            raise _fail(path, "'pick' (combinations) and 'arrange' (permutations) exclude each other.")
        self.ordered = "arrange" in raw
        word = "arrange" if self.ordered else "pick"
        self.sizes = _sizes(raw[word], word, n, key_path(path, word)) if word in raw else None
        alt_context = self.value_context
        if self.sizes is not None:
            if self.value_context not in _ELEMENT:
                raise _fail(
                    key_path(path, word),
                    f"'{word}' makes a list of alternatives, but here {_WHAT[self.value_context]} is expected.",
                )
            alt_context = _ELEMENT[self.value_context]
        self.alternatives = [
            compile_node(alt, alt_context, f"{self.gpath}[{i}]") for i, alt in enumerate(alternatives)
        ]

    def _groups(self) -> Iterator[tuple[int, ...]]:
        n = len(self.alternatives)
        for k in self.sizes or ():
            yield from (itertools.permutations if self.ordered else itertools.combinations)(range(n), k)

    def own_count(self) -> int:
        counts = [alt.count() for alt in self.alternatives]
        if self.sizes is None:
            return sum(counts)
        # e[k]: sum over k-subsets of the product of their counts (elementary symmetric polynomial)
        top = max(self.sizes)
        e = [1] + [0] * top
        for c in counts:
            for k in range(top, 0, -1):
                e[k] += e[k - 1] * c
        return sum(e[k] * (math.factorial(k) if self.ordered else 1) for k in self.sizes)

    def own_values(self) -> Iterator[tuple[Any, Any, Choices]]:
        expansions = [alt.expand() for alt in self.alternatives]
        if self.sizes is None:
            for i, expansion in enumerate(expansions):
                for value, choices in expansion:
                    yield value, i, choices
            return
        for group in self._groups():
            for values, choices in _product([expansions[i] for i in group]):
                yield _combine(values, self.value_context), list(group), choices


def _sizes(raw: Any, word: str, n: int, path: str) -> list[int]:
    if _is_int(raw):
        if raw < 1:
            raise _fail(path, f"expected an integer >= 1 (or [0, k] for 'none or up to k'); got {raw}.")
        if raw > n:
            raise _fail(path, f"{word}={raw} is larger than the number of alternatives ({n}).")
        return [raw]
    if isinstance(raw, (list, tuple)) and len(raw) == 2 and all(_is_int(v) for v in raw):
        lo, hi = raw
        if not 0 <= lo <= hi:
            raise _fail(path, f"expected [k1, k2] with 0 <= k1 <= k2; got {_repr(raw)}.")
        if hi > n:
            raise _fail(path, f"{word}={_repr(raw)} is larger than the number of alternatives ({n}).")
        return list(range(lo, hi + 1))
    raise _fail(path, f"expected an integer k or a range [k1, k2]; got {_repr(raw)}.")


def _range_spec(raw: Any, names: tuple[str, str, str], path: str, expected: str) -> tuple[Any, Any, Any]:
    """``[a, b, c]``/``[a, b]`` or ``{from, to, <third>}`` -> (a, b, c or None)."""
    if isinstance(raw, Mapping):
        unknown = [k for k in raw if k not in names]
        if unknown or names[0] not in raw or names[1] not in raw:
            raise _fail(path, f"expected {expected} or {{{', '.join(names)}}}; got {_repr(dict(raw))}.")
        return raw[names[0]], raw[names[1]], raw.get(names[2])
    if isinstance(raw, (list, tuple)) and len(raw) in (2, 3):
        return raw[0], raw[1], raw[2] if len(raw) == 3 else None
    raise _fail(path, f"expected {expected}; got {_repr(raw)}.")


class _Range(_Generator):
    key = "_range_"

    def __init__(self, raw: Mapping, context: Context, path: str) -> None:
        super().__init__(raw, context, path)
        spec = raw["_range_"]
        expected = "[start, stop, step] with step > 0"
        start, stop, step = _range_spec(spec, ("from", "to", "step"), self.gpath, expected)
        if step is None:
            step = 1
        if not all(_is_number(v) for v in (start, stop, step)):
            raise _fail(self.gpath, f"expected {expected}, all numbers; got {_repr(spec)}.")
        if step <= 0:
            raise _fail(self.gpath, f"expected {expected}; got {_repr(spec)}.")
        if start > stop:
            raise _fail(self.gpath, f"expected [start, stop, step] with start <= stop; got {_repr(spec)}.")
        self.integers = all(_is_int(v) for v in (start, stop, step))
        _check_numbers_for_model(self)
        self.start, self.step = decimal.Decimal(repr(start)), decimal.Decimal(repr(step))
        self.n = int((decimal.Decimal(repr(stop)) - self.start) // self.step) + 1
        _check_value_context(self, context)

    def own_count(self) -> int:
        return self.n

    def own_values(self) -> Iterator[tuple[Any, Any, Choices]]:
        for i in range(self.n):
            value = self.start + i * self.step
            yield (int(value) if self.integers else float(value)), i, ()


class _LogRange(_Generator):
    key = "_log_range_"

    def __init__(self, raw: Mapping, context: Context, path: str) -> None:
        super().__init__(raw, context, path)
        spec = raw["_log_range_"]
        expected = "[start, stop, num] with 0 < start <= stop and num >= 1"
        start, stop, num = _range_spec(spec, ("from", "to", "num"), self.gpath, expected)
        ok = _is_number(start) and _is_number(stop) and _is_int(num)
        if not ok or not (0 < start <= stop and num >= 1):
            raise _fail(self.gpath, f"expected {expected}; got {_repr(spec)}.")
        _check_numbers_for_model(self)
        self.start, self.stop, self.n = float(start), float(stop), num
        _check_value_context(self, context)

    def own_count(self) -> int:
        return self.n

    def own_values(self) -> Iterator[tuple[Any, Any, Choices]]:
        lo, hi = math.log10(self.start), math.log10(self.stop)
        for i in range(self.n):
            if i == 0:
                value = self.start
            elif i == self.n - 1:
                value = self.stop
            else:
                value = float(f"{10 ** (lo + i * (hi - lo) / (self.n - 1)):.12g}")
            yield value, i, ()


class _Grid(_Generator):
    key = "_grid_"

    def __init__(self, raw: Mapping, context: Context, path: str) -> None:
        super().__init__(raw, context, path)
        spec = raw["_grid_"]
        if not isinstance(spec, Mapping) or not spec:
            raise _fail(self.gpath, f"expected a mapping of names to lists of values; got {_repr(spec)}.")
        bad = [k for k in spec if not isinstance(k, str)]
        if bad:
            raise _fail(self.gpath, f"grid names must be strings; got {_repr(bad)}.")
        self.names = sorted(spec)
        self.axes = []
        for name in self.names:
            axis, apath = spec[name], key_path(self.gpath, name)
            if isinstance(axis, (list, tuple)) and axis:
                items = [compile_node(v, Context.VALUE, f"{apath}[{i}]") for i, v in enumerate(axis)]
                self.axes.append(_Alternatives(items))
            elif isinstance(axis, Mapping) and any(_is_reserved(k) for k in axis):
                self.axes.append(compile_node(axis, Context.VALUE, apath))
            else:
                raise _fail(apath, f"expected a non-empty list of values or a generator; got {_repr(axis)}.")
        _check_value_context(self, context)

    def own_count(self) -> int:
        return math.prod(axis.count() for axis in self.axes)

    def own_values(self) -> Iterator[tuple[Any, Any, Choices]]:
        for i, (values, choices) in enumerate(_product([axis.expand() for axis in self.axes])):
            yield dict(zip(self.names, values)), i, choices


def _check_numbers_for_model(gen: _Generator) -> None:
    if gen.model is not None and gen.param is None:
        raise _fail(
            gen.gpath,
            "a model sweep over numbers needs 'param', the name of the model parameter they go into.",
        )


def _check_value_context(gen: _Generator, context: Context) -> None:
    if gen.value_context is Context.VALUE or context is Context.VALUE:
        return
    made = "mappings of parameters" if gen.key == "_grid_" else "numbers"
    raise _fail(
        gen.gpath,
        f"generates {made} where {_WHAT[context]} is expected; give 'model' and 'param' to sweep a "
        "model parameter, or move the generator into the operator's params.",
    )


_GENERATOR_CLASSES = {"_or_": _Or, "_range_": _Range, "_log_range_": _LogRange, "_grid_": _Grid}


def compile_node(raw: Any, context: Context, path: str) -> Any:
    """Check ``raw`` (read in ``context`` at ``path``) and build the node that expands it."""
    if not _has_generator(raw):
        return _Const(raw, context, path)
    if isinstance(raw, Mapping):
        bad = [k for k in raw if not isinstance(k, str)]
        if bad:
            raise _fail(path, f"keys must be strings; got {_repr(bad)}.")
        reserved = [k for k in raw if _is_reserved(k)]
        if reserved:
            return _compile_generator(raw, reserved, context, path)
        return _compile_mapping(raw, context, path)
    # only mappings, lists and tuples hold generators: this is a list
    if context not in _ELEMENT:
        raise _fail(path, f"expected {_WHAT[context]}; got a list.")
    element = _ELEMENT[context]
    return _Sequence([compile_node(v, element, f"{path}[{i}]") for i, v in enumerate(raw)], context)


def _compile_generator(raw: Mapping, reserved: list[str], context: Context, path: str) -> Any:
    unknown = [k for k in reserved if k not in _MODIFIERS]
    if unknown:
        raise _fail(
            key_path(path, unknown[0]),
            f"unknown generator key {unknown[0]!r}; known generators are {', '.join(GENERATOR_KEYS)}.",
        )
    if len(reserved) > 1:
        raise _fail(path, f"one generator per mapping; got {', '.join(map(repr, reserved))}.")
    key = reserved[0]
    extra = [k for k in raw if k != key and k not in _MODIFIERS[key]]
    if extra:
        raise _fail(
            path,
            f"unexpected key {extra[0]!r} beside {key!r}; a generator holds only its modifiers "
            f"({', '.join(_MODIFIERS[key])}).",
        )
    return _GENERATOR_CLASSES[key](raw, context, path)


def _compile_mapping(raw: Mapping, context: Context, path: str) -> Any:
    """A mapping without a generator key of its own but with generators inside."""
    is_step = "class" in raw or any(k in KEYWORDS for k in raw)
    if context is Context.VALUE and not is_operator_mapping(raw):
        return _Fields(
            {k: compile_node(v, Context.VALUE, key_path(path, k)) for k, v in raw.items()}, context, False
        )
    if context is Context.BRANCHES and not is_step:
        fields = {k: compile_node(v, Context.CHAIN, key_path(path, k)) for k, v in raw.items()}
        return _Fields(fields, context, False)
    kind = classify_step(raw, path)
    if kind == "operator":
        class_raw = raw["class"]
        if isinstance(class_raw, type):
            class_raw = public_path(class_raw)
        class_node = compile_node(class_raw, Context.VALUE, key_path(path, "class"))
        params_node = compile_node(raw.get("params", {}), Context.VALUE, key_path(path, "params"))
        return _Operator(class_node, params_node, context, path)
    if context in (Context.OPERATOR, Context.VALUE):
        raise _fail(path, f"expected an operator; got a {kind!r} step.")
    fields = {
        k: compile_node(v, KEYWORDS[k].context if k == kind else Context.VALUE, key_path(path, k))
        for k, v in raw.items()
    }
    return _Fields(fields, context, True)


# --------------------------------------------------------------------------- templates


def _unwrap(template: Any, source: str | Path | None) -> tuple[Any, str | Path | None]:
    """A :class:`LoadedTemplate` stands for its data, its path the default source."""
    if isinstance(template, LoadedTemplate):
        return template.data, template.path if source is None else source
    return template, source


def _split_template(template: Any) -> tuple[str, Any, str | None]:
    """(root path, the pipeline, the template's name)."""
    if isinstance(template, (list, tuple)):
        root, body, name = "steps", template, None
    elif isinstance(template, Mapping):
        unknown = [k for k in template if k not in _TEMPLATE_KEYS]
        if unknown:
            raise ConfigError(
                f"template: unknown key {unknown[0]!r}; a template mapping holds 'pipeline' (or "
                "'steps'), and optionally 'name', 'description', 'schema_version' and 'id'."
            )
        roots = [k for k in ("pipeline", "steps") if k in template]
        if len(roots) != 1:
            raise ConfigError(
                "template: expected exactly one of 'pipeline' or 'steps'; "
                f"got {', '.join(map(repr, roots)) or 'neither'}."
            )
        root, body, name = roots[0], template[roots[0]], template.get("name")
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"name: expected a string; got {_repr(name)}.")
    else:
        raise ConfigError(
            "template: expected a list of steps or a mapping with 'pipeline' (or 'steps'); "
            f"got {type(template).__name__} {_repr(template)}."
        )
    if isinstance(body, (list, tuple)) and not body:
        raise _fail(root, "a template needs at least one step; got [].")
    check_shape(body, root)
    return root, body, name


def _template_value(obj: Any, path: str) -> Any:
    if isinstance(obj, Mapping):
        bad = [k for k in obj if not isinstance(k, str)]
        if bad:
            raise _fail(path, f"keys must be strings; got {_repr(bad)}.")
        return {k: _template_value(v, key_path(path, k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_template_value(v, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, type) and any(hasattr(obj, a) for a in ("fit", "get_params", "split")):
        return public_path(obj)  # an operator class given as a step or as {"class": cls}
    return canonicalize(obj, Context.VALUE, path)


def template_to_json(template: Any) -> Any:
    """The template as plain JSON data, generators kept: live operators become their canonical
    ``{"class", "params"}``, operator classes their class path. What a Python template (one
    holding live objects) is stored as; it expands exactly as the original."""
    template, _ = _unwrap(template, None)
    if isinstance(template, Mapping):
        return {k: _template_value(v, str(k)) for k, v in template.items()}
    return _template_value(template, "steps")


def template_id(template: Any) -> str:
    """First :data:`ID_LENGTH` hex digits of the sha256 of the template's canonical JSON."""
    template, _ = _unwrap(template, None)
    return config_hash(template_to_json(template))[:ID_LENGTH]


@contextlib.contextmanager
def _located(source: str | Path | None) -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        if source is None:
            raise
        raise ConfigError(f"{source}: {exc}") from exc


def count(template: Any, *, source: str | Path | None = None) -> int:
    """How many configs :func:`expand` makes, computed from the template's structure alone
    (sums over alternatives, products over independent generators, binomials for ``pick``,
    ``count`` limits) without building any config or resolving any operator. Raises
    ``ConfigError`` for a malformed template."""
    template, source = _unwrap(template, source)
    with _located(source):
        root, body, _ = _split_template(template)
        return compile_node(normalize_steps(body, root), Context.CHAIN, root).count()


def _describe(choices: list[dict[str, Any]]) -> str:
    return ", ".join(f"{c['path']}={c['index']}" for c in choices) or "no choices"


def expand(
    template: Any, *, source: str | Path | None = None, max_configs: int | None = DEFAULT_MAX_CONFIGS
) -> list[PipelineConfig]:
    """Every concrete pipeline config of ``template``, validated, in a deterministic order.

    ``source`` (the template's file) prefixes every error message. Raises ``ConfigError`` for
    a malformed template, an operator that cannot be resolved (or is not allowed), two identical
    configs, or more than ``max_configs`` configs (``None``: no limit). ``template`` may be a
    :class:`LoadedTemplate`, whose path is then the default ``source`` and whose folder's
    ``nirs.yaml`` may allow more modules (recorded in each config's ``allowed_modules``).
    """
    modules = folder_settings(template.path.resolve().parent) if isinstance(template, LoadedTemplate) else ()
    template, source = _unwrap(template, source)
    with _located(source), allowing(modules):
        root, body, _ = _split_template(template)
        node = compile_node(normalize_steps(body, root), Context.CHAIN, root)
        n = node.count()
        if max_configs is not None and n > max_configs:
            raise _fail(
                root,
                f"the template expands to {n} configs, more than max_configs={max_configs}; "
                "narrow it or keep the first n values of a generator with 'count: n'.",
            )
        expansion = node.expand()
        tid = template_id(template)
        seen: dict[str, int] = {}
        rows = []
        for index, (shared_steps, shared_choices) in enumerate(expansion):
            # fresh, plain JSON objects per config (expansion shares sub-objects between configs)
            text = canonical_json(shared_steps)
            steps = json.loads(text)
            choices = json.loads(canonical_json(list(shared_choices)))
            if not steps:
                raise _fail(root, f"config {index} has no steps ({_describe(choices)}).")
            check_tuning(steps, root)  # finetune_params, before anything is computed
            short = config_hash(steps)[:ID_LENGTH]
            if short in seen:
                first = seen[short]
                same = canonical_json(rows[first][0]) == text
                what = (
                    "are the same pipeline" if same else f"share the id {short} (a sha256 prefix collision)"
                )
                raise _fail(
                    root,
                    f"configs {first} and {index} {what} ({_describe(rows[first][1])} vs "
                    f"{_describe(choices)}); remove the duplicate alternative.",
                )
            seen[short] = index
            rows.append((steps, choices, short))
        namer = Namer([steps for steps, _, _ in rows])
        width = max(4, len(str(len(rows) - 1)))
        return [
            PipelineConfig(
                index=i,
                id=short,
                name=namer.name(i, width, steps, short),
                steps=steps,
                choices=choices,
                template_id=tid,
                allowed_modules=tuple(modules),
            )
            for i, (steps, choices, short) in enumerate(rows)
        ]
