"""SpectroDataset: views not copies, explicit writes, folds, targets, save/load round trip.

Expected values come from the arrays the test builds itself with numpy (the independent
reference), never from the dataset's own earlier output."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import polars as pl
import pytest
from sklearn.model_selection import GroupKFold, KFold

from nirs_core.data import SpectroDataset, load
from nirs_core.errors import DataError
from nirs_core.store.registry import DatasetRegistry


@pytest.fixture
def corn_ds(corn_arrays):
    X = np.concatenate([corn_arrays["Xcal"], corn_arrays["Xval"]])
    y = np.concatenate([corn_arrays["ycal"], corn_arrays["yval"]])
    part = ["train"] * 60 + ["test"] * 20
    groups = [str(i % 6) for i in range(80)]
    return (
        SpectroDataset.from_arrays(
            X,
            y,
            name="corn",
            wavelengths=corn_arrays["wavelengths"],
            target_names=["oil"],
            partition=part,
            group=groups,
        ),
        X,
        y,
    )


def test_partitions_are_views_in_2d_3d_and_3d_transpose(corn_ds):
    ds, X, _ = corn_ds
    for layout, expected in [
        ("2d", X[:60]),
        ("3d", X[:60, None, :]),
        ("3d_transpose", X[:60, :, None]),
    ]:
        (got,) = ds.x({"partition": "train"}, layout)
        assert np.shares_memory(got, X), layout
        np.testing.assert_array_equal(got, expected)
    (test,) = ds.x({"partition": "test"})
    assert np.shares_memory(test, X)
    np.testing.assert_array_equal(test, X[60:])
    np.testing.assert_array_equal(ds.y({"partition": "test"})[:, 0], corn_ds[2][60:])


def test_views_hold_with_several_processings(corn_ds):
    ds, X, _ = corn_ds
    ds.update_x(X * 2.0, processing_id="double")
    (store,) = ds.x(layout="3d")
    (train2d,) = ds.x({"partition": "train"}, "2d")
    assert np.shares_memory(train2d, store)
    np.testing.assert_array_equal(train2d, np.hstack([X[:60], X[:60] * 2.0]))
    (inter,) = ds.x({"partition": "train"}, "2d_interlaced")  # a copy: numpy cannot interleave in place
    assert not np.shares_memory(inter, store)
    expected = np.empty((60, 1400))
    expected[:, 0::2], expected[:, 1::2] = X[:60], X[:60] * 2.0
    np.testing.assert_array_equal(inter, expected)
    (t3,) = ds.x(layout="3d_transpose")
    assert t3.shape == (80, 700, 2) and np.shares_memory(t3, store)
    (only,) = ds.x(layout="2d", processings=["double"])
    np.testing.assert_array_equal(only, X * 2.0)


def test_fancy_selection_is_one_copy_with_the_right_rows(corn_ds):
    ds, X, _ = corn_ds
    (picked,) = ds.x(np.array([5, 1, 70]))
    assert not np.shares_memory(picked, X)
    np.testing.assert_array_equal(picked, X[[5, 1, 70]])
    np.testing.assert_array_equal(
        ds.x({"group": ["0", "3"]})[0], X[[i for i in range(80) if i % 6 in (0, 3)]]
    )
    np.testing.assert_array_equal(ds.x(np.array([-1]))[0], X[[-1]])
    mask = np.zeros(80, bool)
    mask[10:20] = True
    assert np.shares_memory(ds.x(mask)[0], X)


def test_get_indexed_features_aligns_index_and_spectra(corn_ds):
    ds, X, _ = corn_ds
    (spectra,), idx = ds.get_indexed_features({"partition": "test"})
    assert idx["sample"].to_list() == list(range(60, 80))
    np.testing.assert_array_equal(spectra, X[60:])


def test_multi_source_layouts_and_src_concat():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
    ds = SpectroDataset.from_arrays([a, b], np.arange(8.0), source_names=["nir", "mir"])
    np.testing.assert_array_equal(ds.x(src_concat=True)[0], np.hstack([a, b]))
    parts = ds.x()
    assert len(parts) == 2 and np.shares_memory(parts[0], a) and np.shares_memory(parts[1], b)
    np.testing.assert_array_equal(ds.x(source="mir")[0], b)
    np.testing.assert_array_equal(
        ds.x(layout="3d", src_concat=True)[0], np.concatenate([a[:, None], b[:, None]], axis=2)
    )


def test_merge_and_split_sources():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    ds = SpectroDataset.from_arrays(
        [a, b], None, wavelengths=[np.array([1000, 1002, 1004, 1006.0]), np.array([1100, 1102, 1104.0])]
    )
    ds.merge(name="both")
    assert ds.source_names == ["both"]
    np.testing.assert_array_equal(ds.x()[0], np.hstack([a, b]))
    np.testing.assert_array_equal(ds.wavelengths(), [1000, 1002, 1004, 1006, 1100, 1102, 1104])
    ds.split([(0, 4), (4, 7)], source="both", names=["short", "long"])
    np.testing.assert_array_equal(ds.x(source="short")[0], a)
    np.testing.assert_array_equal(ds.x(source="long")[0], b)
    np.testing.assert_array_equal(ds.wavelengths("long"), [1100, 1102, 1104])
    with pytest.raises(DataError, match=r"split ranges must be \(start, stop\) with 0 ≤ start < stop ≤ 4"):
        ds.split([(2, 2)], source="short")
    with pytest.raises(DataError, match="split makes 1 parts; got 2 names"):
        ds.split([(0, 2)], source="short", names=["a", "b"])
    with pytest.raises(DataError, match="at least two sources"):
        ds.merge(["short"])
    ds.update_x(np.zeros((6, 4)), processing_id="zero", source="short")
    with pytest.raises(DataError, match="merge needs the same processings in each source"):
        ds.merge()


def test_update_x_versions_and_overwrite(corn_ds):
    ds, X, _ = corn_ds
    ds.update_x(X - X.mean(axis=1, keepdims=True), processing_id="centred")
    assert ds.processings() == ["raw", "centred"]
    assert ds.index["processing"][0].to_list() == ["raw", "centred"]
    np.testing.assert_array_equal(ds.x(processings=["raw"])[0], X)  # the old version is kept beside
    ds.update_x(np.zeros((20, 700)), {"partition": "test"}, "centred")
    np.testing.assert_array_equal(ds.x({"partition": "test"}, processings=["centred"])[0], 0.0)
    cropped = X[:, 100:200]
    ds.update_x(cropped, processing_id="crop", replace=True, wavelengths=corn_arrays_axis(ds)[100:200])
    assert ds.n_features == [100] and ds.processings() == ["crop"]
    np.testing.assert_array_equal(ds.x()[0], cropped)
    with pytest.raises(DataError, match="must cover every row"):
        ds.update_x(np.zeros((60, 100)), {"partition": "train"}, "new")
    with pytest.raises(DataError, match="has 50 features; source 'source_0' has 100"):
        ds.update_x(np.zeros((80, 50)), processing_id="narrow")
    with pytest.raises(DataError, match="changes the width from 100 to 50; pass wavelengths"):
        ds.update_x(np.zeros((80, 50)), processing_id="narrow", replace=True)
    with pytest.raises(DataError, match="got 3 rows for a selection of 80"):
        ds.update_x(np.zeros((3, 100)), processing_id="crop")


def corn_arrays_axis(ds):
    return np.asarray(ds.wavelengths())


def test_augmented_rows_follow_their_origin_into_folds(corn_ds):
    ds, X, y = corn_ds
    new = ds.augment_samples(X[[0, 1, 2]] + 1e-3, origins=[0, 1, 2])
    assert new.tolist() == [80, 81, 82]
    idx = ds.index
    assert idx["origin"].to_list()[-3:] == [0, 1, 2]
    assert idx["partition"].to_list()[-3:] == ["train"] * 3
    np.testing.assert_array_equal(ds.y(np.array([80, 81, 82]))[:, 0], y[:3])  # parent's targets
    assert ds.n_samples == 80 and ds.n_rows == 83
    ds.set_folds(KFold(5, shuffle=True, random_state=0))
    seen_val = []
    for train, val in ds.folds.fold_rows():
        assert not set(val) & {80, 81, 82}  # augmented rows never validate
        for aug, parent in zip([80, 81, 82], [0, 1, 2]):
            assert (aug in train) == (parent in train)
        seen_val.extend(val)
    assert sorted(seen_val) == list(range(60))
    # the folds are those of scikit-learn on the 60 measured training rows
    expected = list(KFold(5, shuffle=True, random_state=0).split(X[:60]))
    for (tr, va), (etr, eva) in zip(ds.folds.fold_rows(include_augmented=False), expected):
        np.testing.assert_array_equal(va, np.sort(eva))
        np.testing.assert_array_equal(tr, np.sort(etr))
    # sample ids: here sample = row for the measured rows, the augmented ones are 80, 81, 82
    first = next(ds.fold_generator())
    assert first["val"] == sorted(expected[0][1].tolist())
    assert first["train"] == sorted(expected[0][0].tolist()) + [
        a for a, p in zip([80, 81, 82], [0, 1, 2]) if p in expected[0][0]
    ]
    Xtr, ytr, Xva, yva = next(ds.folds.get_data(ds))
    np.testing.assert_array_equal(Xva, X[np.sort(expected[0][1])])
    np.testing.assert_array_equal(yva[:, 0], y[np.sort(expected[0][1])])
    assert Xtr.shape[0] == ytr.shape[0] == len(first["train"])


def test_group_folds_keep_groups_together(corn_ds):
    ds, _, _ = corn_ds
    ds.set_folds(GroupKFold(3), groups="group")
    groups = np.array(ds.index["group"].to_list())
    for train, val in ds.folds.fold_rows():
        assert not set(groups[train]) & set(groups[val])
    with pytest.raises(DataError, match="no index or metadata column 'batch'"):
        ds.set_folds(GroupKFold(3), groups="batch")


def test_update_indexes(corn_ds):
    ds, _, _ = corn_ds
    ds.update_indexes({"partition": "test"}, partition="holdout", branch=2)
    assert ds.index.filter(pl.col("partition") == "holdout").height == 20
    assert set(ds.index.filter(pl.col("partition") == "holdout")["branch"].to_list()) == {2}
    ds.update_indexes(np.array([0, 1]), group=["a", "b"])
    assert ds.index["group"].to_list()[:2] == ["a", "b"]
    with pytest.raises(
        DataError, match=r"update_indexes can set \['branch', 'group', 'partition'\]; got \['sample'\]"
    ):
        ds.update_indexes(None, sample=3)


def test_classification_target_versions():
    X = np.random.default_rng(3).normal(size=(6, 3))
    labels = pl.DataFrame({"origin": ["Vietnam", "Brasil", "Ethiopia", "Brasil", "Vietnam", "Ethiopia"]})
    ds = SpectroDataset.from_arrays(X, labels)
    assert ds.task == "multiclass" and ds.classes == ["Brasil", "Ethiopia", "Vietnam"]
    np.testing.assert_array_equal(ds.y(version="category")[:, 0], [2, 0, 1, 0, 2, 1])
    ohe = ds.y(version="ohe")
    np.testing.assert_array_equal(ohe.argmax(axis=1), [2, 0, 1, 0, 2, 1])
    assert ohe.sum() == 6
    assert ds.y(version="raw")["origin"].to_list() == labels["origin"].to_list()
    binary = SpectroDataset.from_arrays(X, np.array([0, 1, 0, 1, 1, 0]))
    assert binary.task == "binary"


def test_update_y_adds_a_version(corn_ds):
    ds, _, y = corn_ds
    scaled = (y - y.mean()) / y.std()
    np.testing.assert_array_equal(ds.y()[:, 0], y)
    ds.update_y(scaled, None, "scaled")
    np.testing.assert_array_equal(ds.y(version="scaled")[:, 0], scaled)
    np.testing.assert_array_equal(ds.y()[:, 0], scaled)  # processed=True: the newest version
    np.testing.assert_array_equal(ds.y(version="regression")[:, 0], y)
    ds.update_y(np.zeros(20), {"partition": "test"}, "scaled")
    np.testing.assert_array_equal(ds.y({"partition": "test"}, version="scaled"), 0.0)
    with pytest.raises(DataError, match="derived from the raw labels and read-only"):
        ds.update_y(scaled, None, "ohe")
    with pytest.raises(DataError, match="new target version 'short' needs 80 rows; got 3"):
        ds.update_y(np.zeros(3), None, "short")
    with pytest.raises(
        DataError, match=r"processed must be True or False; got 'regression' \(name a version"
    ):
        ds.y(None, "regression")
    with pytest.raises(DataError, match="no target version 'nope'"):
        ds.y(version="nope")


def test_metadata_stats_against_numpy(corn_ds, corn_arrays):
    ds, _, y = corn_ds
    md = ds.get_metadata()
    assert md["n_samples"] == 80 and md["n_features"] == 700 and md["task"] == "regression"
    assert md["wavelength_range"] == [1100.0, 2498.0] and md["wavelength_unit"] == "nm"
    stats = md["targets"]["oil"]
    assert stats["min"] == y.min() and stats["max"] == y.max()
    assert stats["mean"] == pytest.approx(np.mean(y), rel=1e-12)
    assert stats["std"] == pytest.approx(np.std(y, ddof=1), rel=1e-12)
    assert md["partitions"] == {"test": 20, "train": 60}


def test_file_identity_matches_hashlib(tmp_path):
    f = tmp_path / "spectra.csv"
    payload = b"1000,1002\n" + b"0.5,0.25\n" * 20000
    f.write_bytes(payload)
    ds = SpectroDataset.from_arrays(np.ones((2, 2)), None, files=[f], path=f)
    md = ds.get_metadata()
    assert md["sha256"] == hashlib.sha256(payload).hexdigest() and md["hash_of"] == "file"
    assert md["file_size"] == len(payload)
    # size (8 bytes, little-endian), first and last 64 KiB
    quick = hashlib.sha256(len(payload).to_bytes(8, "little"))
    quick.update(payload[:65536])
    quick.update(payload[-65536:])
    assert md["quick_hash"] == quick.hexdigest()


def test_folder_identity_is_the_registry_identity(tmp_path):
    """A dataset loaded from a folder and the workspace registry name it by the same sha256:
    the files in sorted relative-path order, each as name, NUL, size, NUL, content."""
    folder = tmp_path / "corn"
    folder.mkdir()
    files = {"Xcal.csv": b"1000,1002\n0.5,0.25\n0.4,0.3\n", "Ycal.csv": b"y\n1.5\n2.5\n"}
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
    (folder / ".DS_Store").write_bytes(b"ignored")
    ds = load(folder)
    md = ds.get_metadata()
    expected = hashlib.sha256(b"folder\0")
    for name in sorted(files):
        expected.update(f"{name}\0{len(files[name])}\0".encode() + files[name])
    assert md["sha256"] == expected.hexdigest() and md["hash_of"] == "folder"
    assert md["file_size"] == sum(len(b) for b in files.values())
    entry = DatasetRegistry(tmp_path / "ws").register(folder, "corn")
    assert (entry.sha256, entry.quick_hash, entry.size) == (md["sha256"], md["quick_hash"], md["file_size"])


def test_save_load_round_trip_is_bit_exact(corn_ds, tmp_path):
    ds, X, _ = corn_ds
    ds.update_x(X[:, ::-1].copy(), processing_id="reversed")
    ds.augment_samples(np.stack([X[:2] + 1.0, X[:2, ::-1] + 1.0], axis=1), origins=[0, 1])
    ds.update_y(np.arange(82.0), None, "rank")
    ds.set_folds(KFold(4))
    ds.add_prediction(
        [3.4, 3.5],
        {"model": "PLS", "fold": 0, "partition": "val", "sample": [3, 4], "y_true": [3.3, 3.6], "rmse": 0.1},
    )
    out = ds.save(tmp_path / "corn_ds")
    back = SpectroDataset.load(out)
    assert isinstance(back.features.sources[0].data, np.memmap)
    for layout in ("2d", "3d"):
        (a,), (b,) = ds.x(layout=layout), back.x(layout=layout)
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for version in ("regression", "rank"):
        assert np.array_equal(ds.y(version=version), back.y(version=version))
    assert back.index.equals(ds.index)
    assert back.y(version="raw").equals(ds.y(version="raw"))
    assert back.predictions.table.equals(ds.predictions.table)
    assert list(back.fold_generator()) == list(ds.fold_generator())
    np.testing.assert_array_equal(back.wavelengths(), ds.wavelengths())
    assert back.get_metadata() == ds.get_metadata()
    on_disk = json.loads((out / "folds.json").read_text())
    assert len(on_disk["folds"]) == 4
    # writing over an existing save replaces it whole and leaves no temporary folder behind
    ds.save(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corn_ds"]
    # copy-on-write: a loaded (read-only, memory-mapped) dataset can still be updated
    back.update_x(np.zeros((82, 700)), processing_id="raw")
    assert np.all(back.x(processings=["raw"])[0] == 0.0)
    assert np.array_equal(SpectroDataset.load(out).x(processings=["raw"])[0], ds.x(processings=["raw"])[0])


def test_summary_mentions_what_was_inferred(corn_ds, capsys):
    ds, _, _ = corn_ds
    ds.load_info = {"layout": "cal_val", "delimiter": ";"}
    ds.print_summary()
    text = capsys.readouterr().out
    assert "700 features, 1100–2498 nm (inferred: regular grid (2 step)" in text
    assert "layout: cal_val" in text and "target 'oil'" in text


def test_construction_errors():
    with pytest.raises(DataError, match="source 1 has 3 rows; expected 4 like source 0"):
        SpectroDataset.from_arrays([np.zeros((4, 2)), np.zeros((3, 2))])
    with pytest.raises(DataError, match=r"source 0 must be 2-D \(rows × features\); got shape \(4,\)"):
        SpectroDataset.from_arrays(np.zeros(4))
    with pytest.raises(DataError, match="y has 3 rows; the spectra have 4"):
        SpectroDataset.from_arrays(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(
        DataError, match=r"source 'source_0': row 2, column 1: expected a finite number; got nan"
    ):
        SpectroDataset.from_arrays(np.array([[1.0, 2.0], [np.nan, 1.0]]))
    with pytest.raises(DataError, match="duplicated wavelengths at columns 2 and 3"):
        SpectroDataset.from_arrays(np.zeros((2, 3)), wavelengths=np.array([1.0, 2.0, 2.0]))
    with pytest.raises(DataError, match="non-monotonic wavelengths at columns 2 and 3"):
        SpectroDataset.from_arrays(np.zeros((2, 3)), wavelengths=np.array([1.0, 2.0, 1.5]))
    with pytest.raises(DataError, match="expected 3 wavelengths"):
        SpectroDataset.from_arrays(np.zeros((2, 3)), wavelengths=np.array([1.0, 2.0]))
    with pytest.raises(DataError, match="sample ids must be unique"):
        SpectroDataset.from_arrays(np.zeros((2, 3)), sample=[1, 1])
    with pytest.raises(DataError, match="unit: expected one of nm, cm-1, index; got 'furlong'"):
        SpectroDataset.from_arrays(np.zeros((2, 3)), units="furlong")
    with pytest.raises(DataError, match="target 'y', row 1: expected a finite number"):
        SpectroDataset.from_arrays(np.zeros((2, 3)), np.array([np.inf, 1.0]))


def test_selection_errors(corn_ds):
    ds, _, _ = corn_ds
    with pytest.raises(DataError, match="cannot filter on 'colour'"):
        ds.x({"colour": "red"})
    with pytest.raises(DataError, match="layout must be one of"):
        ds.x(layout="4d")
    with pytest.raises(DataError, match="boolean filter must have 80 values"):
        ds.x(np.ones(3, bool))
    with pytest.raises(DataError, match=r"row positions must lie in \[-80, 80\)"):
        ds.x(np.array([80]))
    with pytest.raises(DataError, match="no source named 'raman'"):
        ds.x(source="raman")
    with pytest.raises(DataError, match="no metadata column"):
        ds.meta(columns=["batch"])


def test_unit_inference_and_override():
    nm = SpectroDataset.from_arrays(np.zeros((2, 3)), wavelengths=np.array([1100.0, 1102.0, 1104.0]))
    assert nm.unit() == "nm"
    ir = SpectroDataset.from_arrays(np.zeros((2, 3)), wavelengths=np.array([4000.0, 3998.0, 3996.0]))
    assert ir.unit() == "cm-1"
    uneven = SpectroDataset.from_arrays(np.zeros((2, 4)), wavelengths=np.array([428.0, 429.0, 431.0, 432.0]))
    assert uneven.unit() == "cm-1"
    idx = SpectroDataset.from_arrays(np.zeros((2, 3)))
    assert idx.unit() == "index"
    nm.set_unit("cm^-1")
    assert nm.unit() == "cm-1" and nm.get_metadata()["sources"][0]["unit_source"] == "given"
