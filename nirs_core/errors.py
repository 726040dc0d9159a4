"""The project's exception types: each subclasses the matching builtin, so callers that
catch ``ValueError`` keep working, and each message says who complains, what was expected,
what was received and where."""

from __future__ import annotations

from numbers import Integral

__all__ = [
    "BundleIntegrityError",
    "ConfigError",
    "DataError",
    "DiskFullError",
    "NirsError",
    "PromotionRefusedError",
    "ShapeError",
    "is_disk_full",
]


class NirsError(Exception):
    """Base class of every error raised on purpose by nirs_core."""


class DataError(NirsError, ValueError):
    """Input data is malformed: names the file, the row and the column where it can."""


class ConfigError(NirsError, ValueError):
    """A template, config or parameter is invalid: names the file and the path inside it."""


class ShapeError(ConfigError):
    """A parameter that the shape of the data rules out whatever the fold (a window longer than
    the spectrum, a wavelength range outside the axis). Raised by an operator's ``_nirs_shape``
    hook (see :mod:`nirs_core.pipeline.preflight`), which names the parameter so that the
    preflight can point at ``...params.<param>`` in the config."""

    def __init__(self, owner: str, param: str, expected: str, found: str) -> None:
        super().__init__(f"{owner}: {param}: expected {expected}; found {found}.")
        self.owner, self.param, self.expected, self.found = owner, param, expected, found


def check_at_most(owner: str, param: str, value: object, bound: int, expected: str) -> None:
    """:class:`ShapeError` when the whole number ``value`` of ``param`` is above ``bound``
    (``expected`` says what the bound is); a value of another type is left to the operator's
    own parameter checks. The one test every ``_nirs_shape`` hook makes."""
    if isinstance(value, Integral) and not isinstance(value, bool) and value > bound:
        raise ShapeError(owner, param, expected, f"{param}={value}")


class BundleIntegrityError(NirsError):
    """A bundle failed its signature or hash verification."""


class DiskFullError(NirsError, OSError):
    """A write failed for want of space (or quota): says what was being written and what to do."""


def is_disk_full(exc: BaseException) -> bool:
    """True for the ``OSError`` of a full file system or an exhausted quota."""
    import errno

    if not isinstance(exc, OSError):
        return False
    # pyarrow's IO errors carry no errno, only the system's message
    return exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(exc)


class PromotionRefusedError(NirsError, ValueError):
    """The promotion policy refused a challenger: names the model, the versions and every
    statistic by which the challenger is worse than the alias's holder."""
