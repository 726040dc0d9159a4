"""The canonical JSON form of pipeline steps, and the way back to live objects.

Every way of writing an operator normalises to one form, with every constructor parameter
explicit::

    SNV                                         # a short name from the registry
    "sklearn.preprocessing.StandardScaler"      # a class path
    StandardScaler                              # a class
    StandardScaler(with_std=False)              # a live instance
    {"class": "StandardScaler", "params": {"with_std": False}}

    -> {"class": "sklearn.preprocessing.StandardScaler",
        "params": {"copy": True, "with_mean": True, "with_std": False}}

The class path is the shortest *public* path that imports the same class (scikit-learn's
``sklearn.preprocessing._data`` becomes ``sklearn.preprocessing``), so configs survive a
reshuffle of a library's private modules. Parameter values are JSON: numpy scalars become
numbers, arrays and tuples become lists, a nested estimator (a parameter that is an estimator,
the steps of a :class:`sklearn.pipeline.Pipeline`) becomes its own ``{"class", "params"}``,
and a function or class given as a parameter (``FunctionTransformer(func=np.log1p)``) becomes
``{"callable": "numpy.log1p"}``. Objects that have no faithful JSON form (a lambda, a
``RandomState``, a dict with non-string keys) raise :class:`~nirs_core.errors.ConfigError`.

A *step* is an operator or a keyword step, a mapping with exactly one keyword and, beside it,
options (plain values, kept as they are)::

    keyword                payload, canonical form
    model, split, stack    one operator
    y_processing           a chain: a list of steps (one operator becomes a list of one)
    branch                 a list of chains, or a mapping of branch name -> chain
    feature_augmentation   a list of chains (one operator becomes [[operator]])
    sample_augmentation    a list of chains
    merge                  a plain value ("features", "predictions" or a mapping of options)

A *chain* (a pipeline, a branch, a y_processing) is a flat list of steps: ``None`` in a chain
is no step and a nested list is spliced in place, so ``[A, [B, C], None]`` is ``[A, B, C]``.

:func:`canonical_json` writes a canonical form with sorted keys, no whitespace and floats in
their shortest round-trip form, so equal pipelines have equal text and equal
:func:`config_hash`. :func:`from_canonical` builds live objects back; live -> canonical ->
live -> canonical is a fixed point. A JSON list goes back to a tuple where the constructor's
default is a tuple (``MinMaxScaler(feature_range=...)``) and for scikit-learn's lists of
``(name, estimator)`` pairs (``Pipeline.steps``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from nirs_core.errors import ConfigError
from nirs_core.pipeline.keywords import KEYWORDS, Context

__all__ = [
    "build_operator",
    "canonical_json",
    "canonicalize",
    "classify_step",
    "config_hash",
    "from_canonical",
    "is_operator_mapping",
    "key_path",
    "public_path",
    "resolve_class",
    "to_canonical",
]


_OPERATOR_KEYS = frozenset({"class", "params"})
_SCALARS = (bool, int, float, str, type(None))


# --------------------------------------------------------------------------- paths and names


def key_path(path: str, key: str) -> str:
    """``path.key``, or ``path['odd key']`` for a key that is not a plain name."""
    if key and all(ch.isalnum() or ch in "_-" for ch in key):
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}" if path else message)


def _short_repr(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_class(name: Any, path: str = "") -> type:
    """The class for a short name, class name or class path, through the allow-list of the
    operator registry (:func:`nirs_core.registry.resolve`: a module that is not allowed is never
    imported); a class given as a Python object is the program's own and is taken as it is."""
    if isinstance(name, type):
        public_path(name)  # trusted from now on under its public path
        return name
    if isinstance(name, Mapping) and set(name) == {"callable"}:
        name = name["callable"]  # a class given as a parameter value: {"callable": "module.Class"}
    if not isinstance(name, str) or not name:
        raise _fail(path, f"expected an operator name or class path; got {_short_repr(name)}.")
    from nirs_core.registry import resolve

    try:
        return resolve(name)
    except ConfigError as exc:
        raise _fail(path, str(exc)) from exc


def public_path(obj: Any) -> str:
    """``module.QualName`` of a class or function, through its shortest public module.

    Trailing private modules are dropped while the parent module exposes the same object:
    ``sklearn.cross_decomposition._pls.PLSRegression`` -> ``sklearn.cross_decomposition.PLSRegression``.
    The object is one the running program handed over, so configs may name it from now on
    (:func:`nirs_core.registry.trust`).
    """
    path = _public_path(obj)
    from nirs_core.registry import trust

    trust(obj, path)
    return path


@functools.cache
def _public_path(obj: Any) -> str:
    declared = getattr(obj, "__dict__", {}).get("_sklearn_path")
    if isinstance(declared, str):
        return declared  # a stand-in for a scikit-learn class (nirs_core.registry.STAND_INS) keeps its path
    module_name = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not module_name or not qualname or "<" in qualname:
        raise ConfigError(
            f"cannot name {_short_repr(obj)} by an importable path (a lambda, a local or an "
            "anonymous object); define it at module level."
        )
    parts = module_name.split(".")
    while len(parts) > 1 and parts[-1].startswith("_"):
        parent = ".".join(parts[:-1])
        if _import_attr(parent, qualname) is not obj:
            break
        parts = parts[:-1]
    path = f"{'.'.join(parts)}.{qualname}"
    if _import_attr(".".join(parts), qualname) is not obj:
        raise ConfigError(f"{path} does not import back to {_short_repr(obj)}; define it at module level.")
    return path


def _import_attr(module_name: str, qualname: str) -> Any:
    """``module_name.qualname`` of an object already in hand (its module is imported)."""
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError:
        return None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _import_callable(path_text: Any, path: str) -> Any:
    if not isinstance(path_text, str) or "." not in path_text:
        raise _fail(path, f"expected {{'callable': 'module.name'}}; got {_short_repr(path_text)}.")
    from nirs_core.registry import resolve_callable

    try:
        found = resolve_callable(path_text)
    except ConfigError as exc:
        raise _fail(path, str(exc)) from exc
    if found is None:
        raise _fail(path, f"cannot import callable {path_text!r}.")
    return found


# --------------------------------------------------------------------------- operators


def _init_signature(cls: type) -> inspect.Signature | None:
    if cls.__init__ is object.__init__:
        return inspect.Signature()
    try:
        return inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return None


def _param_names(cls: type) -> list[str] | None:
    """Constructor parameter names, or None when the constructor takes ``*args``/``**kwargs``."""
    sig = _init_signature(cls)
    if sig is None:
        return None
    names = []
    for i, param in enumerate(sig.parameters.values()):
        if i == 0 and param.name == "self":
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            return None
        names.append(param.name)
    return names


def _defaults(cls: type) -> dict[str, Any]:
    sig = _init_signature(cls)
    if sig is None:
        return {}
    return {n: p.default for n, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


def _instance_params(obj: Any, path: str) -> dict[str, Any]:
    if hasattr(obj, "get_params") and callable(obj.get_params):
        return dict(obj.get_params(deep=False))
    cls = type(obj)
    names = _param_names(cls)
    if names is None:
        raise _fail(path, f"cannot list the constructor parameters of {cls.__name__} (no get_params).")
    missing = [n for n in names if not hasattr(obj, n)]
    if missing:
        raise _fail(
            path,
            f"{cls.__name__} does not store its constructor parameter(s) {', '.join(missing)} "
            "as attributes; cannot serialise it.",
        )
    return {n: getattr(obj, n) for n in names}


def _is_operator_instance(obj: Any) -> bool:
    if isinstance(obj, (*_SCALARS, type, list, tuple, Mapping, np.ndarray, np.generic)):
        return False
    if hasattr(obj, "get_params"):
        return True
    return hasattr(obj, "split") and hasattr(obj, "get_n_splits")  # a splitter


def _from_instance(obj: Any, path: str) -> dict[str, Any]:
    cls = type(obj)
    try:
        class_text = public_path(cls)
    except ConfigError as exc:
        raise _fail(path, str(exc)) from exc
    params = _instance_params(obj, path)
    ppath = key_path(path, "params")
    return {
        "class": class_text,
        "params": {k: _value(params[k], key_path(ppath, k)) for k in sorted(params)},
    }


def build_operator(class_ref: Any, params: Any, path: str = "") -> dict[str, Any]:
    """Canonical form of ``class_ref(**params)`` without constructing it: resolves the class
    (through the allow-list), checks the parameter names against its constructor and fills in
    the defaults of the others (the estimator contract: ``__init__`` only stores its
    arguments, so ``get_params`` would read back the same). Construction, and whatever a
    constructor validates, happens at execution (:func:`from_canonical`). A nirs4all class
    path is translated first (its parameter names and defaults,
    :func:`nirs_core.registry.nirs4all_alias`)."""
    from nirs_core.registry import is_nirs4all_path, nirs4all_alias

    if is_nirs4all_path(class_ref) and (params is None or isinstance(params, Mapping)):
        try:
            class_ref, params = nirs4all_alias(class_ref, params or {})
        except ConfigError as exc:
            raise _fail(key_path(path, "class"), str(exc)) from exc
    return _build_operator(resolve_class(class_ref, key_path(path, "class")), params, path)


def _build_operator(cls: type, params: Any, path: str) -> dict[str, Any]:
    if params is None:
        params = {}
    ppath = key_path(path, "params")
    if not isinstance(params, Mapping):
        raise _fail(ppath, f"expected a mapping of parameter names to values; got {_short_repr(params)}.")
    bad_keys = [k for k in params if not isinstance(k, str)]
    if bad_keys:
        raise _fail(ppath, f"parameter names must be strings; got {_short_repr(bad_keys)}.")
    names = _param_names(cls)
    values = dict(params)
    if names is not None:
        unknown = [k for k in params if k not in names]
        if unknown:
            import difflib

            hints = [m for k in unknown for m in difflib.get_close_matches(k, names, n=1)]
            hint = f" Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
            raise _fail(
                ppath,
                f"{cls.__name__} has no parameter {', '.join(repr(k) for k in unknown)}; "
                f"its parameters are {', '.join(names) if names else '(none)'}.{hint}",
            )
        defaults = _defaults(cls)
        missing = [k for k in names if k not in params and k not in defaults]
        if missing:
            raise _fail(ppath, f"{cls.__name__} needs the parameter(s) {', '.join(missing)}; got none.")
        values = {k: params[k] if k in params else defaults[k] for k in names}
    try:
        class_text = _public_path(cls)  # resolved through the allow-list: nothing to trust
    except ConfigError as exc:
        raise _fail(path, str(exc)) from exc
    return {"class": class_text, "params": {k: _value(values[k], key_path(ppath, k)) for k in sorted(values)}}


def is_operator_mapping(obj: Any) -> bool:
    """True for ``{"class": ...}`` or ``{"class": ..., "params": {...}}``."""
    return isinstance(obj, Mapping) and "class" in obj and set(obj) <= _OPERATOR_KEYS


def classify_step(obj: Mapping, path: str = "") -> str:
    """``"operator"`` for a ``{"class", "params"}`` mapping, else the keyword of a keyword step.

    Raises ``ConfigError`` for a mapping that is neither.
    """
    if "class" in obj:
        extra = sorted(str(k) for k in obj if k not in _OPERATOR_KEYS)
        if extra:
            raise _fail(
                path,
                f"an operator mapping holds only 'class' and 'params'; got also {', '.join(map(repr, extra))}.",
            )
        return "operator"
    keywords = [k for k in obj if k in KEYWORDS]
    if len(keywords) > 1:
        raise _fail(path, f"a step holds one keyword; got {', '.join(map(repr, keywords))}.")
    if not keywords:
        raise _fail(
            path,
            "expected a step: an operator name, {'class': ..., 'params': {...}}, or a mapping with one "
            f"of the keywords {', '.join(KEYWORDS)}; got keys {sorted(map(str, obj))}.",
        )
    return keywords[0]


def _operator(obj: Any, path: str) -> dict[str, Any]:
    if isinstance(obj, (str, type)):
        from nirs_core.registry import is_nirs4all_path

        if is_nirs4all_path(obj):  # translated with its (empty) params: nirs4all's defaults apply
            return build_operator(obj, {}, path)
        return _build_operator(resolve_class(obj, path), {}, path)
    if isinstance(obj, Mapping):
        if classify_step(obj, path) != "operator":
            raise _fail(path, f"expected an operator; got a {classify_step(obj, path)!r} step.")
        return build_operator(obj["class"], obj.get("params"), path)
    if _is_operator_instance(obj):
        return _from_instance(obj, path)
    raise _fail(
        path,
        "expected an operator (a name, a class path, a class, an instance or {'class': ..., "
        f"'params': ...}}); got {_short_repr(obj)}.",
    )


# --------------------------------------------------------------------------- values


def _value(obj: Any, path: str) -> Any:
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, np.generic):
        return _value(obj.item(), path)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufU":
            raise _fail(path, f"cannot serialise an array of dtype {obj.dtype}.")
        return _value(obj.tolist(), path)
    if isinstance(obj, (list, tuple)):
        return [_value(x, f"{path}[{i}]") for i, x in enumerate(obj)]
    if isinstance(obj, Mapping):
        if is_operator_mapping(obj):
            return _operator(obj, path)
        if set(obj) == {"callable"}:
            _import_callable(obj["callable"], path)
            return {"callable": obj["callable"]}
        bad = [k for k in obj if not isinstance(k, str)]
        if bad:
            raise _fail(path, f"mapping keys must be strings to be stored as JSON; got {_short_repr(bad)}.")
        return {k: _value(obj[k], key_path(path, k)) for k in sorted(obj)}
    if _is_operator_instance(obj):
        return _from_instance(obj, path)
    if isinstance(obj, type) or callable(obj):
        try:
            return {"callable": public_path(obj)}
        except ConfigError as exc:
            raise _fail(path, str(exc)) from exc
    raise _fail(path, f"cannot serialise {type(obj).__name__} {_short_repr(obj)} to JSON.")


# --------------------------------------------------------------------------- steps and chains


def _chain(obj: Any, path: str) -> list[Any]:
    if obj is None:
        return []
    if isinstance(obj, (list, tuple)):
        out: list[Any] = []
        for i, item in enumerate(obj):
            out.extend(_chain(item, f"{path}[{i}]"))
        return out
    return [_step(obj, path)]


def _step(obj: Any, path: str) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        kind = classify_step(obj, path)
        if kind == "operator":
            return build_operator(obj["class"], obj.get("params"), path)
        bad = [k for k in obj if not isinstance(k, str)]
        if bad:
            raise _fail(path, f"step keys must be strings; got {_short_repr(bad)}.")
        out = {}
        for key in sorted(obj):
            sub = key_path(path, key)
            out[key] = (
                canonicalize(obj[key], KEYWORDS[key].context, sub) if key == kind else _value(obj[key], sub)
            )
        return out
    if isinstance(obj, (list, tuple)) or obj is None:
        raise _fail(path, f"expected one step; got {_short_repr(obj)}.")
    return _operator(obj, path)


def _chains(obj: Any, path: str, *, named: bool) -> Any:
    if isinstance(obj, (list, tuple)):
        if not obj:
            raise _fail(path, "expected at least one alternative; got an empty list.")
        return [_chain(item, f"{path}[{i}]") for i, item in enumerate(obj)]
    if isinstance(obj, Mapping) and named and not ("class" in obj or any(k in KEYWORDS for k in obj)):
        if not obj:
            raise _fail(path, "expected at least one branch; got an empty mapping.")
        bad = [k for k in obj if not isinstance(k, str)]
        if bad:
            raise _fail(path, f"branch names must be strings; got {_short_repr(bad)}.")
        return {k: _chain(obj[k], key_path(path, k)) for k in sorted(obj)}
    return [_chain(obj, path)]


def canonicalize(obj: Any, context: Context, path: str = "") -> Any:
    """Canonical form of a generator-free ``obj`` read in ``context``; errors name ``path``."""
    if context is Context.CHAIN:
        return _chain(obj, path)
    if context is Context.STEP:
        return _step(obj, path)
    if context is Context.OPERATOR:
        return _operator(obj, path)
    if context is Context.CHAINS:
        return _chains(obj, path, named=False)
    if context is Context.BRANCHES:
        return _chains(obj, path, named=True)
    return _value(obj, path)


def to_canonical(step: Any) -> Any:
    """Canonical form of one step (a dict) or of a pipeline given as a list (a list of dicts)."""
    if isinstance(step, (list, tuple)):
        return _chain(step, "steps")
    return _step(step, "step")


# --------------------------------------------------------------------------- back to live objects


def _looks_like_estimator(obj: Any) -> bool:
    return hasattr(obj, "fit") or hasattr(obj, "get_params")


def _decode_param(value: Any, default: Any) -> Any:
    if not isinstance(value, list):
        return value
    if isinstance(default, tuple):
        return tuple(value)
    pairs = value and all(isinstance(v, list) and len(v) >= 2 and isinstance(v[0], str) for v in value)
    if pairs and any(_looks_like_estimator(v[1]) for v in value):
        return [tuple(v) for v in value]
    return value


def _decode_params(cls: type, params: Mapping[str, Any], path: str) -> dict[str, Any]:
    defaults = _defaults(cls)
    return {
        k: _decode_param(_decode(v, key_path(path, k)), defaults.get(k, inspect.Parameter.empty))
        for k, v in params.items()
    }


def _decode(obj: Any, path: str) -> Any:
    if isinstance(obj, list):
        return [_decode(x, f"{path}[{i}]") for i, x in enumerate(obj)]
    if isinstance(obj, Mapping):
        if is_operator_mapping(obj):
            cls = resolve_class(obj["class"], key_path(path, "class"))
            params = obj.get("params") or {}
            if not isinstance(params, Mapping):
                raise _fail(key_path(path, "params"), f"expected a mapping; got {_short_repr(params)}.")
            kwargs = _decode_params(cls, params, key_path(path, "params"))
            try:
                return cls(**kwargs)
            except Exception as exc:
                raise _fail(path, f"{cls.__name__}(**{_short_repr(dict(params))}) failed: {exc}") from exc
        if set(obj) == {"callable"}:
            return _import_callable(obj["callable"], path)
        return {k: _decode(v, key_path(path, str(k))) for k, v in obj.items()}
    return obj


def from_canonical(obj: Any) -> Any:
    """Live objects from a canonical form: each ``{"class", "params"}`` becomes an instance,
    each ``{"callable": ...}`` the imported object; lists and keyword steps keep their shape."""
    return _decode(obj, "steps" if isinstance(obj, list) else "step")


# --------------------------------------------------------------------------- JSON text and hash


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise ConfigError(
        f"canonical_json: {type(obj).__name__} {_short_repr(obj)} is not JSON; pass it through to_canonical first."
    )


def canonical_json(obj: Any) -> str:
    """Stable JSON text: sorted keys, no whitespace, floats in shortest round-trip form
    (``repr``), non-finite floats as ``NaN``/``Infinity``, non-ASCII kept as UTF-8."""
    return json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=True,
        default=_json_default,
    )


def config_hash(obj: Any) -> str:
    """Full sha256 hex digest of :func:`canonical_json` of ``obj`` (UTF-8)."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()
