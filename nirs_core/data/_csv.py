"""Sniffing and parsing of delimited text files (CSV, semicolon, tab) into a numeric matrix
plus a header, for the loaders in :mod:`nirs_core.data.loaders`.

Reading is done in two passes: a small *sniff* of the first lines decides the delimiter, the
decimal mark, whether the first line is a header and which columns hold text; then polars
reads the whole file with those options stated explicitly (fast, multi-threaded). When
polars reports a problem (or the result holds empty cells, NaN or inf in numeric columns) a
slow line-by-line *diagnosis* finds the first bad cell and raises one :class:`DataError`
that names the file, the row and the column.

Conventions in messages: ``row N`` is the 1-based line number in the file (the header, when
there is one, is line 1); ``column`` is the header name when there is one, and always the
1-based column number.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from nirs_core.errors import DataError

__all__ = ["HEADER_ROW", "Sniff", "Table", "float_block", "parse_number", "read_table", "sniff"]

DELIMITERS = ("\t", ";", ",")
_DELIMITER_NAMES = {"\t": "tab", ";": "';'", ",": "','"}
# 20 rows are plenty to decide delimiter, decimal mark and header, and keep sniffing a wide
# file (700+ columns) cheap.
_SNIFF_LINES = 20
_SNIFF_MAX_BYTES = 16 << 20
_SNIFF_CELLS = 4096
_SNIFF_MIN_ROWS = 5
_COMMA_DECIMAL = re.compile(r"^[+-]?\d+,\d+(?:[eE][+-]?\d+)?$", re.MULTILINE)
_DOT_DECIMAL = re.compile(r"^[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?$", re.MULTILINE)
STRICT, NUMBER, TEXT = "strict", "number", "text"  # column kinds: spectra/targets, other numbers, text
_FINITE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


HEADER_ROW = "row 1 (file line, 1-based: the header)"


def row_where(line: int) -> str:
    return f"row {line} (file line, 1-based)"


def col_where(index: int, name: str | None) -> str:
    """``column 'name' (column 3)`` or ``column 3`` (``index`` is 0-based)."""
    return f"column {name!r} (column {index + 1})" if name is not None else f"column {index + 1}"


def parse_number(text: str, decimal: str = ".") -> float | None:
    """The float a cell holds, or None when it is not a number. ``nan``/``inf`` parse (to be
    reported as non-finite by the caller); surrounding spaces and quotes are ignored."""
    s = text.strip().strip('"').strip()
    if not s:
        return None
    if decimal == ",":
        if "." in s and not _FINITE.match(s):
            return None
        s = s.replace(",", ".")
    try:
        return float(s)
    except ValueError:
        return None


def _number_grid(rows: list[list[str]], decimal: str) -> tuple[np.ndarray, np.ndarray]:
    """The cells of equally long ``rows`` parsed as :func:`parse_number` would, as
    (values, is-a-number) arrays of shape (rows, columns); cells that are not numbers hold NaN.

    Sniffed rows of a wide file are thousands of cells: numpy parses them in one call, and only
    when some cell is not a plain number (a name, a quote, an empty cell, a decimal comma)
    does the parse fall back to one cell at a time."""
    n, p = len(rows), len(rows[0]) if rows else 0
    flat = [cell for row in rows for cell in row]
    try:
        if decimal == "," and any("." in c or "," in c for c in flat):
            raise ValueError("decimal commas: parse cell by cell")
        values = np.fromiter(map(float, flat), dtype=np.float64, count=len(flat))
        is_number = np.ones(values.shape, dtype=bool)
    except ValueError:
        parsed = [parse_number(c, decimal) for c in flat]
        is_number = np.array([v is not None for v in parsed], dtype=bool)
        values = np.array([np.nan if v is None else v for v in parsed], dtype=np.float64)
    return values.reshape(n, p), is_number.reshape(n, p)


def _numbers_or_none(cells: list[str], decimal: str) -> list[float | None]:
    """:func:`parse_number` of each cell (one numpy parse when they all are numbers)."""
    values, is_number = _number_grid([cells], decimal)
    return [float(v) if ok else None for v, ok in zip(values[0].tolist(), is_number[0].tolist())]


def float_block(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """``columns`` of ``frame`` as one C-ordered float64 array (nulls as NaN). Without a
    ``select`` when they are all the frame's columns in order, the usual case of a spectra
    file: a ``select`` of hundreds of columns costs as much as reading the file."""
    part = frame if list(columns) == frame.columns else frame.select(columns)
    return np.ascontiguousarray(part.to_numpy(order="c"), dtype=np.float64)


def _is_finite_literal(text: str, decimal: str) -> bool:
    s = text.strip().strip('"').strip()
    if decimal == ",":
        s = s.replace(",", ".")
    return bool(_FINITE.match(s))


@dataclass
class Sniff:
    """What the first lines of a file tell: the dialect and the header decision, with reasons."""

    delimiter: str | None  # None: a single column
    decimal: str
    header: bool
    first_line: list[str]
    sample_rows: list[list[str]]  # the data rows sniffed (after the header, if any)
    first_data_line: int  # 1-based line number of the first data row
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def n_columns(self) -> int:
        return len(self.first_line)


@dataclass
class Table:
    """A parsed delimited file: column names, which of them are numeric, the numeric block as
    a polars frame, plus what was decided while reading it (``info``)."""

    path: Path
    columns: list[str]  # header names, or ``column_1``… when the file has no header
    header: bool
    header_values: list[float | None]  # each header cell parsed as a number (None: a name)
    frame: pl.DataFrame  # one column per file column: Float64 for numeric, String for text
    first_data_line: int
    info: dict[str, Any]

    @property
    def n_rows(self) -> int:
        return self.frame.height

    def line_of(self, row: int) -> int:
        """File line (1-based) of data row ``row`` (0-based), assuming no blank lines."""
        return self.first_data_line + row

    def column_ref(self, name: str) -> str:
        j = self.columns.index(name)
        return col_where(j, name if self.header else None)


# ---------------------------------------------------------------------------------- sniffing
def _read_head(path: Path) -> str:
    """The first ``_SNIFF_LINES + 1`` lines of ``path`` as text (at most ``_SNIFF_MAX_BYTES``)."""
    buf = bytearray()
    with path.open("rb") as fh:
        while len(buf) < _SNIFF_MAX_BYTES and buf.count(b"\n") <= _SNIFF_LINES + 1:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            buf += chunk
    data = bytes(buf).removeprefix(b"\xef\xbb\xbf")
    text = _decode(data, path, complete=len(buf) < _SNIFF_MAX_BYTES)
    lines = text.splitlines()
    return "\n".join(lines[: _SNIFF_LINES + 1])


def _decode(data: bytes, path: Path, *, complete: bool) -> str:
    """UTF-8 text of ``data``; a NUL byte (a binary file) or bytes that are not UTF-8 (a Latin-1
    export, say) are one error naming the line, never a silent replacement."""
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise DataError(
            f"{path}: line {line}: a NUL byte (byte {nul}); this is a binary file, not delimited "
            "text. Expected CSV/TXT/TSV text or a .parquet file."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(data) - 4:
            return data[: exc.start].decode("utf-8")  # a character cut at the end of the head
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path}: line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text (a Latin-1 or "
            "Windows-1252 export?); save the file as UTF-8."
        ) from None


def _first_non_utf8(path: Path) -> tuple[int, int]:
    """(line, byte value) of the first byte of ``path`` that is not UTF-8, read in chunks."""
    lines, carry = 1, b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            data = carry + chunk
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                if exc.reason == "unexpected end of data" and exc.end == len(data):
                    carry = data[exc.start :]  # a character cut by the chunk: decode it with the next
                    lines += data.count(b"\n", 0, exc.start)
                    continue
                return lines + data.count(b"\n", 0, exc.start), data[exc.start]
            lines += data.count(b"\n")
            carry = b""
    return lines, carry[0] if carry else 0


def _split(lines: list[str], delimiter: str | None) -> list[list[str]]:
    if delimiter is None:
        return [[line.strip()] for line in lines]
    return [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]


def _sniff_delimiter(lines: list[str], hint: str | None) -> tuple[str | None, str]:
    """The delimiter that splits the first line into more than one field and most of the
    following lines into the same number of fields (a ragged row is reported later, with its
    line number, rather than changing the delimiter)."""
    scores: dict[str, float] = {}
    for d in DELIMITERS:
        # a line without quotes has one field more than delimiters; csv parses the others
        counts = [
            line.count(d) + 1 if '"' not in line else len(next(csv.reader([line], delimiter=d)))
            for line in lines
        ]
        if counts[0] > 1:
            scores[d] = sum(c == counts[0] for c in counts) / len(counts)
    good = [d for d in DELIMITERS if scores.get(d, 0.0) >= 0.5]
    if hint is not None and hint in good:
        return hint, f"{_DELIMITER_NAMES[hint]}, as in the dataset's other files"
    if good:
        best = max(good, key=lambda d: scores[d])  # ties: the first in the order tab, ';', ','
        others = [_DELIMITER_NAMES[o] for o in good if o != best]
        extra = f" (also plausible: {', '.join(others)})" if others else ""
        return best, (
            f"{_DELIMITER_NAMES[best]}: splits {scores[best]:.0%} of the sniffed lines into as many fields "
            f"as the first line{extra}"
        )
    return None, "no delimiter splits the first line: a single column"


def _sniff_decimal(rows: list[list[str]], delimiter: str | None, hint: str | None) -> tuple[str, str]:
    if delimiter == ",":
        return ".", "'.': the delimiter is ','"
    # one regex scan over all the sniffed cells, one per line (a cell cannot hold a newline);
    # the cells are stripped of spaces already (_split), of quotes here when there are any
    text = "\n".join("\n".join(row) for row in rows)
    if '"' in text:
        text = "\n".join(cell.strip().strip('"') for row in rows for cell in row)
    comma = len(_COMMA_DECIMAL.findall(text)) if "," in text else 0
    dot = len(_DOT_DECIMAL.findall(text))
    if comma and not dot:
        return ",", f"',': {comma} sniffed cells like '1,5' and none like '1.5'"
    if dot and not comma:
        return ".", f"'.': {dot} sniffed cells like '1.5' and none like '1,5'"
    if comma and dot:
        mark = "," if comma > dot else "."
        return mark, f"{mark!r}: majority of sniffed cells ({comma} with ',', {dot} with '.'); ambiguous"
    if hint is not None:
        return hint, f"{hint!r}: no decimal numbers sniffed; as in the dataset's other files"
    return ".", "'.': no decimal numbers sniffed (default)"


def _axis_evidence(values: np.ndarray) -> tuple[bool, bool, str]:
    """(strictly monotonic, could be an axis, why) for a row of numbers. It could be an axis
    when it is the channel numbers 0..p-1 / 1..p, or lies inside 100–50 000 (nm or cm⁻¹) with
    at least 90 % of its steps in one direction (a header with a duplicated or misplaced
    wavelength is still a header: its axis is validated, and reported, afterwards)."""
    p = values.size
    if p == 1:  # a one-wavelength file: whether it is a header is left to the rows below it
        v = float(values[0])
        if 100 <= v <= 50_000:
            return True, True, f"a single number, {v:g}, in a plausible wavelength/wavenumber range"
        return False, False, "a single number"
    d = np.diff(values)
    strict = bool(np.all(d > 0) or np.all(d < 0))
    if np.array_equal(values, np.arange(p)) or np.array_equal(values, np.arange(1, p + 1)):
        return True, True, f"the channel numbers {values[0]:g}..{values[-1]:g}"
    lo, hi = float(values.min()), float(values.max())
    one_way = max(np.mean(d > 0), np.mean(d < 0))
    trend = "strictly monotonic" if strict else f"{one_way:.0%} monotonic"
    if not (100 <= lo and hi <= 50_000):
        return strict, False, f"{trend}, {lo:g}–{hi:g}: outside a plausible spectral range"
    if one_way < 0.9 or (not strict and p <= 3):
        return strict, False, f"{lo:g}–{hi:g} but not monotonic"
    return strict, True, f"{trend}, {lo:g}–{hi:g} (a plausible wavelength/wavenumber range)"


def _resembles_rows(first: np.ndarray, rest: np.ndarray) -> tuple[float, str]:
    """Fraction of columns where ``first`` lies within the spread of the following rows
    (their range widened by itself on both sides)."""
    lo = np.nanmin(rest, axis=0)
    hi = np.nanmax(rest, axis=0)
    span = np.maximum(hi - lo, 1e-12 + 1e-6 * np.abs(hi))
    inside = (first >= lo - span) & (first <= hi + span)
    frac = float(np.mean(inside))
    return frac, f"{frac:.0%} of its values lie within the spread of the following rows"


def _decide_header(first: list[str], rest: list[list[str]], decimal: str) -> tuple[bool, str, list[bool]]:
    """(header?, reason, numeric-column flags) from the first row and the following rows."""
    p = len(first)
    rest = [r for r in rest if len(r) == p]
    first_num = _numbers_or_none(first, decimal)
    rest_grid, rest_is_number = _number_grid(rest, decimal)
    if rest:
        col_numeric = (rest_is_number.sum(axis=0) * 2 >= len(rest)).tolist()
    else:
        col_numeric = [v is not None for v in first_num]
    names_over_numbers = [j for j in range(p) if first_num[j] is None and col_numeric[j] and first[j] != ""]
    if names_over_numbers:
        j = names_over_numbers[0]
        return True, f"first row has the name {first[j]!r} above a column of numbers", col_numeric
    num_cols = [j for j in range(p) if col_numeric[j] and first_num[j] is not None]
    text_cols = [j for j in range(p) if not col_numeric[j]]
    if not num_cols:
        # only text columns: a name that never appears again below is a header
        repeats = [j for j in text_cols if any(r[j] == first[j] for r in rest)]
        if rest and not repeats:
            return True, "text-only columns whose first values never occur again: names", col_numeric
        if not rest:
            return True, "a single line of text: names", col_numeric
        return False, "text-only columns whose first values occur again below: data", col_numeric
    values = np.array([first_num[j] for j in num_cols], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return False, "first row holds non-finite numbers: data (reported when parsed)", col_numeric
    strict, axis, why = _axis_evidence(values)
    rest_vals = rest_grid[:, num_cols] if rest else np.empty((0, len(num_cols)))
    if rest_vals.size == 0 or np.all(np.isnan(rest_vals)):
        if axis and strict:
            return True, f"first row is {why} and nothing follows: a header", col_numeric
        return False, f"first row is numeric ({why}) and nothing follows: data", col_numeric
    frac, res_why = _resembles_rows(values, rest_vals)
    if not axis:
        return (
            False,
            f"first row is numeric and {why} ({res_why}): data, kept as the first sample",
            col_numeric,
        )
    if frac >= 0.5:
        return False, f"first row is {why}, but {res_why}: data, kept as the first sample", col_numeric
    return True, f"first row is {why} and unlike the data ({res_why}): a header", col_numeric


def sniff(
    path: Path,
    *,
    header: bool | None = None,
    delimiter: str | None = None,
    decimal: str | None = None,
    hint: tuple[str | None, str] | None = None,
) -> Sniff:
    """Decide delimiter, decimal mark and header of a text file from its first lines.

    ``hint`` is the (delimiter, decimal) of a sibling file (e.g. the X file of a ``y`` file):
    used when this file's own lines cannot decide (a single column with decimal commas).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found.")
    if not path.is_file():
        raise DataError(f"{path}: expected a file; found a folder.")
    text = _read_head(path)
    lines = [line for line in text.split("\n")]
    # drop trailing blank lines; leading blank lines are reported as an empty first row
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(
            f"{path}: {row_where(1)}, column 1: expected a header or a data row; found an empty file."
        )
    if not lines[0].strip():
        raise DataError(
            f"{path}: {row_where(1)}, column 1: expected a header or a data row; found a blank line."
        )
    reasons: dict[str, str] = {}
    sniff_lines = [line for line in lines if line.strip()]
    if delimiter is not None:
        if delimiter not in DELIMITERS:
            raise DataError(f"{path}: delimiter must be one of ',', ';', tab; got {delimiter!r}.")
        reasons["delimiter"] = "given"
    else:
        hint_d = hint[0] if hint else None
        delimiter, reasons["delimiter"] = _sniff_delimiter(sniff_lines, hint_d)
        if delimiter == "," and hint is not None and hint[1] == "," and hint_d != ",":
            # '3,49' in a single-column y file beside ';'-delimited X files: a decimal comma
            header_cells = _split(sniff_lines[:1], ",")[0]
            if len(header_cells) == 2 and all(c.isdigit() for c in header_cells):
                delimiter = None
                reasons["delimiter"] = (
                    "single column: commas read as decimal marks like the dataset's other files"
                )
    # the decimal mark, the header and the column kinds need a few rows, not 20 rows of a
    # wide file: about _SNIFF_CELLS cells are parsed (at least _SNIFF_MIN_ROWS data rows)
    width = len(next(csv.reader(sniff_lines[:1], delimiter=delimiter))) if delimiter else 1
    rows = _split(sniff_lines[: 1 + max(_SNIFF_MIN_ROWS, _SNIFF_CELLS // max(width, 1))], delimiter)
    if decimal is not None:
        if decimal not in (".", ","):
            raise DataError(f"{path}: decimal must be '.' or ','; got {decimal!r}.")
        if decimal == "," and delimiter == ",":
            raise DataError(f"{path}: decimal ',' cannot be used with the delimiter ','.")
        reasons["decimal"] = "given"
    else:
        decimal, reasons["decimal"] = _sniff_decimal(rows[1:] or rows, delimiter, hint[1] if hint else None)
    first, rest = rows[0], rows[1:]
    auto, why, _ = _decide_header(first, rest, decimal)
    if header is None:
        header, reasons["header"] = auto, f"inferred: {why}"
    else:
        header = bool(header)
        reasons["header"] = "given" + ("" if header == auto else f" (detection alone would say: {why})")
    return Sniff(
        delimiter=delimiter,
        decimal=decimal,
        header=header,
        first_line=first,
        sample_rows=rest if header else rows,
        first_data_line=2 if header else 1,
        reasons=reasons,
    )


# ---------------------------------------------------------------------------------- reading
def read_table(
    path: str | Path,
    *,
    header: bool | None = None,
    delimiter: str | None = None,
    decimal: str | None = None,
    hint: tuple[str | None, str] | None = None,
    numeric: set[str] | None = None,
) -> Table:
    """Read a delimited text file.

    Column kinds: with a header, a column whose name parses as a number (a wavelength) is
    numeric whatever its cells hold (so a stray ``n/a`` is reported, not turned into text);
    other columns are numeric when most sniffed cells are numbers, else text. Without a
    header, columns are named ``column_1``… and typed by their sniffed cells. ``numeric``
    names extra columns that must be numeric (e.g. a regression target).

    Numeric columns come back as Float64 with every value finite; any empty cell, ragged row,
    unparsable, NaN or inf value raises :class:`DataError` naming file, row and column.
    """
    path = Path(path)
    sn = sniff(path, header=header, delimiter=delimiter, decimal=decimal, hint=hint)
    p = sn.n_columns
    if sn.header:
        names = [c.strip().strip('"') for c in sn.first_line]
        header_values = _numbers_or_none(names, sn.decimal)
        for j, nm in enumerate(names):
            if nm == "":
                raise DataError(
                    f"{path}: {HEADER_ROW}, {col_where(j, None)}: expected a column name in the header; found an empty cell."
                )
        seen: dict[str, int] = {}
        for j, nm in enumerate(names):
            if nm in seen:
                kind = "wavelength" if header_values[j] is not None else "column name"
                raise DataError(
                    f"{path}: {HEADER_ROW}, {col_where(j, nm)}: duplicated {kind} {nm!r} "
                    f"(also column {seen[nm] + 1}); expected unique column names."
                )
            seen[nm] = j
    else:
        names = [f"column_{j + 1}" for j in range(p)]
        header_values = [None] * p
    if not sn.sample_rows:
        raise DataError(
            f"{path}: {row_where(sn.first_data_line)}: expected at least one data row"
            f"{' after the header' if sn.header else ''}; found none."
        )
    sampled = [r for r in sn.sample_rows if len(r) == p]
    counts = _number_grid(sampled, sn.decimal)[1].sum(axis=0).tolist() if sampled else [0] * p
    kinds: list[str] = []
    for j in range(p):
        n_num = counts[j]
        mostly_numbers = n_num * 2 >= max(len(sampled), 1) and n_num > 0
        if (numeric and names[j] in numeric) or header_values[j] is not None:
            kinds.append(STRICT)
        elif mostly_numbers:
            kinds.append(STRICT if not sn.header else NUMBER)
        else:
            kinds.append(TEXT)
    frame = _fast_read(path, sn, names, kinds)
    table = Table(
        path=path,
        columns=names,
        header=sn.header,
        header_values=header_values,
        frame=frame,
        first_data_line=sn.first_data_line,
        info={
            "file": str(path),
            "delimiter": "tab" if sn.delimiter == "\t" else sn.delimiter,
            "decimal": sn.decimal,
            "header": sn.header,
            "reasons": dict(sn.reasons),
        },
    )
    if frame is None:
        table.frame = _diagnose(path, sn, names, kinds)
        table.info["parsed_by"] = "line-by-line (polars could not read the file as sniffed)"
    return table


def _fast_read(path: Path, sn: Sniff, names: list[str], kinds: list[str]) -> pl.DataFrame | None:
    """polars' read with explicit options; None when the file needs the slow diagnosis."""
    schema = {nm: (pl.String if k == TEXT else pl.Float64) for nm, k in zip(names, kinds)}
    try:
        frame = pl.read_csv(
            path,
            has_header=False,
            schema=schema,
            skip_rows=1 if sn.header else 0,
            separator=sn.delimiter or "\x1f",
            decimal_comma=sn.decimal == ",",
            quote_char='"',
            encoding="utf8",  # strict: bytes that are not UTF-8 go to the diagnosis, which names them
            null_values=[""],
        )
    except pl.exceptions.PolarsError:
        # any parse failure (ragged rows, a header shorter than the data, bad cells):
        # the slow line-by-line pass names the file, row and column
        return None
    numeric = [nm for nm, k in zip(names, kinds) if k == STRICT]
    # checks on numpy arrays: a polars expression over hundreds of wavelength columns costs
    # more to build than the file did to read
    if frame.height and sum(frame.null_count().row(0)):
        blank = np.logical_and.reduce([s.is_null().to_numpy() for s in frame.iter_columns()])
        if blank.any():
            # blank lines in the file: only trailing ones keep line numbers exact
            idx = np.flatnonzero(blank)
            if idx[0] != frame.height - idx.size:
                return None
            frame = frame.filter(pl.Series(~blank))
    if numeric and frame.height:
        # nulls read as NaN here: an empty numeric cell fails this check too
        if not np.isfinite(float_block(frame, numeric)).all():
            return None
    return frame


def _diagnose(path: Path, sn: Sniff, names: list[str], kinds: list[str]) -> pl.DataFrame:
    """Read line by line, raising at the first bad cell; returns the frame if all is well."""
    p = len(names)
    cols: list[list[Any]] = [[] for _ in range(p)]
    hdr = sn.header
    lineno = 0
    try:
        with path.open("r", encoding="utf-8-sig", errors="strict", newline="") as fh:
            reader = (
                csv.reader(fh, delimiter=sn.delimiter)
                if sn.delimiter is not None
                else ([line.rstrip("\r\n")] for line in fh)
            )
            blank_run: list[int] = []
            for lineno, row in enumerate(reader, start=1):
                if hdr and lineno == 1:
                    continue
                if not any(c.strip() for c in row):
                    blank_run.append(lineno)
                    continue
                if blank_run:
                    raise DataError(
                        f"{path}: {row_where(blank_run[0])}, {col_where(0, names[0] if hdr else None)}: "
                        f"expected {p} cell{'s' if p > 1 else ''}; found a blank line between data rows."
                    )
                if len(row) != p:
                    ref = "the header, line 1" if hdr else f"line {sn.first_data_line}"
                    if len(row) < p:
                        j = len(row)
                        missing = col_where(j, names[j] if hdr else None)
                        raise DataError(
                            f"{path}: {row_where(lineno)}, {missing}: expected {p} cells like {ref}; "
                            f"found {len(row)} (the row ends before this column)."
                        )
                    raise DataError(
                        f"{path}: {row_where(lineno)}, {col_where(p, None)}: expected {p} cells like {ref}; "
                        f"found {len(row)} (extra cell {row[p].strip()!r})."
                    )
                for j, cell in enumerate(row):
                    if kinds[j] == TEXT:
                        cols[j].append(cell.strip() or None)
                        continue
                    where = f"{path}: {row_where(lineno)}, {col_where(j, names[j] if hdr else None)}"
                    if not cell.strip():
                        if kinds[j] == NUMBER:
                            cols[j].append(None)
                            continue
                        raise DataError(f"{where}: expected a number; found an empty cell.")
                    value = parse_number(cell, sn.decimal)
                    if value is None:
                        raise DataError(f"{where}: could not parse {cell.strip()!r} as a number.")
                    if kinds[j] == STRICT and (
                        not math.isfinite(value) or not _is_finite_literal(cell, sn.decimal)
                    ):
                        raise DataError(f"{where}: expected a finite number; found {cell.strip()!r}.")
                    cols[j].append(value)
    except UnicodeDecodeError:
        line, byte = _first_non_utf8(path)
        raise DataError(
            f"{path}: line {line}: byte 0x{byte:02x} is not UTF-8 text (a Latin-1 or Windows-1252 "
            "export?); save the file as UTF-8."
        ) from None
    return pl.DataFrame(
        {
            nm: pl.Series(nm, c, dtype=pl.String if k == TEXT else pl.Float64)
            for nm, c, k in zip(names, cols, kinds)
        }
    )
