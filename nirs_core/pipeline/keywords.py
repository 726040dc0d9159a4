"""The keyword steps a pipeline may hold (``model``, ``split``, ``branch``…): for each, the
*context* of its payload (how the template reader, the generators and the executor walk it) and
how config names show it.

A step kind registers itself, keyword, payload context and controller together, in its own
module under :mod:`nirs_core.pipeline.steps` (see :func:`nirs_core.pipeline.steps.controller`);
this module holds only the table, which the template reader consults. The step modules are
imported on the first look-up (by name, so the reader stays below them), which makes a new step
kind one new file.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["KEYWORDS", "Context", "Keyword", "register_keyword"]


class Context(enum.Enum):
    """Where a value sits in a pipeline, which decides how it is read."""

    CHAIN = "chain"  # a list of steps, flattened: None is no step, nested lists are spliced
    STEP = "step"  # one step: an operator or a keyword step
    OPERATOR = "operator"  # one operator
    CHAINS = "chains"  # a list of chains side by side (feature_augmentation, sample_augmentation)
    BRANCHES = "branches"  # a list of chains, or a mapping name -> chain
    VALUE = "value"  # a plain parameter or option value


@dataclass(frozen=True)
class Keyword:
    """A keyword step: its payload ``context``; ``named`` False keeps it out of config names
    (``split``); ``label_prefix`` starts its part of a name (``y`` for ``y_processing``)."""

    name: str
    context: Context
    named: bool = True
    label_prefix: str = ""


_TABLE: dict[str, Keyword] = {}
_STEPS_PACKAGE = "nirs_core.pipeline.steps"


def register_keyword(keyword: Keyword) -> None:
    """Add a keyword step (called by :func:`nirs_core.pipeline.steps.controller`)."""
    other = _TABLE.get(keyword.name)
    if other is not None and other != keyword:
        from nirs_core.errors import ConfigError

        raise ConfigError(f"step keywords: {keyword.name!r} is already registered as {other}; got {keyword}.")
    _TABLE[keyword.name] = keyword


class _Keywords(Mapping[str, Keyword]):
    """The registered keyword steps by name, the step modules loaded on first use."""

    def _table(self) -> dict[str, Keyword]:
        if not _TABLE:
            importlib.import_module(_STEPS_PACKAGE)
        return _TABLE

    def __getitem__(self, name: str) -> Keyword:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __contains__(self, name: object) -> bool:
        return name in self._table()

    def context(self, name: str) -> Context | None:
        """The payload context of keyword ``name``, or None when it is not a keyword step."""
        found = self._table().get(name)
        return found.context if found is not None else None


#: Every keyword step by name (a read-only mapping).
KEYWORDS = _Keywords()
