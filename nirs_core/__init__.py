"""nirs_core: the pure engine of nirs-dagster (no Dagster import anywhere below here).

Import cost matters (a cold ``nirs predict`` must start fast), so the public names are
resolved lazily on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "SpectroDataset": "nirs_core.data",
    "load": "nirs_core.data",
    "DataError": "nirs_core.errors",
    "ConfigError": "nirs_core.errors",
    "BundleIntegrityError": "nirs_core.errors",
    "predict": "nirs_core.app.predict",
    "run": "nirs_core.app.run",
    "resume": "nirs_core.app.run",
    "Run": "nirs_core.app.run",
    "expand": "nirs_core.pipeline.generators",
    "count": "nirs_core.pipeline.generators",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nirs_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
