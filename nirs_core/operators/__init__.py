"""nirs_core.operators: chemometric operators; `available()` lists the registry. Exports are loaded lazily (see nirs_core.registry) so that
the pure numpy kernels in this package import without scikit-learn."""

from nirs_core.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, __path__, globals())


def available():
    """Every short name, class name and class path of the registry, mapped to its class."""
    from nirs_core.registry import available as _available

    return _available()
