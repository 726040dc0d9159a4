"""Loaders behind :func:`load`: detect the layout of a folder or file, read it, and build a
:class:`~nirs_core.data.dataset.SpectroDataset` with everything inferred recorded in
``load_info``.

Layouts
-------
``cal_val``
    a folder with ``Xcal`` and optionally ``Ycal``, ``Xval``, ``Yval`` files (any case, an
    optional ``_``/``-`` after the X/Y, ``calibration``/``validation`` spelled out too, ``.csv``,
    ``.txt`` or ``.tsv``): calibration rows get partition ``train``, validation rows ``test``.
``train_test``
    the same with ``X_train``, ``y_train``, ``X_test``, ``y_test`` (``Xtrain``, ``x-train``…).
``multi_source``
    several ``X…`` files of the same samples (one per instrument or source, e.g. ``X_inst1``,
    ``X_inst2``) and optionally one ``y…`` file; one source per X file, in natural name order
    (or the order of ``sources=``).
``single_file``
    one delimited file: columns whose header is a number are spectra, the others (target,
    group, metadata…) are chosen by name.
``parquet``
    one parquet table with the same column semantics as ``single_file``.

Column roles
------------
Non-spectral columns (a y file's columns, an X file's columns whose header is not a number)
are assigned, in this order: ``target``, ``group``, ``sample`` (integer ids), ``partition``
(a column of labels mapped to partitions: cal/calibration/train/training → ``train``,
test/val/validation → ``test``, anything else kept as its own partition; ``partition_map``
extends the mapping), then every remaining one is metadata. Without ``target=``, the y files
of ``cal_val``/``train_test`` give the columns that every y file has (else the first numeric
column); a ``multi_source`` y file gives its first numeric column; a ``single_file``/``parquet``
table gives no target (its non-spectral columns are recorded and kept as metadata, never
used as spectra). A column named ``set``, ``partition`` or ``split`` holding text is taken as
the partition column when ``partition=`` is not given.

Errors are :class:`~nirs_core.errors.DataError` naming the file, the row (1-based line number
in the file; the header is line 1) and the column (header name and 1-based number).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nirs_core.data._csv import (
    HEADER_ROW,
    Table,
    col_where,
    float_block,
    parse_number,
    read_table,
    row_where,
)
from nirs_core.data.dataset import SpectroDataset
from nirs_core.data.wavelengths import infer_unit, normalise_unit
from nirs_core.errors import DataError

__all__ = ["LAYOUT_NAMES", "detect_layout", "load"]

LAYOUT_NAMES = ("cal_val", "train_test", "single_file", "multi_source", "parquet")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
DEFAULT_PARTITION_MAP = {
    "cal": "train",
    "calibration": "train",
    "train": "train",
    "training": "train",
    "test": "test",
    "val": "test",
    "validation": "test",
}
_PARTITION_COLUMN_NAMES = ("partition", "set", "split")
_ROLE = re.compile(
    r"^(?P<xy>[xy])[_\- ]?(?P<role>cal|calibration|val|validation|train|training|test)$", re.IGNORECASE
)
_ROLE_PARTITION = {
    "cal": "train",
    "calibration": "train",
    "train": "train",
    "training": "train",
    "val": "test",
    "validation": "test",
    "test": "test",
}
_LAYOUT_ROLES = {"cal_val": ("cal", "val"), "train_test": ("train", "test")}
_SOURCE = re.compile(r"^x[_\- ]?(?P<name>.+)$", re.IGNORECASE)
_YFILE = re.compile(r"^y(?:[_\- ].*)?$", re.IGNORECASE)


# ------------------------------------------------------------------------------ public entry
def load(
    path: str | os.PathLike,
    *,
    layout: str | None = None,
    target: str | Sequence[str] | None = None,
    group: str | None = None,
    metadata: str | Sequence[str] | None = None,
    sample: str | None = None,
    partition: str | None = None,
    partition_map: Mapping[str, str] | None = None,
    sources: Sequence[str] | Mapping[str, str] | None = None,
    header: bool | None = None,
    delimiter: str | None = None,
    decimal: str | None = None,
    unit: str | Sequence[str] | None = None,
    name: str | None = None,
    task: str | None = None,
) -> SpectroDataset:
    """Load a folder or file of spectra, detecting its layout (see the module docstring).

    Parameters
    ----------
    path: a folder (``cal_val``, ``train_test``, ``multi_source``, or a folder holding a single
        data file) or a file (``.csv``/``.txt``/``.tsv`` → ``single_file``, ``.parquet`` → ``parquet``).
    layout: force one of ``cal_val``, ``train_test``, ``single_file``, ``multi_source``, ``parquet``.
    target: the target column(s); ``group``: a column of group labels (samples of one group stay
        in one fold); ``sample``: a column of integer sample ids; ``metadata``: columns kept as
        metadata (every non-spectral column not otherwise used is kept as metadata anyway; this
        option also pulls numeric-header columns out of the spectra).
    partition: a column of partition labels (``single_file``, ``multi_source``, ``parquet``);
        ``partition_map`` maps its values to partition names (defaults in the module docstring).
    sources: ``multi_source`` only: the X files to use, in order (file names relative to the
        folder), or a mapping source name → file name.
    header: True/False forces whether the first line of each spectra (X) file is a header;
        None detects it (target files are always detected).
    delimiter, decimal: force the delimiter (``,`` ``;`` or tab) and decimal mark (``.`` ``,``)
        of every text file; sniffed from the content when None.
    unit: ``nm``, ``cm-1`` or ``index`` for every source, or one per source; inferred when None.
    name: the dataset name (default: the folder name or file stem).
    task: ``regression``, ``binary`` or ``multiclass``; inferred from the target when None.
    """
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root}: file not found (expected a data file or a folder of data files).")
    opts = _Options(
        target=[target] if isinstance(target, str) else (list(target) if target is not None else None),
        group=group,
        metadata=[metadata] if isinstance(metadata, str) else list(metadata or []),
        sample=sample,
        partition=partition,
        partition_map={
            **DEFAULT_PARTITION_MAP,
            **{str(k).lower(): v for k, v in (partition_map or {}).items()},
        },
        header=header,
        delimiter=delimiter,
        decimal=decimal,
    )
    layout, files, reason = detect_layout(root, layout=layout, sources=sources)
    if opts.partition is not None and layout in _LAYOUT_ROLES:
        raise DataError(
            f"{root}: partition={opts.partition!r} applies to single_file, multi_source and parquet "
            f"layouts; {layout} takes the partition from the file names."
        )
    if layout in _LAYOUT_ROLES:
        parts = _read_roles(root, layout, files, opts)
    elif layout == "multi_source":
        parts = _read_multi_source(root, files, opts)
    elif layout == "single_file":
        parts = _read_single(files["data"], opts)
    else:
        parts = _read_parquet(files["data"], opts)
    parts.info = {"layout": layout, "layout_reason": reason, "path": str(root), **parts.info}
    return _build(root, parts, opts, unit=unit, name=name, task=task)


# ------------------------------------------------------------------------------ detection
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
        is_parquet = root.suffix.lower() in PARQUET_SUFFIXES
        if layout is None:
            layout = "parquet" if is_parquet else "single_file"
            reason = f"a single {'parquet' if is_parquet else 'delimited text'} file"
        elif layout not in ("single_file", "parquet"):
            raise DataError(f"{root}: layout {layout!r} needs a folder; got a file.")
        else:
            reason = "given"
        return layout, {"data": root}, reason
    found = _data_files(root)
    listing = ", ".join(p.name for p in found) or "no .csv/.txt/.tsv/.parquet file"
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
    source_files = _source_files(root, found, sources)
    given = layout is not None
    if layout is None:
        if ("x", "cal") in roles:
            layout, reason = "cal_val", "an Xcal file"
        elif ("x", "train") in roles:
            layout, reason = "train_test", "an X_train file"
        elif len(source_files) >= 2:
            layout, reason = "multi_source", f"{len(source_files)} X files of the same samples"
        elif len(found) == 1:
            is_parquet = found[0].suffix.lower() in PARQUET_SUFFIXES
            layout = "parquet" if is_parquet else "single_file"
            reason = f"the folder holds one data file, {found[0].name}"
        else:
            raise DataError(
                f"{root}: could not detect the layout; expected Xcal/Ycal[/Xval/Yval] files, "
                f"X_train/y_train/X_test/y_test files, several X files with one y file, or a single data file; "
                f"found: {listing}."
            )
    else:
        reason = "given"
    if layout in _LAYOUT_ROLES:
        train_role, test_role = _LAYOUT_ROLES[layout]
        if ("x", train_role) not in roles:
            expected = "Xcal" if layout == "cal_val" else "X_train"
            raise DataError(
                f"{root}: expected a file named {expected} (.csv/.txt/.tsv) for layout {layout}; found: {listing}."
            )
        files = {
            f"{xy}{role}": roles.get((xy, role)) for xy in ("x", "y") for role in (train_role, test_role)
        }
        return layout, files, reason
    if layout == "multi_source":
        if len(source_files) < 1:
            raise DataError(
                f"{root}: expected X files (one per source, e.g. X_inst1.csv) for layout multi_source; found: {listing}."
            )
        y_files = [p for p in found if _YFILE.match(p.stem) and p.suffix.lower() in TEXT_SUFFIXES]
        if len(y_files) > 1:
            raise DataError(
                f"{root}: expected at most one y file beside the X files; found {', '.join(p.name for p in y_files)}."
            )
        return layout, {"sources": source_files, "y": y_files[0] if y_files else None}, reason
    want = PARQUET_SUFFIXES if layout == "parquet" else TEXT_SUFFIXES
    candidates = [p for p in found if p.suffix.lower() in want]
    if len(candidates) != 1:
        raise DataError(
            f"{root}: layout {layout} expects exactly one {'parquet' if layout == 'parquet' else 'delimited text'} "
            f"file in the folder; found: {listing}."
        )
    return layout, {"data": candidates[0]}, reason if not given else "given"


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


# ------------------------------------------------------------------------------ reading
@dataclass
class _Options:
    target: list[str] | None
    group: str | None
    metadata: list[str]
    sample: str | None
    partition: str | None
    partition_map: dict[str, str]
    header: bool | None
    delimiter: str | None
    decimal: str | None

    def reserved(self) -> set[str]:
        names = set(self.metadata)
        names.update(n for n in (self.group, self.sample, self.partition) if n is not None)
        return names


@dataclass
class _Block:
    """Rows read together: one table per source, the non-spectral columns and where they came from."""

    partition: str | None  # from file roles; None when a column decides
    X: list[np.ndarray]
    side: pl.DataFrame  # non-spectral columns, one row per sample
    side_origin: dict[str, tuple[Table | None, str]]  # column → (table, name in it) for messages
    y_columns: list[str]  # the side columns that came from a y file
    main: Table  # the table whose header names the non-spectral columns (y file, else X file)


@dataclass
class _Parts:
    blocks: list[_Block]
    source_names: list[str]
    axes: list[np.ndarray | None]
    files: list[Path]
    default_target: list[str]
    default_target_reason: str
    info: dict[str, Any] = field(default_factory=dict)


def _spectral_columns(table: Table, extra_non_spectral: set[str]) -> tuple[list[str], list[str]]:
    """(spectral, other) column names of a table: numeric headers (or numeric columns of a
    headerless file) are spectra unless named in ``extra_non_spectral``."""
    spectral, other = [], []
    for j, nm in enumerate(table.columns):
        if nm in extra_non_spectral:
            other.append(nm)
        elif table.header:
            (spectral if table.header_values[j] is not None else other).append(nm)
        else:
            (other if table.frame.schema[nm] == pl.String else spectral).append(nm)
    return spectral, other


def _axis(table: Table, spectral: list[str]) -> np.ndarray | None:
    """The header values of the spectral columns, checked unique and strictly monotonic."""
    if not table.header:
        return None
    header_ref = "column names" if table.info.get("format") == "parquet" else HEADER_ROW
    position = {nm: j for j, nm in enumerate(table.columns)}
    idx = [position[nm] for nm in spectral]
    values = np.array([table.header_values[j] for j in idx], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        k = int(np.flatnonzero(~np.isfinite(values))[0])
        raise DataError(
            f"{table.path}: {header_ref}, {col_where(idx[k], spectral[k])}: "
            f"expected a finite wavelength; found {spectral[k]!r}."
        )
    if values.size >= 2:
        seen: dict[float, int] = {}
        for k, v in enumerate(values):
            if v in seen:
                raise DataError(
                    f"{table.path}: {header_ref}, {col_where(idx[k], spectral[k])}: duplicated "
                    f"wavelength {v:g} (also column {idx[seen[v]] + 1}, {spectral[seen[v]]!r}); "
                    "expected each wavelength once."
                )
            seen[v] = k
        d = np.diff(values)
        direction = np.sign(d[0])
        bad = np.flatnonzero(np.sign(d) != direction)
        if bad.size:
            k = int(bad[0]) + 1
            trend = "increasing" if direction > 0 else "decreasing"
            raise DataError(
                f"{table.path}: {header_ref}, {col_where(idx[k], spectral[k])}: non-monotonic "
                f"wavelengths: {values[k - 1]:g} then {values[k]:g}; expected a strictly {trend} axis "
                f"like the columns before."
            )
    return values


def _read_x(
    path: Path, opts: _Options, reserved: set[str]
) -> tuple[Table, list[str], list[str], np.ndarray | None]:
    table = read_table(path, header=opts.header, delimiter=opts.delimiter, decimal=opts.decimal)
    spectral, other = _spectral_columns(table, reserved)
    if not spectral:
        raise DataError(
            f"{path}: {HEADER_ROW if table.header else row_where(1)}: expected spectra (columns whose "
            f"header is a wavelength number, or numeric columns in a file without header); found only "
            f"the columns {_short_list(table.columns)}."
        )
    axis = _axis(table, spectral)
    return table, spectral, other, axis


def _short_list(names: Sequence[str], limit: int = 12) -> str:
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])}, … ({len(names)} in all)"


def _read_y(path: Path, x_table: Table, opts: _Options) -> Table:
    hint = (
        None
        if x_table.info["delimiter"] is None
        else ("\t" if x_table.info["delimiter"] == "tab" else x_table.info["delimiter"]),
        x_table.info["decimal"],
    )
    table = read_table(
        path,
        delimiter=opts.delimiter,
        decimal=opts.decimal,
        hint=hint,
        numeric=None,
    )
    if not table.header:
        new = ["y"] if len(table.columns) == 1 else [f"y{j + 1}" for j in range(len(table.columns))]
        table.frame = table.frame.rename(dict(zip(table.columns, new)))
        table.columns = new
        table.info["column_names"] = f"no header: columns named {', '.join(new)}"
    return table


def _check_rows(x_table: Table, other: Table) -> None:
    nx, ny = x_table.n_rows, other.n_rows
    if nx == ny:
        return
    first = other.columns[0]
    if ny < nx:
        line = other.line_of(ny)
        raise DataError(
            f"{other.path}: {row_where(line)}, {other.column_ref(first)}: expected a row for the spectrum "
            f"at {x_table.path.name} row {x_table.line_of(ny)}; found the end of the file "
            f"({ny} rows here, {nx} spectra in {x_table.path.name})."
        )
    line = other.line_of(nx)
    raise DataError(
        f"{other.path}: {row_where(line)}, {other.column_ref(first)}: found a row with no spectrum in "
        f"{x_table.path.name} (which ends after row {x_table.line_of(nx - 1)}); expected {nx} rows like the "
        f"spectra, found {ny}."
    )


def _to_numpy(table: Table, columns: list[str]) -> np.ndarray:
    return float_block(table.frame, columns)


_ROW = "__row__"  # keeps the height of a side frame that has no column


def _side_frame(tables: list[tuple[Table, list[str]]]) -> tuple[pl.DataFrame, dict[str, tuple[Table, str]]]:
    """The non-spectral columns of tables read for the same rows, side by side."""
    origin: dict[str, tuple[Table, str]] = {}
    frames = [pl.DataFrame({_ROW: np.arange(tables[0][0].n_rows, dtype=np.int64)})]
    for table, cols in tables:
        for c in cols:
            if c in origin:
                raise DataError(
                    f"{table.path}: {HEADER_ROW}, {table.column_ref(c)}: the column name {c!r} is also used in "
                    f"{origin[c][0].path.name}; expected distinct names for non-spectral columns."
                )
            origin[c] = (table, c)
        if cols:
            frames.append(table.frame.select(cols))
    return pl.concat(frames, how="horizontal"), origin


def _check_axes_equal(
    ref: Table, ref_axis, table: Table, axis, spectral: list[str], ref_n: int
) -> np.ndarray | None:
    """Spectra of one source read from several files must share one axis."""
    if len(spectral) != ref_n:
        raise DataError(
            f"{table.path}: {row_where(table.first_data_line)}: expected {ref_n} spectral columns like "
            f"{ref.path.name}; found {len(spectral)}."
        )
    if ref_axis is None or axis is None:
        return ref_axis if ref_axis is not None else axis
    diff = np.flatnonzero(
        ~np.isclose(ref_axis, axis, rtol=0, atol=1e-9 * max(1.0, float(np.abs(ref_axis).max())))
    )
    if diff.size:
        k = int(diff[0])
        j = table.columns.index(spectral[k])
        raise DataError(
            f"{table.path}: {HEADER_ROW}, {col_where(j, spectral[k])}: wavelength {axis[k]:g} differs "
            f"from {ref.path.name}'s {ref_axis[k]:g} in the same column; expected the same axis in both files."
        )
    return ref_axis


def _read_roles(root: Path, layout: str, files: dict[str, Path | None], opts: _Options) -> _Parts:
    train_role, test_role = _LAYOUT_ROLES[layout]
    reserved = opts.reserved()
    y_present = [files[f"y{r}"] is not None for r in (train_role, test_role) if files[f"x{r}"] is not None]
    if any(y_present) and not all(y_present):
        missing = next(
            r for r in (train_role, test_role) if files[f"x{r}"] is not None and files[f"y{r}"] is None
        )
        have = next(files[f"y{r}"] for r in (train_role, test_role) if files[f"y{r}"] is not None)
        raise DataError(
            f"{root}: found {have.name} but no Y{missing} file for X{missing}; expected a target file for every X file."
        )
    for r in (train_role, test_role):
        if files[f"y{r}"] is not None and files[f"x{r}"] is None:
            raise DataError(f"{files[f'y{r}']}: found targets but no X{r} file with their spectra.")
    blocks: list[_Block] = []
    read_info: list[dict[str, Any]] = []
    used: list[Path] = []
    ref: tuple[Table, np.ndarray | None, int] | None = None
    y_tables: list[Table] = []
    for role in (train_role, test_role):
        xfile = files[f"x{role}"]
        if xfile is None:
            continue
        xt, spectral, other, axis = _read_x(xfile, opts, reserved)
        if ref is None:
            ref = (xt, axis, len(spectral))
        else:
            merged = _check_axes_equal(ref[0], ref[1], xt, axis, spectral, ref[2])
            ref = (ref[0], merged, ref[2])
        side_tables: list[tuple[Table, list[str]]] = [(xt, other)]
        used.append(xfile)
        read_info.append({**xt.info, "role": f"X{role}", "partition": _ROLE_PARTITION[role]})
        yfile = files[f"y{role}"]
        y_cols: list[str] = []
        if yfile is not None:
            yt = _read_y(yfile, xt, opts)
            _check_rows(xt, yt)
            side_tables.append((yt, yt.columns))
            y_cols = list(yt.columns)
            y_tables.append(yt)
            used.append(yfile)
            read_info.append({**yt.info, "role": f"Y{role}", "partition": _ROLE_PARTITION[role]})
        side, origin = _side_frame(side_tables)
        main = y_tables[-1] if yfile is not None else xt
        blocks.append(_Block(_ROLE_PARTITION[role], [_to_numpy(xt, spectral)], side, origin, y_cols, main))
    assert ref is not None
    default, why = _default_pair_target(y_tables, reserved)
    return _Parts(
        blocks=blocks,
        source_names=["X"],
        axes=[ref[1]],
        files=used,
        default_target=default,
        default_target_reason=why,
        info={
            "files": {k: (str(v) if v is not None else None) for k, v in files.items()},
            "read": read_info,
            "partition": {
                "from": "file roles",
                "mapping": {
                    f"{xy.upper()}{r}": _ROLE_PARTITION[r]
                    for xy in ("x", "y")
                    for r in (train_role, test_role)
                    if files[f"{xy}{r}"] is not None
                },
            },
            "delimiter": read_info[0]["delimiter"],
            "decimal": read_info[0]["decimal"],
            "header": read_info[0]["header"],
        },
    )


def _numeric_columns(table: Table) -> list[str]:
    return [c for c in table.columns if table.frame.schema[c] != pl.String]


def _default_pair_target(y_tables: list[Table], reserved: set[str]) -> tuple[list[str], str]:
    if not y_tables:
        return [], "no y files: no target"
    first = y_tables[0]
    common = [c for c in first.columns if c not in reserved and all(c in t.columns for t in y_tables[1:])]
    if common:
        return common, f"the columns of {first.path.name} found in every y file"
    numeric = [c for c in _numeric_columns(first) if c not in reserved]
    if numeric:
        return numeric[:1], f"no column common to every y file: the first numeric column of {first.path.name}"
    return [], f"{first.path.name} has no numeric column: no target"


def _read_multi_source(root: Path, files: dict[str, Any], opts: _Options) -> _Parts:
    reserved = opts.reserved()
    xs: list[np.ndarray] = []
    axes: list[np.ndarray | None] = []
    names: list[str] = []
    read_info: list[dict[str, Any]] = []
    side_tables: list[tuple[Table, list[str]]] = []
    first: Table | None = None
    for src_name, xfile in files["sources"]:
        xt, spectral, other, axis = _read_x(xfile, opts, reserved)
        if first is None:
            first = xt
        elif xt.n_rows != first.n_rows:
            _check_rows(first, xt)
        xs.append(_to_numpy(xt, spectral))
        axes.append(axis)
        names.append(src_name)
        side_tables.append((xt, other))
        read_info.append({**xt.info, "role": f"source {src_name!r}"})
    assert first is not None
    used = [p for _, p in files["sources"]]
    y_cols: list[str] = []
    default, why = [], "no y file: no target"
    if files["y"] is not None:
        yt = _read_y(files["y"], first, opts)
        _check_rows(first, yt)
        side_tables.append((yt, yt.columns))
        y_cols = list(yt.columns)
        used.append(files["y"])
        read_info.append({**yt.info, "role": "y"})
        partition_col = opts.partition or _auto_partition_column(yt.frame)
        numeric = [c for c in _numeric_columns(yt) if c not in reserved and c != partition_col]
        if numeric:
            default, why = numeric[:1], f"the first numeric column of {yt.path.name}"
            if len(numeric) > 1:
                why += f" (other numeric columns kept as metadata: {', '.join(numeric[1:])}; pass target=[...] to use them)"
        else:
            why = f"{yt.path.name} has no numeric column: no target"
    side, origin = _side_frame(side_tables)
    return _Parts(
        blocks=[_Block(None, xs, side, origin, y_cols, side_tables[-1][0])],
        source_names=names,
        axes=axes,
        files=used,
        default_target=default,
        default_target_reason=why,
        info={
            "files": {
                "sources": {n: str(p) for n, p in files["sources"]},
                "y": str(files["y"]) if files["y"] else None,
            },
            "read": read_info,
            "delimiter": read_info[0]["delimiter"],
            "decimal": read_info[0]["decimal"],
            "header": read_info[0]["header"],
        },
    )


def _read_single(path: Path, opts: _Options) -> _Parts:
    chosen = set(opts.target or []) | opts.reserved()
    xt, spectral, other, axis = _read_x(path, opts, chosen)
    side, origin = _side_frame([(xt, other)])
    position = {nm: j for j, nm in enumerate(xt.columns)}
    idx = [position[c] for c in spectral]
    contiguous = idx == list(range(idx[0], idx[0] + len(idx)))
    return _Parts(
        blocks=[_Block(None, [_to_numpy(xt, spectral)], side, origin, [], xt)],
        source_names=["X"],
        axes=[axis],
        files=[path],
        default_target=[],
        default_target_reason="single file without target=: no target (non-spectral columns kept as metadata)",
        info={
            "files": {"data": str(path)},
            "read": [{**xt.info, "role": "data"}],
            "delimiter": xt.info["delimiter"],
            "decimal": xt.info["decimal"],
            "header": xt.info["header"],
            "non_spectral_columns": other,
            "spectral_columns": (
                f"{spectral[0]}..{spectral[-1]} (columns {idx[0] + 1}–{idx[-1] + 1}"
                + (")" if contiguous else ", not contiguous)")
            ),
        },
    )


def _read_parquet(path: Path, opts: _Options) -> _Parts:
    try:
        frame = pl.read_parquet(path)
    except (OSError, pl.exceptions.ComputeError) as exc:
        raise DataError(f"{path}: could not read as parquet: {exc}") from exc
    if frame.height == 0:
        raise DataError(
            f"{path}: row 1 (table row, 1-based): expected at least one row; found an empty table."
        )
    chosen = set(opts.target or []) | opts.reserved()
    spectral, other, values = [], [], []
    for nm in frame.columns:
        v = parse_number(nm)
        if v is None or nm in chosen:
            other.append(nm)
        else:
            spectral.append(nm)
            values.append(v)
    if not spectral:
        raise DataError(
            f"{path}: expected spectra (columns whose name is a wavelength number); found only the columns "
            f"{_short_list(frame.columns)}."
        )
    X = np.empty((frame.height, len(spectral)), dtype=np.float64)
    position = {nm: j for j, nm in enumerate(frame.columns)}
    for k, nm in enumerate(spectral):
        col = frame.get_column(nm)
        j = position[nm]
        if not col.dtype.is_numeric():
            cast = col.cast(pl.Float64, strict=False)
            bad = np.flatnonzero((cast.is_null() & col.is_not_null()).to_numpy())
            if bad.size:
                r = int(bad[0])
                raise DataError(
                    f"{path}: row {r + 1} (table row, 1-based), {col_where(j, nm)}: could not parse "
                    f"{col[r]!r} as a number."
                )
            col = cast
        arr = col.cast(pl.Float64).to_numpy()
        if col.null_count() or not np.all(np.isfinite(arr)):
            r = int(
                np.flatnonzero(col.is_null().to_numpy() | ~np.isfinite(np.nan_to_num(arr, nan=np.inf)))[0]
            )
            found = "an empty (null) cell" if col[r] is None else repr(col[r])
            raise DataError(
                f"{path}: row {r + 1} (table row, 1-based), {col_where(j, nm)}: expected a finite number; found {found}."
            )
        X[:, k] = arr
    fake = Table(
        path=path,
        columns=list(frame.columns),
        header=True,
        header_values=[parse_number(c) for c in frame.columns],
        frame=frame,
        first_data_line=1,
        info={"file": str(path), "format": "parquet"},
    )
    axis = _axis(fake, spectral)
    side = frame.select(other).with_columns(pl.Series(_ROW, np.arange(frame.height, dtype=np.int64)))
    return _Parts(
        blocks=[_Block(None, [X], side, {c: (fake, c) for c in other}, [], fake)],
        source_names=["X"],
        axes=[axis],
        files=[path],
        default_target=[],
        default_target_reason="parquet without target=: no target (non-spectral columns kept as metadata)",
        info={
            "files": {"data": str(path)},
            "read": [
                {
                    "file": str(path),
                    "format": "parquet",
                    "rows": "row numbers in messages are 1-based table rows",
                }
            ],
            "non_spectral_columns": other,
        },
    )


def _auto_partition_column(side: pl.DataFrame) -> str | None:
    for c in side.columns:
        if c.lower() in _PARTITION_COLUMN_NAMES and side.schema[c] == pl.String:
            return c
    return None


# ------------------------------------------------------------------------------ assembly
def _where_column(parts: _Parts, column: str, row: int | None = None) -> str:
    """``file: row N (file line, 1-based), column 'name' (column j)`` of a side column."""
    offset = 0
    for block in parts.blocks:
        if column in block.side_origin:
            table, nm = block.side_origin[column]
            if row is None:
                return f"{table.path}: {HEADER_ROW}, {table.column_ref(nm)}"
            if offset <= row < offset + block.side.height:
                if table.info.get("format") == "parquet":
                    return (
                        f"{table.path}: row {row - offset + 1} (table row, 1-based), {table.column_ref(nm)}"
                    )
                return f"{table.path}: {row_where(table.line_of(row - offset))}, {table.column_ref(nm)}"
        offset += block.side.height
    return f"column {column!r}"


def _require_column(parts: _Parts, column: str, what: str) -> None:
    """Raise unless every block has ``column`` among its non-spectral columns."""
    for b in parts.blocks:
        if column in b.side.columns:
            continue
        available = [c for c in b.side.columns if c != _ROW]
        spectral_note = ""
        ax = parts.axes[0]
        if ax is not None:
            spectral_note = f" (plus {ax.size} spectral columns {ax[0]:g}…{ax[-1]:g})"
        header_ref = "column names" if b.main.info.get("format") == "parquet" else HEADER_ROW
        raise DataError(
            f"{b.main.path}: {header_ref}, column {column!r}: {what} column not found; "
            f"available columns: {', '.join(available) or 'none'}{spectral_note}."
        )


def _build(root: Path, parts: _Parts, opts: _Options, *, unit, name, task) -> SpectroDataset:
    info = parts.info
    # ---- targets
    if opts.target is not None:
        targets = list(opts.target)
        for t in targets:
            _require_column(parts, t, "target")
        info["target"] = {"columns": targets, "how": "given"}
    else:
        targets = list(parts.default_target)
        for t in targets:
            _require_column(parts, t, "target")
        info["target"] = {"columns": targets, "how": f"inferred: {parts.default_target_reason}"}
    for nm, what in ((opts.group, "group"), (opts.sample, "sample"), (opts.partition, "partition")):
        if nm is not None:
            _require_column(parts, nm, what)
    for nm in opts.metadata:
        if all(nm not in b.side.columns for b in parts.blocks):
            _require_column(parts, nm, "metadata")
    side = pl.concat([b.side for b in parts.blocks], how="diagonal_relaxed").drop(_ROW)
    X = [
        np.concatenate([b.X[k] for b in parts.blocks], axis=0)
        if len(parts.blocks) > 1
        else parts.blocks[0].X[k]
        for k in range(len(parts.source_names))
    ]
    n = X[0].shape[0]
    y = None
    if targets:
        for t in targets:
            col = side.get_column(t)
            missing = np.flatnonzero(col.is_null().to_numpy())
            if col.dtype != pl.String:
                vals = col.cast(pl.Float64).to_numpy()
                missing = np.flatnonzero(
                    col.is_null().to_numpy() | ~np.isfinite(np.nan_to_num(vals, nan=np.inf))
                )
            if missing.size:
                r = int(missing[0])
                found = "an empty cell" if col[r] is None else repr(col[r])
                raise DataError(f"{_where_column(parts, t, r)}: expected a target value; found {found}.")
        y = side.select(targets)
    # ---- partition
    partition_col = opts.partition
    if partition_col is None and all(b.partition is None for b in parts.blocks):
        partition_col = _auto_partition_column(side)
        if partition_col is not None and partition_col in targets:
            partition_col = None
        if partition_col is not None:
            info["partition_column_detected"] = f"{partition_col!r}: a text column named like a partition"
    if partition_col is not None:
        labels = side.get_column(partition_col).cast(pl.String)
        if labels.null_count():
            r = int(np.flatnonzero(labels.is_null().to_numpy())[0])
            raise DataError(
                f"{_where_column(parts, partition_col, r)}: expected a partition label; found an empty cell."
            )
        values = labels.to_list()
        mapping = {
            v: opts.partition_map.get(str(v).strip().lower(), str(v).strip()) for v in dict.fromkeys(values)
        }
        partition = np.array([mapping[v] for v in values], dtype=object)
        info["partition"] = {
            "from": f"column {partition_col!r}",
            "mapping": mapping,
            "counts": {p: int(np.sum(partition == p)) for p in dict.fromkeys(partition.tolist())},
        }
    elif any(b.partition is not None for b in parts.blocks):
        partition = np.concatenate([np.full(b.side.height, b.partition, dtype=object) for b in parts.blocks])
        info["partition"]["counts"] = {
            p: int(np.sum(partition == p)) for p in dict.fromkeys(partition.tolist())
        }
    else:
        partition = None
        info["partition"] = {"from": "default", "mapping": {}, "counts": {"train": n}}
    # ---- group, sample
    group = None
    if opts.group is not None:
        col = side.get_column(opts.group)
        if col.null_count():
            r = int(np.flatnonzero(col.is_null().to_numpy())[0])
            raise DataError(
                f"{_where_column(parts, opts.group, r)}: expected a group label; found an empty cell."
            )
        vals = col.to_list()
        group = np.array([_label(v) for v in vals], dtype=object)
        info["group"] = {"column": opts.group, "n_groups": len(set(group.tolist()))}
    sample = None
    if opts.sample is not None:
        col = side.get_column(opts.sample)
        vals = col.cast(pl.Float64, strict=False).to_numpy() if col.dtype != pl.String else None
        if vals is None or not np.all(np.isfinite(vals)) or not np.all(vals == np.round(vals)):
            bad = 0 if vals is None else int(np.flatnonzero(~np.isfinite(vals) | (vals != np.round(vals)))[0])
            raise DataError(
                f"{_where_column(parts, opts.sample, bad)}: expected an integer sample id; found {col[bad]!r}."
            )
        ids = vals.astype(np.int64)
        uniq, counts = np.unique(ids, return_counts=True)
        if np.any(counts > 1):
            dup = int(uniq[np.flatnonzero(counts > 1)[0]])
            rows = np.flatnonzero(ids == dup)
            raise DataError(
                f"{_where_column(parts, opts.sample, int(rows[1]))}: duplicated sample id {dup} "
                f"(also in {_where_column(parts, opts.sample, int(rows[0])).split(': ', 1)[1]}); expected unique ids."
            )
        sample = ids
        info["sample"] = {"column": opts.sample}
    # ---- metadata: every remaining side column
    used = set(targets) | {c for c in (opts.group, opts.sample, partition_col) if c is not None}
    meta_cols = [c for c in side.columns if c not in used]
    metadata = side.select(meta_cols) if meta_cols else None
    info["metadata"] = {
        "columns": meta_cols,
        "how": "non-spectral columns not used as target, group, sample or partition",
    }
    # ---- units
    units = _units(unit, parts)
    info["sources"] = []
    for k, nm in enumerate(parts.source_names):
        ax = parts.axes[k]
        entry: dict[str, Any] = {
            "name": nm,
            "n_features": int(X[k].shape[1]),
            "wavelength_range": None if ax is None else [float(ax.min()), float(ax.max())],
            "order": None if ax is None or ax.size < 2 else ("ascending" if ax[1] > ax[0] else "descending"),
        }
        entry.update(units[k][1])
        info["sources"].append(entry)
    info["unit"] = [u[1]["unit"] for u in units]
    return SpectroDataset.from_arrays(
        X if len(X) > 1 else X[0],
        y,
        name=name or (root.stem if root.is_file() else root.name),
        wavelengths=parts.axes,
        units=[u[0] for u in units],
        source_names=parts.source_names,
        partition=partition,
        group=group,
        sample=sample,
        metadata=metadata,
        files=parts.files,
        path=root,
        load_info=info,
        task=task,
    )


def _label(value: Any) -> str:
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def _units(unit, parts: _Parts) -> list[tuple[str | None, dict[str, Any]]]:
    """Per source: (unit to pass to from_arrays — None lets the dataset infer it with the same
    rule — , what to record)."""
    k = len(parts.source_names)
    if unit is None:
        given: list[str | None] = [None] * k
    elif isinstance(unit, str):
        given = [unit] * k
    else:
        given = list(unit)
        if len(given) != k:
            raise DataError(
                f"load: unit= gives {len(given)} units for {k} sources {parts.source_names}; expected one per source."
            )
    out = []
    for j, u in enumerate(given):
        ax = parts.axes[j]
        if u is not None:
            nu = normalise_unit(u, f"load: unit for source {parts.source_names[j]!r}")
            out.append((nu, {"unit": nu, "unit_how": "given"}))
            continue
        inferred, reason = infer_unit(ax)
        record: dict[str, Any] = {"unit": inferred, "unit_how": f"inferred: {reason}"}
        if ax is not None and inferred in ("nm", "cm-1"):
            lo, hi = float(ax.min()), float(ax.max())
            if 350 <= lo and hi <= 2600:
                steps = np.abs(np.diff(ax)) if ax.size > 1 else np.array([0.0])
                evidence = [
                    "regular steps" if np.allclose(steps, steps[0]) else "uneven steps",
                    "integer values" if np.all(ax == np.round(ax)) else "non-integer values",
                ]
                record["unit_ambiguous"] = (
                    f"{lo:g}–{hi:g} fits both nanometres (NIR) and wavenumbers (mid-IR); decided by "
                    f"{', '.join(evidence)}; pass unit= to override"
                )
        out.append((None, record))
    return out
