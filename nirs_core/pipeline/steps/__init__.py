"""Step kinds: one module each (``operator``, ``model``, ``pls_sweep``, ``split``,
``y_processing``, ``branch``, ``augmentation``, ``merge``), found through one registry.

A new kind is one new module in this package (every public module here is imported with the
package); its keyword, its payload's context and its controller are registered by one
decorator, ``@controller("my_keyword", context=Context.VALUE)``. What each kind does, lanes
(:class:`Flow`) and fit contexts (:class:`Env`): ``docs/steps.md``.
"""

from __future__ import annotations

import importlib
import pkgutil

from nirs_core.pipeline.keywords import Context
from nirs_core.pipeline.steps._base import (
    Block,
    Controller,
    Env,
    Flow,
    PredictionSet,
    Record,
    YStep,
    controller,
    controllers,
    find_controller,
    run_step,
)

__all__ = [
    "Block",
    "Context",
    "Controller",
    "Env",
    "Flow",
    "PredictionSet",
    "Record",
    "YStep",
    "controller",
    "controllers",
    "find_controller",
    "run_step",
]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
