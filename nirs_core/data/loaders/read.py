"""Reading the files of a detected layout into arrays and tables: the spectra of each source
(with their wavelength axis, checked unique and monotonic), the non-spectral columns beside
them and where each came from, for error messages that name the file, row and column.
Delimiter, decimal mark and header are sniffed by :mod:`nirs_core.data._csv`."""

from __future__ import annotations

from collections.abc import Sequence
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
from nirs_core.data.loaders.detect import LAYOUT_ROLES, ROLE_PARTITION
from nirs_core.errors import DataError

__all__ = ["DEFAULT_PARTITION_MAP", "ROW", "Block", "Options", "Parts", "auto_partition_column", "read_parts"]

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


def read_parts(root: Path, layout: str, files: dict[str, Any], opts: Options) -> Parts:
    """The blocks of rows of ``layout``'s files (from :func:`~nirs_core.data.loaders.detect.detect_layout`)."""
    if layout in LAYOUT_ROLES:
        return _read_roles(root, layout, files, opts)
    if layout == "multi_source":
        return _read_multi_source(root, files, opts)
    if layout == "single_file":
        return _read_single(files["data"], opts)
    return _read_parquet(files["data"], opts)


@dataclass
class Options:
    target: list[str] | None
    group: str | None
    metadata: list[str]
    sample: str | None
    partition: str | None
    partition_map: dict[str, str]
    header: bool | None
    delimiter: str | None
    decimal: str | None

    @classmethod
    def make(
        cls, target, group, metadata, sample, partition, partition_map, header, delimiter, decimal
    ) -> Options:
        """The options of :func:`~nirs_core.data.loaders.load`, normalised (lists, lower-case map keys)."""
        return cls(
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

    def reserved(self) -> set[str]:
        names = set(self.metadata)
        names.update(n for n in (self.group, self.sample, self.partition) if n is not None)
        return names


@dataclass
class Block:
    """Rows read together: one table per source, the non-spectral columns and where they came from."""

    partition: str | None  # from file roles; None when a column decides
    X: list[np.ndarray]
    side: pl.DataFrame  # non-spectral columns, one row per sample
    side_origin: dict[str, tuple[Table | None, str]]  # column → (table, name in it) for messages
    y_columns: list[str]  # the side columns that came from a y file
    main: Table  # the table whose header names the non-spectral columns (y file, else X file)


@dataclass
class Parts:
    blocks: list[Block]
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
    path: Path, opts: Options, reserved: set[str]
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


def _read_y(path: Path, x_table: Table, opts: Options) -> Table:
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


ROW = "__row__"  # keeps the height of a side frame that has no column


def _side_frame(tables: list[tuple[Table, list[str]]]) -> tuple[pl.DataFrame, dict[str, tuple[Table, str]]]:
    """The non-spectral columns of tables read for the same rows, side by side."""
    origin: dict[str, tuple[Table, str]] = {}
    frames = [pl.DataFrame({ROW: np.arange(tables[0][0].n_rows, dtype=np.int64)})]
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


def _read_roles(root: Path, layout: str, files: dict[str, Path | None], opts: Options) -> Parts:
    train_role, test_role = LAYOUT_ROLES[layout]
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
    blocks: list[Block] = []
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
        read_info.append({**xt.info, "role": f"X{role}", "partition": ROLE_PARTITION[role]})
        yfile = files[f"y{role}"]
        y_cols: list[str] = []
        if yfile is not None:
            yt = _read_y(yfile, xt, opts)
            _check_rows(xt, yt)
            side_tables.append((yt, yt.columns))
            y_cols = list(yt.columns)
            y_tables.append(yt)
            used.append(yfile)
            read_info.append({**yt.info, "role": f"Y{role}", "partition": ROLE_PARTITION[role]})
        side, origin = _side_frame(side_tables)
        main = y_tables[-1] if yfile is not None else xt
        blocks.append(Block(ROLE_PARTITION[role], [_to_numpy(xt, spectral)], side, origin, y_cols, main))
    assert ref is not None
    default, why = _default_pair_target(y_tables, reserved)
    return Parts(
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
                    f"{xy.upper()}{r}": ROLE_PARTITION[r]
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


def _read_multi_source(root: Path, files: dict[str, Any], opts: Options) -> Parts:
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
        partition_col = opts.partition or auto_partition_column(yt.frame)
        numeric = [c for c in _numeric_columns(yt) if c not in reserved and c != partition_col]
        if numeric:
            default, why = numeric[:1], f"the first numeric column of {yt.path.name}"
            if len(numeric) > 1:
                why += f" (other numeric columns kept as metadata: {', '.join(numeric[1:])}; pass target=[...] to use them)"
        else:
            why = f"{yt.path.name} has no numeric column: no target"
    side, origin = _side_frame(side_tables)
    return Parts(
        blocks=[Block(None, xs, side, origin, y_cols, side_tables[-1][0])],
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


def _read_single(path: Path, opts: Options) -> Parts:
    chosen = set(opts.target or []) | opts.reserved()
    xt, spectral, other, axis = _read_x(path, opts, chosen)
    side, origin = _side_frame([(xt, other)])
    position = {nm: j for j, nm in enumerate(xt.columns)}
    idx = [position[c] for c in spectral]
    contiguous = idx == list(range(idx[0], idx[0] + len(idx)))
    return Parts(
        blocks=[Block(None, [_to_numpy(xt, spectral)], side, origin, [], xt)],
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


def _read_parquet(path: Path, opts: Options) -> Parts:
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
    X = _parquet_spectra(path, frame, spectral)
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
    side = frame.select(other).with_columns(pl.Series(ROW, np.arange(frame.height, dtype=np.int64)))
    return Parts(
        blocks=[Block(None, [X], side, {c: (fake, c) for c in other}, [], fake)],
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


def _parquet_spectra(path: Path, frame: pl.DataFrame, spectral: list[str]) -> np.ndarray:
    """The spectral columns of a parquet table as float64, every cell checked finite."""
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
    return X


def auto_partition_column(side: pl.DataFrame) -> str | None:
    for c in side.columns:
        if c.lower() in _PARTITION_COLUMN_NAMES and side.schema[c] == pl.String:
            return c
    return None
