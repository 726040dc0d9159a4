"""nirs_core.store: the workspace on disk (runs, results, artefacts, predictions, registry),
written atomically under locks. Exports are loaded lazily (see nirs_core.registry)."""

from nirs_core.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, __path__, globals())
