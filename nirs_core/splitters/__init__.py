"""nirs_core.splitters: see the submodules. Exports are loaded lazily (see nirs_core.registry) so that
the pure numpy kernels in this package import without scikit-learn."""

from nirs_core.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, __path__, globals())
