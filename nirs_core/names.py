"""Shared naming rules, one place each: the names that become file and partition names, and the
fold ids of prediction rows. Every layer reads these (the lowest layer beside ``errors``)."""

from __future__ import annotations

import re

__all__ = ["NAME_PATTERN", "PARTITIONS", "POOLED_FOLD", "REFIT_FOLD", "check_name", "safe_name"]

#: A name that names files and Dagster partitions (datasets, runs, models): starts with a letter
#: or digit, then letters, digits, ``.``, ``_`` or ``-``.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

#: ``fold`` of the rows predicted by the model refit on the whole calibration set.
REFIT_FOLD = -1
#: ``fold`` of the pooled out-of-fold (cross-validation) rows.
POOLED_FOLD = -2
#: The partitions of prediction rows.
PARTITIONS = ("train", "val", "test")


def safe_name(text: object) -> str:
    """``text`` made a :data:`NAME_PATTERN` name: each run of other characters becomes ``_``,
    leading and trailing ``.``, ``_`` and ``-`` are dropped. ``""`` when nothing is left (the
    caller decides: a default, or an error naming the file)."""
    name = _UNSAFE.sub("_", str(text)).strip("._-")
    return name if NAME_PATTERN.match(name) else ""


def check_name(name: object, where: str, what: str = "name") -> str:
    """``name`` if it matches :data:`NAME_PATTERN`, else a ``ConfigError`` naming ``where``."""
    from nirs_core.errors import ConfigError

    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(
            f"{where}: {what} must match {NAME_PATTERN.pattern} (it names files); got {name!r}."
        )
    return name
