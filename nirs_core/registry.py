"""The operator registry and the lazy namespaces of the estimator packages.

Short names that chemometricians type (``SNV``, ``SG``, ``PLS``), class names and full class
paths resolve to classes. ``nirs_core.operators``, ``models`` and ``splitters`` import this one
module (it sits below all three), and their ``__init__`` exports lazily through
:func:`lazy_exports`: their pure numpy kernels (``_kernels.py``) must import without
scikit-learn, because replay of a bundle runs on numpy alone and must start in well under a
second.

Project classes join with the :func:`register` decorator. Any importable scikit-learn
compatible class path (``sklearn.preprocessing.StandardScaler`` or
``sklearn.preprocessing:StandardScaler``) resolves too, without registration.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from nirs_core.errors import ConfigError

__all__ = [
    "available",
    "class_path",
    "lazy_exports",
    "public_submodules",
    "register",
    "registered",
    "resolve",
]

T = TypeVar("T", bound=type)

_REGISTRY: dict[str, type] = {}
_PACKAGES = ("nirs_core.operators", "nirs_core.models", "nirs_core.splitters")


def register(*aliases: str) -> Callable[[T], T]:
    """Class decorator: register ``cls`` under its class name, its full path and ``aliases``."""

    def decorate(cls: T) -> T:
        for key in (cls.__name__, class_path(cls), *aliases):
            other = _REGISTRY.get(key)
            if other is not None and class_path(other) != class_path(cls):
                raise ConfigError(
                    f"operator registry: name {key!r} is already taken by {class_path(other)}; "
                    f"cannot register {class_path(cls)} under it."
                )
            _REGISTRY[key] = cls
        return cls

    return decorate


def class_path(cls: type) -> str:
    """``module.QualName`` of a class, the form stored in configs."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _load_all() -> None:
    for package_name in _PACKAGES:
        package = importlib.import_module(package_name)
        for sub in public_submodules(package_name, list(package.__path__)):
            importlib.import_module(f"{package_name}.{sub}")


def available() -> Mapping[str, type]:
    """Every short name, class name and class path of the registry, mapped to its class."""
    _load_all()
    return MappingProxyType(dict(sorted(_REGISTRY.items())))


def registered() -> Mapping[str, type]:
    """The names registered so far, without importing any operator module (cheap; the classes
    of a config being named are imported already, hence registered)."""
    return MappingProxyType(_REGISTRY)


def resolve(name: str) -> type:
    """The class for a short name, a class name or an importable class path.

    Raises ``ConfigError`` naming what was asked for and the closest registered names.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"operator registry: expected a class name or path string; got {name!r}.")
    if name in _REGISTRY:
        return _REGISTRY[name]
    _load_all()
    if name in _REGISTRY:
        return _REGISTRY[name]
    module_name, sep, attr = name.partition(":")
    if not sep:
        module_name, _, attr = name.rpartition(".")
    if module_name:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"operator registry: cannot import module {module_name!r} for {name!r}: {exc}."
            ) from exc
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise ConfigError(f"operator registry: module {module_name!r} has no attribute {attr!r}.")
        if not isinstance(obj, type):
            raise ConfigError(f"operator registry: {name!r} is not a class; got {type(obj).__name__}.")
        return obj
    import difflib

    close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.6)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"operator registry: unknown operator {name!r}.{hint}")


# --------------------------------------------------------------------------- lazy namespaces


def public_submodules(package_name: str, package_path: list[str]) -> list[str]:
    """Names of the public submodules of a package, sorted."""
    return sorted(info.name for info in pkgutil.iter_modules(package_path) if not info.name.startswith("_"))


def lazy_exports(
    package_name: str, package_path: list[str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for a package that re-exports its submodules lazily."""
    exports: dict[str, Any] = {}

    def load() -> dict[str, Any]:
        if not exports:
            for sub in public_submodules(package_name, package_path):
                module = importlib.import_module(f"{package_name}.{sub}")
                for name in getattr(module, "__all__", ()):
                    exports[name] = getattr(module, name)
                exports.setdefault(sub, module)
        return exports

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            # private names (``from package import _kernels``) are submodules or nothing:
            # Python imports the submodule itself after this AttributeError, without
            # loading every estimator module (which could import this module back).
            raise AttributeError(name)
        found = load()
        if name in found:
            namespace[name] = found[name]
            return found[name]
        # the short names of the registry (SNV, SG, PLS…) for classes of this package
        cls = _REGISTRY.get(name)
        if cls is not None and cls.__module__.startswith(package_name + "."):
            namespace[name] = cls
            return cls
        raise AttributeError(f"module {package_name!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(load()))

    return __getattr__, __dir__
