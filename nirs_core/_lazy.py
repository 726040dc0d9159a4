"""Lazy package namespaces.

``nirs_core.operators`` and its siblings hold scikit-learn estimators, but their pure numpy
kernels (``_kernels.py``) must import without scikit-learn: replay of a bundle runs on numpy
alone and must start in well under a second. Importing ``nirs_core.operators._kernels`` runs
the package ``__init__`` first, so that ``__init__`` may not import the estimator modules
eagerly. It exports them lazily instead: the first attribute access imports every public
submodule (a name without a leading underscore) and re-exports the names in its ``__all__``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any


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
        from nirs_core.operators._registry import _REGISTRY

        cls = _REGISTRY.get(name)
        if cls is not None and cls.__module__.startswith(package_name + "."):
            namespace[name] = cls
            return cls
        raise AttributeError(f"module {package_name!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(load()))

    return __getattr__, __dir__
