"""The loaders behind ``nirs_core.data.load``: every layout of ../shared/data loads with the
shapes and wavelength ranges SOURCES.md states, the values equal an independent numpy read,
and format variants (no header, ';' with decimal commas, tab) parse identically."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from nirs_core.data._csv import read_table, sniff
from nirs_core.data.dataset import SpectroDataset
from nirs_core.data.loaders import detect_layout, load
from nirs_core.errors import DataError


# ------------------------------------------------------------------------------ helpers
def _loadtxt(path: Path, delimiter: str, usecols=None) -> np.ndarray:
    """Independent reference: numpy.loadtxt, skipping the header line."""
    return np.loadtxt(path, delimiter=delimiter, skiprows=1, ndmin=2, usecols=usecols)


def _header(path: Path, delimiter: str) -> list[str]:
    return path.read_text().splitlines()[0].split(delimiter)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


def _rewrite(
    path: Path, delimiter: str, decimal: str, *, drop_header: bool = False, src_delim: str = ","
) -> None:
    lines = path.read_text().splitlines()
    if drop_header:
        lines = lines[1:]
    out = []
    for line in lines:
        cells = line.split(src_delim)
        if decimal == ",":
            cells = [c.replace(".", ",") for c in cells]
        out.append(delimiter.join(cells))
    path.write_text("\n".join(out) + "\n")


@pytest.fixture(scope="module")
def corn(shared_data) -> SpectroDataset:
    return load(shared_data / "corn")


@pytest.fixture(scope="module")
def fermentation(shared_data) -> SpectroDataset:
    return load(shared_data / "fermentation")


@pytest.fixture(scope="module")
def coffee(shared_data) -> SpectroDataset:
    return load(shared_data / "coffee" / "coffee.csv", target="origin")


# ------------------------------------------------------------------------------ corn: cal_val
def test_corn_cal_val_shapes_axis_and_values(corn, corn_arrays):
    assert corn.load_info["layout"] == "cal_val"
    assert corn.n_samples == 80 and corn.n_sources == 1
    X = corn.x(layout="2d")[0]
    assert X.shape == (80, 700)
    wl = corn.wavelengths(0)
    assert (wl[0], wl[-1], wl.size) == (1100.0, 2498.0, 700)
    np.testing.assert_array_equal(wl, corn_arrays["wavelengths"])
    assert corn.unit(0) == "nm"
    part = corn.index["partition"].to_numpy()
    assert (part == "train").sum() == 60 and (part == "test").sum() == 20
    np.testing.assert_array_equal(X[part == "train"], corn_arrays["Xcal"])
    np.testing.assert_array_equal(X[part == "test"], corn_arrays["Xval"])
    y = corn.y().ravel()
    np.testing.assert_array_equal(y[part == "train"], corn_arrays["ycal"])
    np.testing.assert_array_equal(y[part == "test"], corn_arrays["yval"])
    assert corn.target_names == ["oil"]


def test_corn_load_info_records_every_inference(corn):
    info = corn.load_info
    assert info["delimiter"] == ";" and info["decimal"] == "." and info["header"] is True
    assert info["target"]["columns"] == ["oil"] and info["target"]["how"].startswith("inferred")
    assert info["partition"]["mapping"] == {"Xcal": "train", "Xval": "test", "Ycal": "train", "Yval": "test"}
    src = info["sources"][0]
    assert src["unit"] == "nm" and "regular grid" in src["unit_how"]
    assert "fits both" in src["unit_ambiguous"]  # 1100–2498 could be cm⁻¹: said so
    assert {Path(f).name for f in corn.files} == {"Xcal.csv", "Ycal.csv", "Xval.csv", "Yval.csv"}


def test_cal_val_file_names_any_case_and_suffix(shared_data, tmp_path):
    src = shared_data / "corn"
    dst = tmp_path / "corn"
    dst.mkdir()
    for old, new in [
        ("Xcal.csv", "x_cal.TXT"),
        ("Ycal.csv", "YCAL.csv"),
        ("Xval.csv", "X-Val.tsv"),
        ("Yval.csv", "y_validation.csv"),
    ]:
        (dst / new).write_bytes((src / old).read_bytes())
    ds = load(dst)
    assert ds.load_info["layout"] == "cal_val"
    assert ds.n_samples == 80
    assert (ds.index["partition"] == "test").sum() == 20


# ------------------------------------------------------------------------------ corn_instruments: multi_source
def test_corn_instruments_multi_source(shared_data):
    root = shared_data / "corn_instruments"
    ds = load(root)
    assert ds.load_info["layout"] == "multi_source"
    assert ds.n_sources == 3 and ds.source_names == ["inst1", "inst2", "inst3"]
    assert ds.n_samples == 80
    for k in range(3):
        ref = _loadtxt(root / f"X_inst{k + 1}.csv", ",")
        np.testing.assert_array_equal(ds.x(layout="2d", src_concat=False)[k], ref)
        assert ds.wavelengths(k)[0] == 1100 and ds.wavelengths(k)[-1] == 2498
        assert ds.unit(k) == "nm"
    sets = np.loadtxt(root / "y.csv", delimiter=",", skiprows=1, usecols=0, dtype=str)
    expected = np.array([{"cal": "train", "test": "test"}.get(s, s) for s in sets])
    np.testing.assert_array_equal(ds.index["partition"].to_numpy(), expected)
    assert ds.load_info["partition"]["mapping"] == {"cal": "train", "test": "test", "trans": "trans"}
    assert ds.load_info["partition"]["counts"] == {"train": 30, "test": 20, "trans": 30}
    np.testing.assert_array_equal(
        ds.y().ravel(), np.loadtxt(root / "y.csv", delimiter=",", skiprows=1, usecols=1)
    )


def test_multi_source_order_and_partition_map_options(shared_data):
    root = shared_data / "corn_instruments"
    ds = load(
        root,
        sources={"second": "X_inst2.csv", "first": "X_inst1.csv"},
        partition="set",
        partition_map={"trans": "transfer"},
    )
    assert ds.source_names == ["second", "first"]
    np.testing.assert_array_equal(ds.x(layout="2d", src_concat=False)[0], _loadtxt(root / "X_inst2.csv", ","))
    assert set(ds.index["partition"].unique()) == {"train", "test", "transfer"}
    assert ds.load_info["partition"]["from"] == "column 'set'"


# ------------------------------------------------------------------------------ fermentation: train_test
def test_fermentation_train_test(fermentation, shared_data):
    root = shared_data / "fermentation"
    ds = fermentation
    assert ds.load_info["layout"] == "train_test"
    part = ds.index["partition"].to_numpy()
    assert (part == "train").sum() == 21 and (part == "test").sum() == 34
    X = ds.x(layout="2d")[0]
    assert X.shape == (55, 1047)
    np.testing.assert_array_equal(X[part == "train"], _loadtxt(root / "X_train.csv", ","))
    np.testing.assert_array_equal(X[part == "test"], _loadtxt(root / "X_test.csv", ","))
    wl = ds.wavelengths(0)
    assert (wl.min(), wl.max()) == (428.0, 1833.0)
    assert ds.unit(0) == "cm-1"
    assert "uneven steps" in ds.load_info["sources"][0]["unit_ambiguous"]


def test_fermentation_target_choice_and_test_only_columns_as_metadata(fermentation, shared_data):
    root = shared_data / "fermentation"
    ds = fermentation
    assert ds.target_names == ["glucose"]
    assert "found in every y file" in ds.load_info["target"]["how"]
    meta = ds.meta()
    assert meta.columns == ["spectrum_row", "time", "xylose", "acetic_acid", "ethanol", "furfural"]
    part = ds.index["partition"].to_numpy()
    time = meta["time"].to_numpy()
    assert np.all(np.isnan(time[part == "train"]))  # the train y file has no time column
    np.testing.assert_array_equal(time[part == "test"], _loadtxt(root / "y_test.csv", ",", usecols=1).ravel())


def test_fermentation_several_targets_by_name(shared_data):
    with pytest.raises(
        DataError,
        match=r"y_train\.csv: row 1 .*column 'xylose': target column not found; available columns: glucose",
    ):
        load(shared_data / "fermentation", target=["glucose", "xylose"])


# ------------------------------------------------------------------------------ coffee, pectin: single_file
def test_coffee_single_file_classification(coffee, shared_data):
    path = shared_data / "coffee" / "coffee.csv"
    ds = coffee
    assert ds.load_info["layout"] == "single_file"
    X = ds.x(layout="2d")[0]
    assert X.shape == (60, 1841)
    np.testing.assert_array_equal(X, _loadtxt(path, ",", usecols=range(1, 1842)))
    assert ds.unit(0) == "index"
    np.testing.assert_array_equal(ds.wavelengths(0), np.arange(1841))
    assert ds.task == "multiclass"
    assert sorted(ds.classes) == ["Brasil", "Ethiopia", "Vietnam"]
    codes = ds.y(version="category").ravel()
    assert np.bincount(codes).tolist() == [20, 20, 20]


def test_single_file_without_target_records_non_spectral_columns(shared_data):
    ds = load(shared_data / "coffee")
    assert ds.load_info["layout"] == "single_file"
    assert ds.load_info["non_spectral_columns"] == ["origin"]
    assert ds.target_names == []
    assert ds.meta().columns == ["origin"]
    assert ds.x(layout="2d")[0].shape == (60, 1841)  # 'origin' never read as a spectrum


def test_pectin_target_and_group(shared_data):
    path = shared_data / "pectin" / "pectin.csv"
    ds = load(path, target="yield_g", group="extraction")
    X = ds.x(layout="2d")[0]
    assert X.shape == (37, 148)
    ref = _loadtxt(path, ",")
    np.testing.assert_array_equal(X, ref[:, 2:])
    np.testing.assert_array_equal(ds.y().ravel(), ref[:, 1])
    wl = ds.wavelengths(0)
    assert (wl.min(), wl.max()) == (991.0, 1557.0)
    assert ds.unit(0) == "cm-1"
    groups = ds.index["group"].to_numpy()
    np.testing.assert_array_equal(groups, ref[:, 0].astype(int).astype(str))
    assert ds.load_info["group"] == {"column": "extraction", "n_groups": 3}


def test_unit_override_is_recorded_as_given(shared_data):
    ds = load(shared_data / "pectin" / "pectin.csv", target="yield_g", unit="nm")
    assert ds.unit(0) == "nm"
    assert ds.load_info["sources"][0]["unit_how"] == "given"


def test_sample_and_metadata_options(tmp_path, shared_data):
    src = (shared_data / "pectin" / "pectin.csv").read_text().splitlines()
    lines = ["id," + src[0]] + [f"{100 + i}," + line for i, line in enumerate(src[1:])]
    path = tmp_path / "pectin_ids.csv"
    path.write_text("\n".join(lines) + "\n")
    ds = load(path, target="yield_g", sample="id", metadata="extraction")
    assert ds.index["sample"].to_list() == list(range(100, 137))
    assert ds.meta().columns == ["extraction"]
    assert ds.x(layout="2d")[0].shape == (37, 148)


# ------------------------------------------------------------------------------ parquet
def test_parquet_same_semantics_as_single_file(coffee, shared_data, tmp_path):
    frame = pl.read_csv(shared_data / "coffee" / "coffee.csv")
    path = tmp_path / "coffee.parquet"
    frame.write_parquet(path)
    ds = load(path, target="origin")
    assert ds.load_info["layout"] == "parquet"
    np.testing.assert_array_equal(ds.x(layout="2d")[0], coffee.x(layout="2d")[0])
    np.testing.assert_array_equal(ds.wavelengths(0), coffee.wavelengths(0))
    assert ds.classes == coffee.classes
    folder = tmp_path / "only_parquet"
    folder.mkdir()
    shutil.copy(path, folder / "data.parquet")
    assert load(folder, target="origin").load_info["layout"] == "parquet"


# ------------------------------------------------------------------------------ format variants
def test_headerless_copy_keeps_every_row(shared_data, tmp_path, corn_arrays):
    root = _copy(shared_data / "corn", tmp_path / "corn")
    for name in ("Xcal.csv", "Ycal.csv", "Xval.csv", "Yval.csv"):
        _rewrite(root / name, ";", ".", drop_header=True, src_delim=";")
    ds = load(root)
    assert ds.n_samples == 80
    part = ds.index["partition"].to_numpy()
    np.testing.assert_array_equal(ds.x(layout="2d")[0][part == "train"], corn_arrays["Xcal"])
    np.testing.assert_array_equal(ds.y().ravel()[part == "test"], corn_arrays["yval"])
    assert ds.load_info["header"] is False
    assert "kept as the first sample" in ds.load_info["read"][0]["reasons"]["header"]
    assert ds.unit(0) == "index"  # no axis in the file: channel index, said so
    assert ds.target_names == ["y"]


def test_headerless_single_file_with_label_column_keeps_every_row(shared_data, tmp_path):
    path = tmp_path / "coffee_noheader.csv"
    path.write_text("\n".join((shared_data / "coffee" / "coffee.csv").read_text().splitlines()[1:]) + "\n")
    ds = load(path, target="column_1")
    assert ds.n_samples == 60 and ds.x(layout="2d")[0].shape == (60, 1841)
    assert sorted(ds.classes) == ["Brasil", "Ethiopia", "Vietnam"]
    assert ds.load_info["header"] is False


@pytest.mark.parametrize(("delimiter", "decimal"), [(";", ","), ("\t", "."), ("\t", ",")])
def test_delimiter_and_decimal_variants_parse_identically(
    fermentation, shared_data, tmp_path, delimiter, decimal
):
    root = _copy(shared_data / "fermentation", tmp_path / "ferm")
    for p in root.iterdir():
        _rewrite(p, delimiter, decimal)
    ds = load(root)
    np.testing.assert_array_equal(ds.x(layout="2d")[0], fermentation.x(layout="2d")[0])
    np.testing.assert_array_equal(ds.wavelengths(0), fermentation.wavelengths(0))
    np.testing.assert_array_equal(ds.y(), fermentation.y())
    read = ds.load_info["read"][0]
    assert read["delimiter"] == ("tab" if delimiter == "\t" else delimiter)
    assert read["decimal"] == decimal


def test_semicolon_decimal_comma_single_column_y_files(shared_data, tmp_path, corn):
    root = _copy(shared_data / "corn", tmp_path / "corn")
    for p in root.iterdir():
        _rewrite(p, ";", ",", src_delim=";")
    ds = load(root)
    np.testing.assert_array_equal(ds.x(layout="2d")[0], corn.x(layout="2d")[0])
    np.testing.assert_array_equal(ds.y(), corn.y())
    assert [r["decimal"] for r in ds.load_info["read"]] == [",", ",", ",", ","]


def test_header_override_is_recorded(shared_data, corn_arrays):
    forced = load(shared_data / "corn" / "Xcal.csv", header=False)
    assert forced.n_samples == 61  # the user said so: the wavelength line is read as a sample
    np.testing.assert_array_equal(forced.x(layout="2d")[0][0], corn_arrays["wavelengths"])
    assert forced.load_info["read"][0]["reasons"]["header"].startswith("given (detection alone would say")


# ------------------------------------------------------------------------------ header decision
@pytest.mark.parametrize(
    ("text", "header"),
    [
        ("1100,1200,1300\n0.1,0.2,0.3\n0.2,0.3,0.4\n", True),  # wavelengths over absorbances
        ("0.1,0.2,0.3\n0.2,0.3,0.4\n0.3,0.1,0.2\n", False),  # data, monotonic but far below 100
        ("1100,1200,1300\n1105,1190,1310\n1098,1205,1290\n", False),  # counts like the rows below
        ("3.49\n3.54\n3.50\n", False),  # a headerless y file
        ("oil\n3.49\n3.54\n", True),
        ("origin\nBrasil\nVietnam\n", True),  # a name that never occurs again
        ("Brasil\nBrasil\nVietnam\n", False),  # a label that does
        ("2498;2496;1100\n0,1;0,2;0,3\n0,2;0,3;0,4\n", True),  # non-monotonic: still a header, rejected later
    ],
)
def test_header_detection(tmp_path, text, header):
    path = tmp_path / "f.csv"
    path.write_text(text)
    assert sniff(path).header is header


def test_header_detection_of_descending_wavenumbers(tmp_path):
    path = tmp_path / "mir.csv"
    wn = np.arange(4000, 398, -2.0)
    rows = np.random.default_rng(0).random((5, wn.size))
    path.write_text(
        ",".join(f"{w:.1f}" for w in wn) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n"
    )
    table = read_table(path)
    assert table.header and table.n_rows == 5
    ds = load(path)
    assert ds.unit(0) == "cm-1" and ds.load_info["sources"][0]["order"] == "descending"


def test_sniff_records_reasons(shared_data):
    sn = sniff(shared_data / "corn" / "Xcal.csv")
    assert sn.delimiter == ";" and sn.decimal == "."
    assert set(sn.reasons) == {"delimiter", "decimal", "header"}


def test_trailing_blank_lines_and_crlf_are_fine(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"1100,1102,1104\r\n0.1,0.2,0.3\r\n0.2,0.3,0.1\r\n\r\n\r\n")
    ds = load(path)
    assert ds.n_samples == 2
    np.testing.assert_array_equal(ds.x(layout="2d")[0], [[0.1, 0.2, 0.3], [0.2, 0.3, 0.1]])


# ------------------------------------------------------------------------------ layout detection
def test_layout_detection_and_forcing(shared_data):
    assert detect_layout(shared_data / "corn")[0] == "cal_val"
    assert detect_layout(shared_data / "fermentation")[0] == "train_test"
    assert detect_layout(shared_data / "corn_instruments")[0] == "multi_source"
    assert detect_layout(shared_data / "pectin")[0] == "single_file"
    assert detect_layout(shared_data / "pectin" / "pectin.csv")[0] == "single_file"
    ds = load(shared_data / "pectin", layout="single_file", target="yield_g")
    assert ds.load_info["layout_reason"] == "given"
    with pytest.raises(DataError, match=r"layout must be one of cal_val, train_test"):
        load(shared_data / "pectin", layout="xy")
    with pytest.raises(
        DataError, match=r"expected a file named Xcal .* for layout cal_val; found: pectin\.csv"
    ):
        load(shared_data / "pectin", layout="cal_val")


def test_headerless_decimal_comma_y_file_is_one_column(shared_data, tmp_path, corn):
    """'3,49' alone on a line: two fields split by ',' or one number with a decimal comma?
    Beside ';'-delimited X files with decimal commas, the latter."""
    root = _copy(shared_data / "corn", tmp_path / "corn")
    for p in root.iterdir():
        _rewrite(p, ";", ",", drop_header=True, src_delim=";")
    ds = load(root)
    assert ds.n_samples == 80
    np.testing.assert_array_equal(ds.y(), corn.y())
    y_read = next(r for r in ds.load_info["read"] if r["role"] == "Ycal")
    assert y_read["delimiter"] is None and y_read["decimal"] == ","
    assert "decimal marks like the dataset's other files" in y_read["reasons"]["delimiter"]


def test_a_saved_dataset_folder_is_detected_and_read_memory_mapped(shared_data, corn_arrays, tmp_path):
    saved = load(shared_data / "corn").save(tmp_path / "corn_saved")
    assert detect_layout(saved)[0] == "saved"
    back = load(saved)
    assert isinstance(back.features.sources[0].data, np.memmap)
    np.testing.assert_array_equal(back.x({"partition": "train"})[0], corn_arrays["Xcal"])
    np.testing.assert_array_equal(back.y({"partition": "test"})[:, 0], corn_arrays["yval"])
    with pytest.raises(
        DataError, match=r"read back as saved; the reading options \['delimiter', 'target'\] apply"
    ):
        load(saved, target="oil", delimiter=";")
    with pytest.raises(DataError, match=r"layout 'saved' needs a folder written by SpectroDataset\.save"):
        load(shared_data / "corn", layout="saved")


def test_one_unit_per_source(shared_data):
    with pytest.raises(
        DataError,
        match=r"load: unit= gives 1 units for 3 sources \['inst1', 'inst2', 'inst3'\]; expected one per source",
    ):
        load(shared_data / "corn_instruments", unit=["nm"])
