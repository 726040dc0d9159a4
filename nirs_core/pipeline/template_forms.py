"""The template forms people write, normalised to the engine's form before expansion.

:func:`normalize_steps` runs on a template's step list before :func:`~nirs_core.pipeline.
generators.count` and :func:`~nirs_core.pipeline.generators.expand` (both, so the count is
always the number of configs), and rewrites:

- a **bare splitter** (an object with ``split`` and ``get_n_splits``: ``KFold(5)``,
  ``"sklearn.model_selection.ShuffleSplit"``, ``{"class": ShuffleSplit, "params": ...}``)
  into a split step ``{"split": <splitter>}``;
- a **bare model** (a regressor or classifier by its scikit-learn tags: ``PLSRegression()``)
  into a model step ``{"model": <model>}``;
- a **standalone generator with** ``param`` (``{"_range_": [5, 15, 5], "param":
  "n_components"}``, with no ``model``) into that parameter of the *next* operator of the
  chain: ``[{"_range_": [5, 15, 5], "param": "n_components"}, PLSRegression()]`` is
  ``[{"model": {"class": PLSRegression, "params": {"n_components": {"_range_": [5, 15, 5]}}}}]``.
  A standalone ``_grid_`` without ``param`` sets each of its names on the next operator.

Live objects (a Python list holding ``SNV()`` or ``PLSRegression(10)``) are kept as they are:
the canonical form reads them. The rewriting recurses into nested step lists, the
alternatives of a step-level ``_or_`` and the chains of a ``branch``. Where nothing follows a
standalone generator, or what follows is not an operator, a :class:`ConfigError` names the
generator's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nirs_core.errors import ConfigError
from nirs_core.pipeline.keywords import KEYWORDS, Context
from nirs_core.pipeline.serialize import key_path, resolve_class

__all__ = ["normalize_steps", "step_role"]

_GENERATORS = ("_or_", "_range_", "_log_range_", "_grid_")


def _generator_key(obj: Any) -> str | None:
    if isinstance(obj, Mapping):
        for key in _GENERATORS:
            if key in obj:
                return key
    return None


def _class_of(obj: Any) -> type | None:
    """The operator class a step names, or None when it is not an operator (or its class is
    generated, or does not resolve: expansion then reports it in its own words)."""
    if isinstance(obj, type):
        return obj
    if isinstance(obj, str):
        ref: Any = obj
    elif isinstance(obj, Mapping):
        if "class" not in obj or any(k in KEYWORDS for k in obj):
            return None
        ref = obj["class"]
        if isinstance(ref, type):
            return ref
        if not isinstance(ref, str):
            return None
    elif obj is None or isinstance(obj, (bool, int, float, list, tuple)):
        return None
    else:
        return type(obj)
    try:
        return resolve_class(ref)
    except ConfigError:
        return None


def step_role(obj: Any) -> str | None:
    """``"split"`` for a bare splitter, ``"model"`` for a bare regressor or classifier, else
    None (a transformer, a keyword step, a generator, or nothing the registry knows)."""
    cls = _class_of(obj)
    if cls is None:
        return None
    if hasattr(cls, "split") and hasattr(cls, "get_n_splits") and not hasattr(cls, "transform"):
        return "split"
    if not hasattr(cls, "predict") or not hasattr(cls, "fit"):
        return None
    instance = obj if not isinstance(obj, (str, type, Mapping)) else None
    if instance is None:
        try:
            instance = cls()
        except Exception:
            instance = None
    from nirs_core.estimator import get_tags  # scikit-learn's when it is imported

    try:
        kind = get_tags(instance if instance is not None else cls).estimator_type
    except (AttributeError, TypeError, ValueError):
        kind = None
    return "model" if kind in ("regressor", "classifier") else None


def _as_operator_mapping(obj: Any, path: str) -> dict[str, Any]:
    """``{"class", "params"}`` of an operator written in any form (params may be generators)."""
    if isinstance(obj, (str, type)):
        return {"class": obj, "params": {}}
    if isinstance(obj, Mapping):
        params = obj.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"{key_path(path, 'params')}: expected a mapping; got {params!r}.")
        return {"class": obj["class"], "params": dict(params)}
    if hasattr(obj, "get_params"):
        return {"class": type(obj), "params": dict(obj.get_params(deep=False))}
    raise ConfigError(f"{path}: cannot set a parameter on {type(obj).__name__}; it has no get_params.")


def _apply(generator: Mapping, target: Any, gpath: str, tpath: str) -> Any:
    """``target`` (an operator, a bare model, a model or split step) with the standalone
    ``generator`` set on its parameters."""
    if isinstance(target, Mapping) and any(k in KEYWORDS for k in target):
        keyword = next(k for k in target if k in KEYWORDS)
        if KEYWORDS.context(keyword) is not Context.OPERATOR:
            raise ConfigError(
                f"{gpath}: a standalone generator with 'param' sets a parameter of the next "
                f"operator; the next step ({tpath}) is a {keyword!r} step."
            )
        return {**target, keyword: _apply(generator, target[keyword], gpath, key_path(tpath, keyword))}
    if _generator_key(target) is not None or (target is None or isinstance(target, (list, tuple))):
        raise ConfigError(
            f"{gpath}: a standalone generator with 'param' sets a parameter of the next operator; "
            f"the next step ({tpath}) is not one operator (write the generator in its params)."
        )
    op = _as_operator_mapping(target, tpath)
    params = op["params"]
    if _generator_key(params) is not None:
        raise ConfigError(f"{gpath}: the next operator's params ({tpath}) are a generator already.")
    key = _generator_key(generator)
    inner = {k: v for k, v in generator.items() if k != "param"}
    if "param" in generator:
        name = generator["param"]
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{key_path(gpath, 'param')}: expected a parameter name; got {name!r}.")
        params[name] = inner
    elif key == "_grid_":
        # the operator's other params become one-value axes of the grid (the grid's names win,
        # as 'param' does): one mapping of every parameter per config
        spec = inner["_grid_"]
        if not isinstance(spec, Mapping):
            raise ConfigError(
                f"{key_path(gpath, '_grid_')}: expected a mapping of names to values; got {spec!r}."
            )
        own = {k: [v] for k, v in params.items() if k not in spec}
        params = {**inner, "_grid_": {**own, **spec}}
    return {"class": op["class"], "params": params}


def _is_standalone(obj: Any) -> bool:
    """A generator that sets parameters of the next operator: ``param`` (or a ``_grid_``)
    without ``model``, standing where a step is expected."""
    key = _generator_key(obj)
    if key is None or "model" in obj:
        return False
    return "param" in obj or key == "_grid_"


def normalize_steps(steps: Any, path: str) -> Any:
    """The step list ``steps`` (at ``path``) rewritten as described in the module docstring."""
    if not isinstance(steps, (list, tuple)):
        return _normalize_step(steps, path)
    out: list[Any] = []
    pending: tuple[Mapping, str] | None = None
    for i, item in enumerate(steps):
        ipath = f"{path}[{i}]"
        if _is_standalone(item):
            if pending is not None:
                raise ConfigError(
                    f"{pending[1]}: a standalone generator is followed by another ({ipath}); put both "
                    "in the operator's params."
                )
            pending = (item, ipath)
            continue
        step = _normalize_step(item, ipath)
        if pending is not None:
            step = _apply(pending[0], step, pending[1], ipath)
            pending = None
            if not (isinstance(step, Mapping) and any(k in KEYWORDS for k in step)):
                role = step_role(step)
                if role is not None:
                    step = {role: step}
        out.append(step)
    if pending is not None:
        raise ConfigError(
            f"{pending[1]}: a standalone generator with 'param' sets that parameter on the next "
            "operator, but no step follows it."
        )
    return out


def _normalize_step(item: Any, path: str) -> Any:
    if isinstance(item, (list, tuple)):
        return normalize_steps(item, path)
    key = _generator_key(item)
    if key == "_or_" and not ({"param", "model"} & set(item)) and isinstance(item["_or_"], (list, tuple)):
        alternatives = [
            _normalize_step(alt, f"{key_path(path, '_or_')}[{j}]") for j, alt in enumerate(item["_or_"])
        ]
        return {**item, "_or_": alternatives}
    if key is not None:
        return item
    if isinstance(item, Mapping) and "branch" in item and "class" not in item:
        payload = item["branch"]
        bpath = key_path(path, "branch")
        if isinstance(payload, (list, tuple)):
            payload = [normalize_steps(c, f"{bpath}[{j}]") for j, c in enumerate(payload)]
        elif isinstance(payload, Mapping) and _generator_key(payload) is None:
            payload = {k: normalize_steps(c, key_path(bpath, str(k))) for k, c in payload.items()}
        return {**item, "branch": payload}
    if isinstance(item, Mapping) and any(k in KEYWORDS for k in item):
        return item
    role = step_role(item)
    return {role: item} if role is not None else item
