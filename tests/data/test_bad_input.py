"""Bad input gets one DataError naming the file, the row (1-based line number in the file;
the header is line 1) and the column (header name and 1-based number), what was expected and
what was found. Bad files are built in tmp_path from the real corn data."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nirs_core.data._csv import read_table, sniff
from nirs_core.data.loaders import load
from nirs_core.errors import DataError

ROW = r"row {} \(file line, 1-based\)"
HEADER = r"row 1 \(file line, 1-based: the header\)"


@pytest.fixture
def corn_copy(shared_data, tmp_path) -> Path:
    dst = tmp_path / "corn"
    shutil.copytree(shared_data / "corn", dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


def _edit(path: Path, line: int, column: int, value: str, delimiter: str = ";") -> None:
    """Set the cell at 1-based ``line`` and ``column`` of a text file."""
    lines = path.read_text().splitlines()
    cells = lines[line - 1].split(delimiter)
    cells[column - 1] = value
    lines[line - 1] = delimiter.join(cells)
    path.write_text("\n".join(lines) + "\n")


def _lines(path: Path, transform) -> None:
    path.write_text("\n".join(transform(path.read_text().splitlines())) + "\n")


def _file(path: Path) -> str:
    return re.escape(str(path))


# ------------------------------------------------------------------------------ cells
@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("n/a", r"could not parse 'n/a' as a number"),
        ("NaN", r"expected a finite number; found 'NaN'"),
        ("inf", r"expected a finite number; found 'inf'"),
        ("-Infinity", r"expected a finite number; found '-Infinity'"),
        ("", r"expected a number; found an empty cell"),
    ],
)
def test_bad_cell_in_spectra(corn_copy, value, found):
    x = corn_copy / "Xcal.csv"
    _edit(x, 37, 2, value)
    with pytest.raises(
        DataError, match=rf"^{_file(x)}: {ROW.format(37)}, column '1102' \(column 2\): {found}\.$"
    ):
        load(corn_copy)


def test_bad_cell_in_headerless_file_names_the_column_number(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("0.1,0.2,0.3\n0.2,0.3,0.1\n0.3,oops,0.2\n")
    with pytest.raises(DataError, match=rf"{_file(path)}: {ROW.format(3)}, column 2: could not parse 'oops'"):
        load(path)


def test_bad_cell_beyond_the_sniffed_lines(tmp_path):
    path = tmp_path / "x.csv"
    rows = np.random.default_rng(1).random((200, 4)).round(4)
    text = ["1100,1102,1104,1106"] + [",".join(map(str, r)) for r in rows]
    text[150] = "0.1,0.2,bad,0.4"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(
        DataError, match=rf"{ROW.format(151)}, column '1104' \(column 3\): could not parse 'bad'"
    ):
        load(path)


def test_bad_target_value(corn_copy):
    y = corn_copy / "Ycal.csv"
    _lines(y, lambda L: [*L[:5], "n/a", *L[6:]])
    with pytest.raises(
        DataError, match=rf"{_file(y)}: {ROW.format(6)}, column 'oil' \(column 1\): could not parse 'n/a'"
    ):
        load(corn_copy)


def test_missing_target_value_in_a_multi_column_y_file(shared_data, tmp_path):
    root = tmp_path / "ci"
    shutil.copytree(shared_data / "corn_instruments", root)
    y = root / "y.csv"
    y.chmod(0o644)
    _edit(y, 10, 2, "", delimiter=",")
    with pytest.raises(
        DataError,
        match=rf"{_file(y)}: {ROW.format(10)}, column 'oil' \(column 2\): expected a target value; found an empty cell",
    ):
        load(root)


# ------------------------------------------------------------------------------ rows
def test_short_row(corn_copy):
    x = corn_copy / "Xcal.csv"
    _lines(x, lambda L: [*L[:36], ";".join(L[36].split(";")[:-1]), *L[37:]])
    with pytest.raises(
        DataError,
        match=rf"{_file(x)}: {ROW.format(37)}, column '2498' \(column 700\): expected 700 cells like the header, line 1; found 699",
    ):
        load(corn_copy)


def test_long_row(corn_copy):
    x = corn_copy / "Xval.csv"
    _lines(x, lambda L: [*L[:11], L[11] + ";0.5", *L[12:]])
    with pytest.raises(
        DataError,
        match=rf"{_file(x)}: {ROW.format(12)}, column 701: expected 700 cells .* found 701 \(extra cell '0.5'\)",
    ):
        load(corn_copy)


def test_blank_line_between_rows(corn_copy):
    x = corn_copy / "Xcal.csv"
    _lines(x, lambda L: [*L[:10], "", *L[10:]])
    with pytest.raises(
        DataError, match=rf"{_file(x)}: {ROW.format(11)}, column '1100' \(column 1\): .*found a blank line"
    ):
        load(corn_copy)


# ------------------------------------------------------------------------------ wavelengths
def test_duplicated_wavelength_text(corn_copy):
    x = corn_copy / "Xcal.csv"
    _edit(x, 1, 3, "1102")
    with pytest.raises(
        DataError,
        match=rf"{_file(x)}: {HEADER}, column '1102' \(column 3\): duplicated wavelength '1102' \(also column 2\)",
    ):
        load(corn_copy)


def test_duplicated_wavelength_value(corn_copy):
    x = corn_copy / "Xcal.csv"
    _edit(x, 1, 3, "1102.0")
    with pytest.raises(
        DataError,
        match=rf"{_file(x)}: {HEADER}, column '1102.0' \(column 3\): duplicated wavelength 1102 \(also column 2",
    ):
        load(corn_copy)


def test_non_monotonic_wavelengths(corn_copy):
    x = corn_copy / "Xcal.csv"
    _edit(x, 1, 300, "1101")
    with pytest.raises(
        DataError,
        match=rf"{_file(x)}: {HEADER}, column '1101' \(column 300\): non-monotonic wavelengths: 1696 then 1101; expected a strictly increasing",
    ):
        load(corn_copy)


def test_validation_axis_differs_from_calibration(corn_copy):
    x = corn_copy / "Xval.csv"
    _edit(x, 1, 700, "2499")
    with pytest.raises(
        DataError,
        match=rf"{_file(x)}: {HEADER}, column '2499' \(column 700\): wavelength 2499 differs from Xcal\.csv's 2498",
    ):
        load(corn_copy)


def test_validation_has_other_number_of_columns(corn_copy):
    x = corn_copy / "Xval.csv"
    _lines(x, lambda L: [";".join(line.split(";")[:-1]) for line in L])
    with pytest.raises(
        DataError,
        match=rf"{_file(x)}: {ROW.format(2)}: expected 700 spectral columns like Xcal\.csv; found 699",
    ):
        load(corn_copy)


# ------------------------------------------------------------------------------ X / y lengths
def test_y_shorter_than_x(corn_copy):
    y = corn_copy / "Ycal.csv"
    _lines(y, lambda L: L[:-1])
    with pytest.raises(
        DataError,
        match=rf"{_file(y)}: {ROW.format(61)}, column 'oil' \(column 1\): expected a row for the spectrum at Xcal\.csv row 61; found the end of the file \(59 rows here, 60 spectra",
    ):
        load(corn_copy)


def test_y_longer_than_x(corn_copy):
    y = corn_copy / "Yval.csv"
    _lines(y, lambda L: [*L, "3.5"])
    with pytest.raises(
        DataError,
        match=rf"{_file(y)}: {ROW.format(22)}, column 'oil' \(column 1\): found a row with no spectrum in Xval\.csv",
    ):
        load(corn_copy)


def test_sources_of_different_lengths(shared_data, tmp_path):
    root = tmp_path / "ci"
    shutil.copytree(shared_data / "corn_instruments", root)
    x = root / "X_inst3.csv"
    x.chmod(0o644)
    _lines(x, lambda L: L[:-2])
    with pytest.raises(
        DataError,
        match=rf"{_file(x)}: {ROW.format(80)}, column '1100' \(column 1\): expected a row for the spectrum at X_inst1\.csv row 80",
    ):
        load(root)


# ------------------------------------------------------------------------------ files
def test_empty_file(corn_copy):
    x = corn_copy / "Xval.csv"
    x.write_text("")
    with pytest.raises(
        DataError,
        match=rf"{_file(x)}: {ROW.format(1)}, column 1: expected a header or a data row; found an empty file",
    ):
        load(corn_copy)


def test_header_only_file(corn_copy):
    x = corn_copy / "Xcal.csv"
    _lines(x, lambda L: L[:1])
    with pytest.raises(
        DataError,
        match=rf"{_file(x)}: {ROW.format(2)}: expected at least one data row after the header; found none",
    ):
        load(corn_copy)


def test_missing_file(tmp_path):
    path = tmp_path / "nope" / "Xcal.csv"
    with pytest.raises(DataError, match=rf"{_file(path)}: file not found"):
        load(path)


def test_missing_y_file_for_one_partition(corn_copy):
    (corn_copy / "Yval.csv").unlink()
    with pytest.raises(
        DataError, match=r"found Ycal\.csv but no Yval file for Xval; expected a target file for every X file"
    ):
        load(corn_copy)


def test_y_file_without_x_file(corn_copy):
    (corn_copy / "Xval.csv").unlink()
    with pytest.raises(DataError, match=r"Yval\.csv: found targets but no Xval file"):
        load(corn_copy)


def test_unrecognised_folder(tmp_path):
    (tmp_path / "a.csv").write_text("1,2\n")
    (tmp_path / "b.csv").write_text("1,2\n")
    with pytest.raises(DataError, match=r"could not detect the layout; .* found: a\.csv, b\.csv"):
        load(tmp_path)


def test_two_files_for_one_role(corn_copy):
    shutil.copy(corn_copy / "Xcal.csv", corn_copy / "X_cal.txt")
    with pytest.raises(DataError, match=r"two files for the role Xcal: .*expected one"):
        load(corn_copy)


# ------------------------------------------------------------------------------ options
def test_target_column_not_found_lists_the_available_ones(shared_data):
    path = shared_data / "pectin" / "pectin.csv"
    with pytest.raises(
        DataError,
        match=rf"{_file(path)}: {HEADER}, column 'yield': target column not found; available columns: extraction, yield_g \(plus 148 spectral columns 991…1557\)",
    ):
        load(path, target="yield")


def test_group_column_not_found(shared_data):
    path = shared_data / "pectin" / "pectin.csv"
    with pytest.raises(DataError, match=rf"{_file(path)}: {HEADER}, column 'batch': group column not found"):
        load(path, target="yield_g", group="batch")


def test_target_in_one_y_file_only(shared_data):
    y = shared_data / "fermentation" / "y_train.csv"
    with pytest.raises(
        DataError,
        match=rf"{_file(y)}: {HEADER}, column 'ethanol': target column not found; available columns: glucose",
    ):
        load(shared_data / "fermentation", target="ethanol")


def test_partition_option_with_file_roles(shared_data):
    with pytest.raises(
        DataError, match=r"partition='set' applies to single_file, multi_source and parquet layouts"
    ):
        load(shared_data / "corn", partition="set")


def test_duplicated_sample_ids(shared_data, tmp_path):
    src = (shared_data / "pectin" / "pectin.csv").read_text().splitlines()
    path = tmp_path / "ids.csv"
    path.write_text(
        "\n".join(["id," + src[0]] + [f"{i // 2}," + line for i, line in enumerate(src[1:])]) + "\n"
    )
    with pytest.raises(
        DataError, match=rf"{_file(path)}: {ROW.format(3)}, column 'id' \(column 1\): duplicated sample id 0"
    ):
        load(path, target="yield_g", sample="id")


def test_non_integer_sample_ids(shared_data):
    path = shared_data / "pectin" / "pectin.csv"
    with pytest.raises(
        DataError,
        match=rf"{_file(path)}: {ROW.format(2)}, column 'yield_g' \(column 2\): expected an integer sample id",
    ):
        load(path, sample="yield_g")


def test_empty_group_label(shared_data, tmp_path):
    path = tmp_path / "pectin.csv"
    path.write_text((shared_data / "pectin" / "pectin.csv").read_text())
    _edit(path, 5, 1, "", delimiter=",")
    with pytest.raises(
        DataError,
        match=rf"{_file(path)}: {ROW.format(5)}, column 'extraction' \(column 1\): expected a group label; found an empty cell",
    ):
        load(path, target="yield_g", group="extraction")


def test_bad_options(shared_data, tmp_path):
    path = shared_data / "pectin" / "pectin.csv"
    with pytest.raises(DataError, match=r"delimiter must be one of ',', ';', tab; got '\|'"):
        read_table(path, delimiter="|")
    with pytest.raises(DataError, match=r"decimal must be '\.' or ','; got ':'"):
        read_table(path, decimal=":")
    with pytest.raises(DataError, match=r"decimal ',' cannot be used with the delimiter ','"):
        read_table(path, delimiter=",", decimal=",")
    with pytest.raises(DataError, match=r"unit= gives 2 units for 1 sources"):
        load(path, target="yield_g", unit=["nm", "nm"])
    with pytest.raises(DataError, match=r"layout 'cal_val' needs a folder; got a file"):
        load(path, layout="cal_val")
    with pytest.raises(DataError, match=r"expected a file; found a folder"):
        sniff(tmp_path)


def test_file_without_spectra(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("name,origin\na,Brasil\nb,Vietnam\n")
    with pytest.raises(
        DataError, match=rf"{_file(path)}: {HEADER}: expected spectra .* found only the columns name, origin"
    ):
        load(path)


# ------------------------------------------------------------------------------ parquet
def test_parquet_nan_and_text_in_spectra(tmp_path):
    path = tmp_path / "x.parquet"
    pl.DataFrame(
        {"y": [1.0, 2.0, 3.0], "1100": [0.1, float("nan"), 0.3], "1102": [0.1, 0.2, 0.3]}
    ).write_parquet(path)
    with pytest.raises(
        DataError,
        match=rf"{_file(path)}: row 2 \(table row, 1-based\), column '1100' \(column 2\): expected a finite number; found nan",
    ):
        load(path, target="y")
    pl.DataFrame({"1100": ["0.1", "0.2", "x"], "1102": [0.1, 0.2, 0.3]}).write_parquet(path)
    with pytest.raises(
        DataError,
        match=rf"{_file(path)}: row 3 \(table row, 1-based\), column '1100' \(column 1\): could not parse 'x' as a number",
    ):
        load(path)
    pl.DataFrame({"1100": [0.1, None], "1102": [0.1, 0.2]}).write_parquet(path)
    with pytest.raises(
        DataError,
        match=r"row 2 \(table row, 1-based\), column '1100' \(column 1\): expected a finite number; found an empty \(null\) cell",
    ):
        load(path)
    pl.DataFrame({"1102": [0.1, 0.2], "1100": [0.1, 0.2], "1104": [0.3, 0.1]}).write_parquet(path)
    with pytest.raises(
        DataError,
        match=rf"{_file(path)}: column names, column '1104' \(column 3\): non-monotonic wavelengths",
    ):
        load(path)
    pl.DataFrame({"1100": [], "1102": []}).write_parquet(path)
    with pytest.raises(
        DataError, match=r"row 1 \(table row, 1-based\): expected at least one row; found an empty table"
    ):
        load(path)


def test_parquet_unreadable_without_spectra_or_target(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"not a parquet file")
    with pytest.raises(DataError, match=rf"{_file(path)}: could not read as parquet"):
        load(path)
    pl.DataFrame({"a": [1.0], "b": ["x"]}).write_parquet(path)
    with pytest.raises(DataError, match=rf"{_file(path)}: expected spectra .*found only the columns a, b"):
        load(path)
    pl.DataFrame({"y": [1.0], "1100": [0.1]}).write_parquet(path)
    with pytest.raises(
        DataError,
        match=rf"{_file(path)}: column names, column 'z': target column not found; available columns: y",
    ):
        load(path, target="z")


# ------------------------------------------------------------------------------ more layouts and headers
def test_blank_first_line_and_empty_header_cell(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("\n1100,1102\n0.1,0.2\n")
    with pytest.raises(
        DataError,
        match=rf"{_file(path)}: {ROW.format(1)}, column 1: expected a header or a data row; found a blank line",
    ):
        load(path)
    path.write_text("1100,,1104\n0.1,0.2,0.3\n0.3,0.2,0.1\n")
    with pytest.raises(
        DataError,
        match=rf"{_file(path)}: {HEADER}, column 2: expected a column name in the header; found an empty cell",
    ):
        load(path)


def test_non_finite_wavelength_in_a_forced_header(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("1100,nan,1104\n0.1,0.2,0.3\n")
    with pytest.raises(
        DataError,
        match=rf"{_file(path)}: {HEADER}, column 'nan' \(column 2\): expected a finite wavelength; found 'nan'",
    ):
        load(path, header=True)


def test_missing_file_read_directly(tmp_path):
    with pytest.raises(DataError, match=rf"{_file(tmp_path / 'x.csv')}: file not found"):
        read_table(tmp_path / "x.csv")


def test_multi_source_problems(shared_data, tmp_path):
    root = tmp_path / "ci"
    shutil.copytree(shared_data / "corn_instruments", root)
    with pytest.raises(
        DataError, match=rf"{_file(root / 'X_nope.csv')}: file not found \(named in sources=\)"
    ):
        load(root, sources=["X_inst1.csv", "X_nope.csv"])
    shutil.copy(root / "y.csv", root / "y_copy.csv")
    with pytest.raises(
        DataError, match=r"expected at most one y file beside the X files; found y\.csv, y_copy\.csv"
    ):
        load(root)
    (root / "y_copy.csv").unlink()
    y = root / "y.csv"
    y.chmod(0o644)
    _edit(y, 4, 1, "", delimiter=",")
    with pytest.raises(
        DataError,
        match=rf"{_file(y)}: {ROW.format(4)}, column 'set' \(column 1\): expected a partition label; found an empty cell",
    ):
        load(root, partition="set")
    with pytest.raises(
        DataError,
        match=r"expected X files \(one per source, e\.g\. X_inst1\.csv\) for layout multi_source; found: pectin\.csv",
    ):
        load(shared_data / "pectin", layout="multi_source")


def test_layout_expects_one_file(shared_data):
    with pytest.raises(
        DataError, match=r"layout parquet expects exactly one parquet file in the folder; found: Xcal\.csv"
    ):
        load(shared_data / "corn", layout="parquet")


def test_same_non_spectral_column_in_x_and_y(corn_copy):
    x, y = corn_copy / "Xcal.csv", corn_copy / "Ycal.csv"
    _lines(x, lambda L: [("id;" if i == 0 else f"{i};") + line for i, line in enumerate(L)])
    _lines(y, lambda L: [("id;" if i == 0 else f"{i};") + line for i, line in enumerate(L)])
    with pytest.raises(
        DataError,
        match=rf"{_file(y)}: {HEADER}, column 'id' \(column 1\): the column name 'id' is also used in Xcal\.csv",
    ):
        load(corn_copy)


def test_header_shorter_than_the_rows_is_one_data_error(tmp_path):
    """A truncated header line (fewer names than values) must not leak a polars exception."""
    bad = tmp_path / "trunc.csv"
    bad.write_text("1100,1102\n0.1,0.2,0.3\n0.4,0.5,0.6\n")
    with pytest.raises(DataError, match=r"trunc\.csv: row"):
        load(bad)


def test_a_binary_file_is_named_as_such(corn_copy):
    path = corn_copy / "Xcal.csv"
    raw = path.read_bytes()
    path.write_bytes(raw[:3000] + b"\x00\x01\x02" + raw[3000:])
    line = raw.count(b"\n", 0, 3000) + 1
    with pytest.raises(
        DataError, match=rf"Xcal\.csv: line {line}: a NUL byte \(byte 3000\); this is a binary file"
    ):
        load(corn_copy)


@pytest.mark.parametrize(("where", "width"), [(3, 8), (75, 2500)])  # in the sniffed head; past it
def test_latin1_text_is_refused_not_replaced(tmp_path, where, width):
    header = ";".join(f"{1100 + 2 * j}" for j in range(width))
    rows = [f"name;{header};oil"]
    rng = np.random.default_rng(0)
    for i in range(80):
        values = ";".join(f"{v:.4f}" for v in rng.random(width))
        rows.append(f"{'café' if i == where else f's{i}'};{values};{rng.random():.3f}")
    path = tmp_path / "latin.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    assert (path.stat().st_size > 1 << 20) == (width > 8)  # the head reads the first MiB
    with pytest.raises(
        DataError, match=rf"latin\.csv: line {where + 2}: .*not UTF-8 text .*save the file as UTF-8"
    ):
        load(path, target="oil")
    path.write_bytes(("\n".join(rows) + "\n").encode("utf-8"))
    assert "café" in load(path, target="oil").meta()["name"].to_list()


def test_a_one_wavelength_file_reads_its_header(shared_data, tmp_path):
    """A single-column spectra file whose header is one wavelength (the band a filter
    photometer measures) is not taken for a first sample."""
    folder = tmp_path / "one"
    folder.mkdir()
    for name in ("Xcal.csv", "Xval.csv"):
        lines = (shared_data / "corn" / name).read_text().splitlines()
        (folder / name).write_text("\n".join(line.split(";")[0] for line in lines) + "\n")
    for name in ("Ycal.csv", "Yval.csv"):
        shutil.copy(shared_data / "corn" / name, folder / name)
    ds = load(folder)
    assert ds.n_features == [1] and ds.n_samples == 80
    assert ds.wavelengths().tolist() == [1100.0]
    first = float((shared_data / "corn" / "Xcal.csv").read_text().splitlines()[1].split(";")[0])
    assert ds.x({"partition": "train"}, src_concat=True)[0][0, 0] == first
    # a one-column file of data around 1100 keeps its first row as data
    (tmp_path / "data.csv").write_text("\n".join(str(1100 + k) for k in range(12)) + "\n")
    table = sniff(tmp_path / "data.csv")
    assert not table.header
