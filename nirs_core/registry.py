"""The operator registry and the lazy namespaces of the estimator packages.

Short names that chemometricians type (``SNV``, ``SG``, ``PLS``), class names and full class
paths resolve to classes. ``nirs_core.operators``, ``models`` and ``splitters`` import this one
module (it sits below all three), and their ``__init__`` exports lazily through
:func:`lazy_exports`: their pure numpy kernels (``_kernels.py``) must import without
scikit-learn, because replay of a bundle runs on numpy alone and must start in well under a
second.

Project classes join with the :func:`register` decorator. Templates are data from anyone who
can write a file, so a class path resolves only from an allow-list, checked *before* any module
is imported (:func:`resolve` and :func:`resolve_callable` are the only ways from a name to an
object): the registered operators, scikit-learn estimators and splitters
(``sklearn.preprocessing.StandardScaler``), classes and functions the running program handed
over as live objects (:func:`trust`), and modules a user allows explicitly
(``NIRS_ALLOWED_MODULES=mylab,other.pkg`` or :func:`allowing`, which the template loader uses
for the ``allowed_modules:`` of a ``nirs.yaml`` beside the template).

nirs4all's operator paths (``nirs4all.operators.transforms.SNV``, ``…transforms.nirs.SavitzkyGolay``,
``…splitters.KennardStoneSplitter``, ``…models.IKPLS``) map to the project's operator of the
same technique through :data:`NIRS4ALL_ALIASES`, as strings, before the allow-list and before
anything is imported (nirs4all itself is never imported): :func:`nirs4all_alias` translates a
path and its parameters, with nirs4all's defaults where they differ from ours. An unmapped
path, or a parameter value that has no counterpart here, is a ``ConfigError`` naming the path
and the nearest operators we have.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import importlib.util
import os
import pkgutil
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from nirs_core.errors import ConfigError

__all__ = [
    "ALLOWED_MODULES_ENV",
    "NIRS4ALL_ALIASES",
    "Nirs4allAlias",
    "allowed_modules",
    "allowing",
    "available",
    "check_module_names",
    "class_path",
    "lazy_exports",
    "nirs4all_alias",
    "public_submodules",
    "register",
    "registered",
    "resolve",
    "resolve_callable",
    "trust",
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


_DECORATED = re.compile(r"^@register\(([^)]*)\)\s*\n(?:@.*\n)*class\s+(\w+)", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")


@functools.cache
def _name_index() -> dict[str, str]:
    """Short and class names mapped to the module that registers them, read from the source
    of the operator packages (``@register(...)`` above ``class Name``) without importing them:
    resolving ``SNV`` then imports one module instead of every operator module (their import
    is a good part of a small run's start-up). Only a hint: :func:`resolve` checks the name is
    registered after importing the module, and loads everything otherwise."""
    index: dict[str, str] = {}
    for package_name in _PACKAGES:
        spec = importlib.util.find_spec(package_name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            for sub in public_submodules(package_name, [folder]):
                source = os.path.join(folder, f"{sub}.py")
                if not os.path.isfile(source):
                    continue
                with open(source, encoding="utf-8") as handle:
                    text = handle.read()
                for match in _DECORATED.finditer(text):
                    for key in (match.group(2), *_QUOTED.findall(match.group(1))):
                        index.setdefault(key, f"{package_name}.{sub}")
    return index


def available() -> Mapping[str, type]:
    """Every short name, class name and class path of the registry, mapped to its class."""
    _load_all()
    return MappingProxyType(dict(sorted(_REGISTRY.items())))


def registered() -> Mapping[str, type]:
    """The names registered so far, without importing any operator module (cheap; the classes
    of a config being named are imported already, hence registered)."""
    return MappingProxyType(_REGISTRY)


#: Comma-separated module prefixes whose classes and functions templates may name.
ALLOWED_MODULES_ENV = "NIRS_ALLOWED_MODULES"
_EXTRA_MODULES: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("nirs_allowed", default=())
_TRUSTED: set[str] = set()
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# scikit-learn subpackages that hold no estimator a template may name (helpers, data downloads)
_SKLEARN_REFUSED = (
    "sklearn.utils",
    "sklearn.externals",
    "sklearn.datasets",
    "sklearn.tests",
    "sklearn.conftest",
)


def check_module_names(names: Any, where: str) -> tuple[str, ...]:
    """``names`` (a list of module prefixes such as ``mylab.ops``) checked and as a tuple."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ConfigError(f"{where}: expected a list of module names; got {names!r}.")
    bad = [n for n in names if not isinstance(n, str) or not _MODULE_NAME.fullmatch(n)]
    if bad:
        raise ConfigError(f"{where}: expected module names such as 'mylab.operators'; got {bad[0]!r}.")
    return tuple(names)


def _env_modules() -> tuple[str, ...]:
    text = os.environ.get(ALLOWED_MODULES_ENV, "")
    names = [n.strip() for n in text.split(",") if n.strip()]
    return check_module_names(names, ALLOWED_MODULES_ENV)


def allowed_modules() -> tuple[str, ...]:
    """The module prefixes allowed beyond the registry and scikit-learn: the environment's
    ``NIRS_ALLOWED_MODULES`` and those of the enclosing :func:`allowing` blocks."""
    return _env_modules() + _EXTRA_MODULES.get()


@contextlib.contextmanager
def allowing(modules: Iterable[str]) -> Iterator[None]:
    """Allow classes and functions of ``modules`` (prefixes) inside the block."""
    extra = check_module_names(list(modules), "allowed_modules")
    token = _EXTRA_MODULES.set(_EXTRA_MODULES.get() + extra)
    try:
        yield
    finally:
        _EXTRA_MODULES.reset(token)


def trust(obj: Any, *paths: str) -> None:
    """Allow ``obj`` (a class or function the program itself passed in) under ``paths``."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module and qualname:
        _TRUSTED.add(f"{module}.{qualname}")
    _TRUSTED.update(paths)


def _under(module_name: str, prefixes: Iterable[str]) -> bool:
    return any(module_name == p or module_name.startswith(p + ".") for p in prefixes)


def _split_path(name: str) -> tuple[str, str]:
    module_name, sep, attr = name.partition(":")
    if not sep:
        module_name, _, attr = name.rpartition(".")
    return module_name, attr


def _refusal(kind: str, name: str) -> ConfigError:
    return ConfigError(
        f"{name!r} is not an allowed {kind}: templates may name the registered operators "
        "(nirs_core.operators.available()), scikit-learn estimators and splitters, and modules "
        f"allowed explicitly ({ALLOWED_MODULES_ENV}=module,other or 'allowed_modules: [module]' in a "
        "nirs.yaml beside the template); refusing to import it."
    )


def _sklearn_allowed(module_name: str) -> bool:
    return _under(module_name, ("sklearn",)) and not _under(module_name, _SKLEARN_REFUSED)


def _import_path(module_name: str, attr: str, name: str) -> Any:
    """Import ``module_name`` (already allowed) and walk to ``attr``; None when absent."""
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"operator registry: cannot import module {module_name!r} for {name!r}: {exc}."
        ) from exc
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _is_estimator_class(obj: Any) -> bool:
    if not isinstance(obj, type):
        return False
    from nirs_core.estimator import BaseEstimator, sklearn_in_use

    if issubclass(obj, BaseEstimator) or (hasattr(obj, "split") and hasattr(obj, "get_n_splits")):
        return True
    if not sklearn_in_use():
        return False  # a scikit-learn class can exist only once scikit-learn is imported
    from sklearn.base import BaseEstimator as SkBaseEstimator

    return issubclass(obj, SkBaseEstimator)


# scikit-learn class paths that resolve to the project's own classes with provably the same
# numbers (each module says why), so that naming them does not import scikit-learn (~1.2 s).
# The classes keep the scikit-learn path as their identity (``_sklearn_path``). Imported by
# name: this module sits below the operators in the layers.
STAND_INS = {
    "sklearn.model_selection.KFold": "nirs_core.splitters._sklearn_splits:KFold",
    "sklearn.model_selection._split.KFold": "nirs_core.splitters._sklearn_splits:KFold",
    "sklearn.cross_decomposition.PLSRegression": "nirs_core.models._sklearn_pls:PLSRegression",
    "sklearn.cross_decomposition._pls.PLSRegression": "nirs_core.models._sklearn_pls:PLSRegression",
}


def stand_in(path: str) -> type:
    """The project's class that runs the scikit-learn class ``path`` (a key of ``STAND_INS``)."""
    module_name, _, attr = STAND_INS[path].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def resolve(name: str) -> type:
    """The class for a short name, a class name or a class path, from the allow-list only.

    Allowed: the registered operators, scikit-learn estimators and splitters (outside
    ``sklearn.utils`` and the like), classes given to :func:`trust`, and classes of the modules
    of :func:`allowed_modules`. A module is checked before it is imported, so a hostile path
    never runs its module's code. Raises ``ConfigError`` naming what was asked for.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"operator registry: expected a class name or path string; got {name!r}.")
    if is_nirs4all_path(name):
        name = nirs4all_alias(name, {})[0]  # mapped as a string: nirs4all is never imported
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name in STAND_INS:
        return stand_in(name)
    module_name, attr = _split_path(name)
    if not module_name:
        hinted = _name_index().get(name)
        if hinted is not None:
            importlib.import_module(hinted)  # the one module that registers it (a hint: checked)
            if name in _REGISTRY:
                return _REGISTRY[name]
        _load_all()
        if name in _REGISTRY:
            return _REGISTRY[name]
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"operator registry: unknown operator {name!r}.{hint}")
    dotted = f"{module_name}.{attr}"
    if _under(module_name, ("nirs_core",)):
        # the module named by the path registers its classes on import: the others need not load
        with contextlib.suppress(ImportError):
            importlib.import_module(module_name)
        if dotted in _REGISTRY:
            return _REGISTRY[dotted]
        _load_all()
        if dotted in _REGISTRY:
            return _REGISTRY[dotted]
        obj = _import_path(module_name, attr, name)  # the project's own module: safe to import
        if obj not in set(_REGISTRY.values()) and dotted not in _TRUSTED:
            raise _refusal("operator (not a registered nirs_core operator)", name)
    elif dotted in _TRUSTED or _under(module_name, allowed_modules()):
        obj = _import_path(module_name, attr, name)
    elif _sklearn_allowed(module_name):
        obj = _import_path(module_name, attr, name)
        if obj is not None and not _is_estimator_class(obj):
            raise _refusal("operator (not a scikit-learn estimator or splitter class)", name)
    else:
        raise _refusal("operator", name)
    if obj is None:
        raise ConfigError(f"operator registry: module {module_name!r} has no attribute {attr!r}.")
    if not isinstance(obj, type):
        raise ConfigError(f"operator registry: {name!r} is not a class; got {type(obj).__name__}.")
    return obj


def _numpy_allowed(obj: Any) -> bool:
    """numpy's ufuncs (``numpy.log1p``) and scalar types (``numpy.float64``); not its file I/O."""
    import numpy as np

    return isinstance(obj, np.ufunc) or (isinstance(obj, type) and issubclass(obj, np.generic))


def resolve_callable(name: str) -> Any:
    """The function or class a template names as ``{"callable": "module.name"}``, from the same
    allow-list as :func:`resolve` plus numpy's ufuncs and scalar types. None when an allowed
    module does not have it; ``ConfigError`` when the module is not allowed."""
    module_name, _, attr = name.rpartition(".")
    if name in _TRUSTED:
        pass
    elif _under(module_name, ("numpy",)):
        if module_name != "numpy":
            raise _refusal("callable (numpy: only its ufuncs and scalar types)", name)
        obj = getattr(sys.modules.get("numpy") or importlib.import_module("numpy"), attr, None)
        if obj is not None and not _numpy_allowed(obj):
            raise _refusal("callable (numpy: only its ufuncs and scalar types)", name)
        return obj
    elif _sklearn_allowed(module_name) or _under(module_name, ("nirs_core",)):
        pass
    elif not _under(module_name, allowed_modules()):
        raise _refusal("callable", name)
    while module_name:
        try:
            importlib.import_module(module_name)
        except ImportError:
            module_name, _, head = module_name.rpartition(".")
            attr = f"{head}.{attr}"
            continue
        obj: Any = sys.modules[module_name]
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        if _under(module_name, ("nirs_core",)) and name not in _TRUSTED and obj not in _REGISTRY.values():
            raise _refusal("callable (not a registered nirs_core operator)", name)
        return obj
    return None


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


# --------------------------------------------------------------------------- nirs4all paths


@dataclass(frozen=True)
class Nirs4allAlias:
    """How one nirs4all operator maps onto ours.

    ``target``: our short name. ``rename``: nirs4all parameter name -> ours (names not listed
    are the same). ``defaults``: nirs4all's defaults, in our names, where they differ from
    ours (so an operator written without parameters means what it means in nirs4all).
    ``fixed``: nirs4all parameters that have no counterpart here beyond the value given (any
    other value is an error), translated to ``sets`` (our parameters). ``ignored``: accepted
    and dropped (``copy``; ``backend``; the seed of a deterministic splitter)."""

    target: str
    rename: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    sets: Mapping[str, Any] = field(default_factory=dict)
    ignored: tuple[str, ...] = ("copy",)


_SNV = Nirs4allAlias("SNV", fixed={"axis": 1, "with_mean": True, "with_std": True})
_MSC = Nirs4allAlias("MSC", fixed={"scale": True})
_EMSC = Nirs4allAlias("EMSC", rename={"degree": "order"}, fixed={"scale": True})
_KS = {"defaults": {"test_size": 0.25, "scale": False}, "fixed": {"pca_components": None}}

#: ``(family, class name)`` of a nirs4all operator -> its translation. The family is the
#: package under ``nirs4all.operators`` (``transforms``, ``splitters``, ``models``); any
#: module path inside it maps by the class name (``transforms.nirs.SavitzkyGolay`` is
#: ``transforms.SavitzkyGolay``). Only techniques whose numbers we compute the same way.
NIRS4ALL_ALIASES: Mapping[tuple[str, str], Nirs4allAlias] = MappingProxyType(
    {
        ("transforms", "StandardNormalVariate"): _SNV,
        ("transforms", "SNV"): _SNV,
        ("transforms", "MultiplicativeScatterCorrection"): _MSC,
        ("transforms", "MSC"): _MSC,
        ("transforms", "ExtendedMultiplicativeScatterCorrection"): _EMSC,
        ("transforms", "EMSC"): _EMSC,
        ("transforms", "SavitzkyGolay"): Nirs4allAlias("SavitzkyGolay", defaults={"polyorder": 3}),
        ("transforms", "Detrend"): Nirs4allAlias("Detrend", fixed={"bp": 0}, sets={"order": 1}),
        ("transforms", "Gaussian"): Nirs4allAlias("GaussianSmoothing", defaults={"order": 2, "sigma": 1}),
        ("transforms", "ReflectanceToAbsorbance"): Nirs4allAlias(
            "ReflectanceToAbsorbance",
            rename={"min_value": "min_reflectance"},
            defaults={"min_reflectance": 1e-8},
            fixed={"percent": False},
        ),
        ("transforms", "ASLSBaseline"): Nirs4allAlias("ALS"),
        ("transforms", "AirPLS"): Nirs4allAlias("AirPLS"),
        ("splitters", "KennardStoneSplitter"): Nirs4allAlias(
            "KennardStoneSplit", ignored=("random_state",), **_KS
        ),
        ("splitters", "SPXYSplitter"): Nirs4allAlias("SPXYSplit", ignored=("random_state",), **_KS),
        ("models", "PLSDA"): Nirs4allAlias("PLSDA", defaults={"n_components": 5}),
        ("models", "IKPLS"): Nirs4allAlias(
            "PLS",
            defaults={"n_components": 10, "scale": True, "algorithm": 1},
            fixed={"center": True},
            ignored=("backend",),
        ),
        ("models", "PCR"): Nirs4allAlias("PCR", defaults={"n_components": 10}),
    }
)
_NIRS4ALL = "nirs4all.operators."


def is_nirs4all_path(name: Any) -> bool:
    return isinstance(name, str) and (name.startswith("nirs4all.") or name.startswith("nirs4all:"))


def _nearest(family: str, cls_name: str) -> str:
    import difflib

    ours = sorted({k for k in _REGISTRY if "." not in k} | {a.target for a in NIRS4ALL_ALIASES.values()})
    mapped = sorted(f"{_NIRS4ALL}{f}.{n}" for f, n in NIRS4ALL_ALIASES if f == family)
    close = difflib.get_close_matches(cls_name, ours, n=4, cutoff=0.5)
    close += [
        m
        for m in mapped
        if m.rsplit(".", 1)[-1]
        in difflib.get_close_matches(cls_name, [x.rsplit(".", 1)[-1] for x in mapped], n=2, cutoff=0.5)
    ]
    return ", ".join(dict.fromkeys(close)) or ", ".join(mapped)


def nirs4all_alias(path: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """``(our short name, our params)`` for the nirs4all operator ``path`` with ``params``
    (nirs4all's parameter names), without importing nirs4all. Raises ``ConfigError`` for an
    unmapped path (naming the nearest operators we have) or a parameter with no counterpart."""
    text = path.replace(":", ".")
    parts = text.split(".")
    family = parts[2] if len(parts) > 3 and text.startswith(_NIRS4ALL) else ""
    key = (family, parts[-1])
    alias = NIRS4ALL_ALIASES.get(key)
    if alias is None:
        raise ConfigError(
            f"{path}: no counterpart of this nirs4all operator here (nirs4all is not imported; its "
            f"operators map onto ours by technique). Nearest: {_nearest(family, parts[-1])}."
        )
    given = dict(params or {})
    out = dict(alias.defaults)
    for name, value in given.items():
        if name in alias.ignored:
            continue
        if name in alias.fixed:
            if value != alias.fixed[name]:
                raise ConfigError(
                    f"{path}: {name}={value!r} has no counterpart in {alias.target} (only "
                    f"{name}={alias.fixed[name]!r}, nirs4all's default, does)."
                )
            continue
        out[alias.rename.get(name, name)] = value
    out.update(alias.sets)
    return alias.target, out
