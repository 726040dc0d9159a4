"""Which layout a path holds (see :mod:`nirs_core.data.loaders` for the layouts): a saved
dataset folder, Xcal/Ycal files, X/y train/test files, several X files of the same samples,
or a single delimited or parquet file; and which file plays which role."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nirs_core.errors import DataError

__all__ = [
    "LAYOUT_NAMES",
    "LAYOUT_ROLES",
    "PARQUET_SUFFIXES",
    "ROLE_PARTITION",
    "TEXT_SUFFIXES",
    "detect_layout",
    "is_saved_dataset",
]

LAYOUT_NAMES = ("cal_val", "train_test", "single_file", "multi_source", "parquet", "saved")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
_ROLE = re.compile(
    r"^(?P<xy>[xy])[_\- ]?(?P<role>cal|calibration|val|validation|train|training|test)$", re.IGNORECASE
)
ROLE_PARTITION = {
    "cal": "train",
    "calibration": "train",
    "train": "train",
    "training": "train",
    "val": "test",
    "validation": "test",
    "test": "test",
}
LAYOUT_ROLES = {"cal_val": ("cal", "val"), "train_test": ("train", "test")}
_SOURCE = re.compile(r"^x[_\- ]?(?P<name>.+)$", re.IGNORECASE)
_YFILE = re.compile(r"^y(?:[_\- ].*)?$", re.IGNORECASE)


def is_saved_dataset(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder written by :meth:`SpectroDataset.save`."""
    return (Path(path) / "dataset.json").is_file()


def _data_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES + PARQUET_SUFFIXES and not p.name.startswith(".")
    )


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.stem)]


def detect_layout(
    path: str | os.PathLike,
    *,
    layout: str | None = None,
    sources: Sequence[str] | Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any], str]:
    """(layout, files by role, reason) for a folder or file; ``layout`` forces one."""
    root = Path(path)
    if layout is not None and layout not in LAYOUT_NAMES:
        raise DataError(f"{root}: layout must be one of {', '.join(LAYOUT_NAMES)}; got {layout!r}.")
    if root.is_file():
        return _detect_file(root, layout)
    if layout in (None, "saved") and is_saved_dataset(root):
        return "saved", {"data": root}, "a folder written by SpectroDataset.save (dataset.json)"
    if layout == "saved":
        raise DataError(
            f"{root}: layout 'saved' needs a folder written by SpectroDataset.save; found no dataset.json."
        )
    found = _data_files(root)
    listing = ", ".join(p.name for p in found) or "no .csv/.txt/.tsv/.parquet file"
    roles = _role_files(root, found)
    source_files = _source_files(root, found, sources)
    if layout is None:
        layout, reason = _guess_layout(root, roles, source_files, found, listing)
    else:
        reason = "given"
    if layout in LAYOUT_ROLES:
        return layout, _pair_files(root, layout, roles, listing), reason
    if layout == "multi_source":
        return layout, _multi_source_files(root, found, source_files, listing), reason
    want = PARQUET_SUFFIXES if layout == "parquet" else TEXT_SUFFIXES
    candidates = [p for p in found if p.suffix.lower() in want]
    if len(candidates) != 1:
        raise DataError(
            f"{root}: layout {layout} expects exactly one {'parquet' if layout == 'parquet' else 'delimited text'} "
            f"file in the folder; found: {listing}."
        )
    return layout, {"data": candidates[0]}, reason


def _detect_file(root: Path, layout: str | None) -> tuple[str, dict[str, Any], str]:
    is_parquet = root.suffix.lower() in PARQUET_SUFFIXES
    if layout is None:
        layout = "parquet" if is_parquet else "single_file"
        reason = f"a single {'parquet' if is_parquet else 'delimited text'} file"
    elif layout not in ("single_file", "parquet"):
        raise DataError(f"{root}: layout {layout!r} needs a folder; got a file.")
    else:
        reason = "given"
    return layout, {"data": root}, reason


def _role_files(root: Path, found: list[Path]) -> dict[tuple[str, str], Path]:
    """(x or y, canonical role) → file, for the files named like ``Xcal`` or ``y_test``."""
    roles: dict[tuple[str, str], Path] = {}
    for p in found:
        m = _ROLE.match(p.stem)
        if m and p.suffix.lower() in TEXT_SUFFIXES:
            key = (m["xy"].lower(), _canonical_role(m["role"]))
            if key in roles:
                raise DataError(
                    f"{root}: two files for the role {key[0].upper()}{key[1]}: {roles[key].name} and {p.name}; "
                    "expected one."
                )
            roles[key] = p
    return roles


def _guess_layout(root: Path, roles, source_files, found: list[Path], listing: str) -> tuple[str, str]:
    if ("x", "cal") in roles:
        return "cal_val", "an Xcal file"
    if ("x", "train") in roles:
        return "train_test", "an X_train file"
    if len(source_files) >= 2:
        return "multi_source", f"{len(source_files)} X files of the same samples"
    if len(found) == 1:
        is_parquet = found[0].suffix.lower() in PARQUET_SUFFIXES
        return (
            "parquet" if is_parquet else "single_file"
        ), f"the folder holds one data file, {found[0].name}"
    raise DataError(
        f"{root}: could not detect the layout; expected Xcal/Ycal[/Xval/Yval] files, "
        f"X_train/y_train/X_test/y_test files, several X files with one y file, or a single data file; "
        f"found: {listing}."
    )


def _pair_files(root: Path, layout: str, roles, listing: str) -> dict[str, Path | None]:
    train_role, test_role = LAYOUT_ROLES[layout]
    if ("x", train_role) not in roles:
        expected = "Xcal" if layout == "cal_val" else "X_train"
        raise DataError(
            f"{root}: expected a file named {expected} (.csv/.txt/.tsv) for layout {layout}; found: {listing}."
        )
    return {f"{xy}{role}": roles.get((xy, role)) for xy in ("x", "y") for role in (train_role, test_role)}


def _multi_source_files(root: Path, found: list[Path], source_files, listing: str) -> dict[str, Any]:
    if len(source_files) < 1:
        raise DataError(
            f"{root}: expected X files (one per source, e.g. X_inst1.csv) for layout multi_source; found: {listing}."
        )
    y_files = [p for p in found if _YFILE.match(p.stem) and p.suffix.lower() in TEXT_SUFFIXES]
    if len(y_files) > 1:
        raise DataError(
            f"{root}: expected at most one y file beside the X files; found {', '.join(p.name for p in y_files)}."
        )
    return {"sources": source_files, "y": y_files[0] if y_files else None}


def _canonical_role(role: str) -> str:
    r = role.lower()
    return {"calibration": "cal", "validation": "val", "training": "train"}.get(r, r)


def _source_files(
    root: Path, found: list[Path], sources: Sequence[str] | Mapping[str, str] | None
) -> list[tuple[str, Path]]:
    """(source name, file) pairs: from ``sources=`` or every ``X…`` text file not named by a role."""
    if sources is not None:
        pairs = (
            list(sources.items())
            if isinstance(sources, Mapping)
            else [(_source_name(Path(s)), s) for s in sources]
        )
        out = []
        for nm, f in pairs:
            p = Path(f) if Path(f).is_absolute() else root / f
            if not p.is_file():
                raise DataError(f"{p}: file not found (named in sources=).")
            out.append((str(nm), p))
        return out
    xs = [
        p
        for p in found
        if p.suffix.lower() in TEXT_SUFFIXES and _SOURCE.match(p.stem) and not _ROLE.match(p.stem)
    ]
    return [(_source_name(p), p) for p in sorted(xs, key=_natural_key)]


def _source_name(path: Path) -> str:
    m = _SOURCE.match(path.stem)
    return m["name"] if m else path.stem
