"""The specified SpectroDataset API (issue 15): blocks, tuple-returning getters, read-only
views, expression filters, zero-copy selections, augmentation by reference, folds,
predictions, logging, and save/load with each parquet compression.

Expected values are computed here with numpy (or pyarrow, for what is on disk), never taken
from the dataset's own earlier output."""

from __future__ import annotations

import json
import logging

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from nirs_core.data import (
    FeatureBlock,
    FoldsManager,
    MetadataBlock,
    PredictionBlock,
    SpectroDataset,
    TargetBlock,
)
from nirs_core.data.storage import COMPRESSIONS
from nirs_core.errors import DataError


def _two_sources(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 5)), rng.random((n, 3))


@pytest.fixture
def corn(corn_arrays):
    """The corn spectra (80 × 700) with the oil target, calibration rows first."""
    X = np.concatenate([corn_arrays["Xcal"], corn_arrays["Xval"]])
    y = np.concatenate([corn_arrays["ycal"], corn_arrays["yval"]])
    ds = SpectroDataset(name="corn")
    ds.add_features([X])
    ds.features.index_df = ds.features.index_df.with_columns(
        partition=pl.when(pl.col("row") < 60).then(pl.lit("train")).otherwise(pl.lit("test"))
    )
    ds.add_targets(pl.DataFrame({"oil": y}), pl.DataFrame({"batch": [i % 4 for i in range(80)]}))
    return ds, X, y


# ---------------------------------------------------------------------- the issue's examples
def test_the_issue_examples_run_as_written():
    ds = SpectroDataset()
    ds.add_features([np.random.rand(10, 500), np.random.rand(10, 2500)])  # noqa: NPY002 (as the issue writes it)
    assert (len(ds.features.sources), ds.features.n_samples()) == (2, 10)
    ds = SpectroDataset()
    ds.add_features([np.arange(40.0).reshape(20, 2)])
    ds.features.index_df = ds.features.index_df.with_columns(
        partition=pl.when(pl.col("row") < 15).then(pl.lit("train")).otherwise(pl.lit("test"))
    )
    (x_train,) = ds.x({"partition": "train"})
    assert np.may_share_memory(x_train, ds.features.sources[0].array) and x_train.shape == (15, 2)
    ds.folds.set_folds(KFold(3).split(np.arange(20)))
    folds = list(ds.folds.get_data(ds, layout="2d"))
    assert len(folds) == 3
    for (x_tr, y_tr, x_val, y_val), (tr, va) in zip(folds, KFold(3).split(np.arange(20))):
        np.testing.assert_array_equal(x_tr, np.arange(40.0).reshape(20, 2)[tr])
        np.testing.assert_array_equal(x_val, np.arange(40.0).reshape(20, 2)[va])
        assert y_tr is None and y_val is None  # no targets
    ds.predictions.add_prediction(
        np.array([[0.2], [0.8]]),
        {"model": "pls", "fold": 0, "repeat": 0, "partition": "val", "processing": "regression", "seed": 42},
    )
    row = ds.predictions.table.row(0, named=True)
    assert row["preds"] == [[0.2], [0.8]] and row["seed"] == 42 and row["model"] == "pls"


def test_blocks_have_their_types_and_tables(corn):
    ds, _, y = corn
    assert isinstance(ds.features, FeatureBlock) and isinstance(ds.targets, TargetBlock)
    assert isinstance(ds.metadata, MetadataBlock) and isinstance(ds.folds, FoldsManager)
    assert isinstance(ds.predictions, PredictionBlock)
    assert ds.features.index_df.columns == [
        "row",
        "sample",
        "origin",
        "partition",
        "group",
        "branch",
        "processing",
    ]
    first = ds.features.index_df.row(0, named=True)
    assert first == {
        "row": 0,
        "sample": 0,
        "origin": 0,
        "partition": "train",
        "group": "0",
        "branch": 0,
        "processing": ["raw"],
    }
    table = ds.targets.table
    assert table.columns == ["sample", "targets", "processing"]
    assert table["processing"].unique().to_list() == ["regression"]
    np.testing.assert_array_equal(np.array(table["targets"].to_list())[:, 0], y)
    assert ds.predictions.table.columns[:8] == [
        "sample",
        "model",
        "fold",
        "repeat",
        "partition",
        "processing",
        "seed",
        "preds",
    ]


# ---------------------------------------------------------------------- read-only and zero-copy
def test_every_view_handed_out_is_read_only(corn):
    ds, X, _ = corn
    ds.add_prediction([1.0, 2.0], {"model": "m", "fold": 0, "partition": "val"})
    handed = [
        ds.x()[0],
        ds.x(np.array([3, 1]))[0],  # a fancy selection (a copy) is read-only too
        ds.features.sources[0].array,
        ds.y(),
        ds.get_indexed_targets({"partition": "test"})[0],
        ds.wavelengths(),
        ds.prediction()[0],
    ]
    for arr in handed:
        assert not arr.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            arr[0, 0] = 999.0 if arr.ndim == 2 else arr.__setitem__(0, 999.0)
    assert X[0, 0] != 999.0
    # writes go through update_x, and never into the caller's array (copied on first write)
    before = X.copy()
    ds.update_x(np.full((60, 700), 7.0), {"partition": "train"}, "raw")
    np.testing.assert_array_equal(X, before)
    np.testing.assert_array_equal(ds.x({"partition": "train"})[0], 7.0)
    np.testing.assert_array_equal(ds.x({"partition": "test"})[0], X[60:])


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("2d", lambda X: X[:60]),
        ("2d_interlaced", lambda X: X[:60]),  # one processing: interleaving is the identity
        ("3d", lambda X: X[:60, None, :]),
        ("3d_transpose", lambda X: X[:60, :, None]),
    ],
)
def test_contiguous_selections_are_views_in_every_layout(corn, layout, expected):
    ds, X, _ = corn
    (got,) = ds.x({"partition": "train"}, layout)
    assert np.shares_memory(got, X) and np.shares_memory(got, ds.features.sources[0].array)
    np.testing.assert_array_equal(got, expected(X))


def test_src_concat_and_tuples_for_several_sources():
    a, b = _two_sources()
    ds = SpectroDataset()
    ds.add_features([a, b])
    x_a, x_b = ds.x()
    assert np.shares_memory(x_a, a) and np.shares_memory(x_b, b)
    (both,) = ds.x(src_concat=True)
    np.testing.assert_array_equal(both, np.hstack([a, b]))
    assert not both.flags.writeable
    arrays, index = ds.get_indexed_features({"sample": [7, 2]}, "2d", True)
    np.testing.assert_array_equal(arrays[0], np.hstack([a, b])[[2, 7]])
    assert index["sample"].to_list() == [2, 7]
    ds.update_x(b * 2, None, "double", source=1)
    with pytest.raises(DataError, match=r"sources have different processing counts \[1, 2\]"):
        ds.x(layout="3d", src_concat=True)


# ---------------------------------------------------------------------- filters
def test_polars_expressions_filter_everywhere(corn):
    ds, X, y = corn
    expr = (pl.col("row") % 10 == 0) & (pl.col("partition") == "train")
    rows = [r for r in range(60) if r % 10 == 0]
    np.testing.assert_array_equal(ds.x(expr)[0], X[rows])
    np.testing.assert_array_equal(ds.y(expr)[:, 0], y[rows])
    assert ds.meta(expr)["batch"].to_list() == [r % 4 for r in rows]
    assert ds.x_exists(pl.col("sample") == 79) and not ds.x_exists(pl.col("sample") > 79)
    ds.update_indexes(pl.col("sample") >= 75, {"partition": "holdout"})
    assert ds.features.index_df["partition"].to_list()[70:] == ["test"] * 5 + ["holdout"] * 5
    ds.update_x(np.zeros((5, 700)), pl.col("partition") == "holdout", "raw")
    np.testing.assert_array_equal(ds.x(pl.col("partition") == "holdout")[0], 0.0)
    with pytest.raises(DataError, match=r"could not evaluate the filter expression over the index columns"):
        ds.x(pl.col("colour") == "red")
    with pytest.raises(
        DataError,
        match=r"a filter expression must give one boolean per index row \(80\); got 80 values of type Int64",
    ):
        ds.x(pl.col("row") + 1)


def test_filter_errors(corn):
    ds, _, _ = corn
    with pytest.raises(DataError, match="unsupported filter of type str"):
        ds.x("train")
    with pytest.raises(
        DataError, match=r"an index DataFrame used as a filter needs a 'sample' column; got columns \['row'\]"
    ):
        ds.x(pl.DataFrame({"row": [1]}))
    with pytest.raises(DataError, match=r"the index DataFrame names unknown sample ids \[500\]"):
        ds.x(pl.DataFrame({"sample": [1, 500]}))
    assert ds.x_exists({"partition": "test"}) and not ds.x_exists({"partition": "nowhere"})


# ---------------------------------------------------------------------- features: writes
def test_update_x_takes_one_array_per_source_and_index_rows():
    a, b = _two_sources()
    ds = SpectroDataset()
    ds.add_features([a, b])
    (xa, xb), index = ds.get_indexed_features({"sample": [6, 1]})
    ds.update_x((xa * 0 + 1.0, xb * 0 - 1.0), index[::-1], "raw")  # the frame's order is the data's order
    exp_a, exp_b = a.copy(), b.copy()
    exp_a[[1, 6]], exp_b[[1, 6]] = 1.0, -1.0
    np.testing.assert_array_equal(ds.x()[0], exp_a)
    np.testing.assert_array_equal(ds.x()[1], exp_b)
    ds.update_x((a - 1, b - 1), None, "minus")
    assert ds.features.index_df["processing"][0].to_list() == ["raw", "minus"]  # listed once for both sources
    np.testing.assert_array_equal(ds.x(processings=["minus"])[1], b - 1)
    with pytest.raises(DataError, match=r"update_x expects 2 arrays \(one per source\); got 1"):
        ds.update_x(a, None, "again")
    with pytest.raises(
        DataError, match=r"update_x expects a 2-D array \(rows × features\); got shape \(10,\)"
    ):
        ds.update_x(a[:, 0], None, "raw", source=0)
    with pytest.raises(DataError, match="update_x expects 5 features; got 3"):
        ds.update_x(b, None, "raw", source=0)
    before = ds.x()[0].copy()
    with pytest.raises(DataError, match="update_x expects 3 features; got 5"):
        ds.update_x((a * 0, a), None, "raw")  # the second source is refused: the first is not written
    np.testing.assert_array_equal(ds.x()[0], before)


def test_add_features_appends_rows_and_checks_shapes():
    a, b = _two_sources()
    ds = SpectroDataset()
    first = ds.add_features([a[:6], b[:6]])
    second = ds.add_features([a[6:], b[6:]], partition="test")
    assert first["sample"].to_list() == list(range(6)) and second["sample"].to_list() == [6, 7, 8, 9]
    np.testing.assert_array_equal(ds.x({"partition": "test"})[1], b[6:])
    np.testing.assert_array_equal(ds.x()[0], a)
    with pytest.raises(DataError, match=r"add_features expects one 2-D array .* got shapes \[\(10,\)\]"):
        SpectroDataset().add_features([a[:, 0]])
    with pytest.raises(DataError, match="add_features expects 2 source arrays; got 1"):
        ds.add_features([a])
    with pytest.raises(DataError, match="add_features to source 'source_1' expects 3 features"):
        ds.add_features([a, a])
    with pytest.raises(DataError, match=r"expected 2 distinct source names; got \['x', 'x'\]"):
        SpectroDataset().add_features([a, b], names=["x", "x"])
    with pytest.raises(
        DataError, match=r"add_features: sample ids must be 1 new ids, one per row; got \[3\]"
    ):
        ds.add_features([a[:1], b[:1]], sample=[3])
    assert ds.n_rows == 10 and ds.x()[0].shape == (10, 5)  # a refused add leaves the dataset as it was
    ds.add_targets(np.arange(10.0))
    with pytest.raises(DataError, match="add_features after targets or metadata"):
        ds.add_features([a, b])


def test_augment_samples_x_references_the_parent_until_written(corn):
    ds, X, y = corn
    stored = ds.features.sources[0].array
    added = ds.augment_samples_x([(3, 2), (61, 1)])
    assert added["sample"].to_list() == [80, 81, 82]
    assert added["origin"].to_list() == [3, 3, 61] and added["row"].to_list() == [3, 3, 61]
    assert added["partition"].to_list() == ["train", "train", "test"]
    assert ds.features.sources[0].array.shape == stored.shape  # no spectra copied
    np.testing.assert_array_equal(ds.x(added)[0], X[[3, 3, 61]])
    np.testing.assert_array_equal(ds.y(added)[:, 0], y[[3, 3, 61]])
    assert ds.meta(added)["batch"].to_list() == [3, 3, 1]
    # writing one augmented sample gives it a row of its own; the parent and its sibling keep theirs
    ds.update_x(X[[3]] + 1.0, {"sample": 81}, "raw")
    np.testing.assert_array_equal(ds.x({"sample": 81})[0], X[[3]] + 1.0)
    np.testing.assert_array_equal(ds.x({"sample": [3, 80]})[0], X[[3, 3]])
    assert ds.features.index_df.filter(pl.col("sample") == 81)["row"].item() == 80
    # a new processing covering every row: each sample gets its own values
    ds.update_x(np.arange(83.0)[:, None] * np.ones((1, 700)), None, "rank")
    np.testing.assert_array_equal(ds.x(processings=["rank"])[0][:, 0], np.arange(83.0))
    # augmented samples train with their origin and never validate
    ds.set_folds(KFold(3))
    for fold in ds.fold_generator():
        assert 80 not in fold["val"] and (80 in fold["train"]) == (3 in fold["train"])
    with pytest.raises(DataError, match=r"n_copies must be ≥ 0; got \[\(3, -1\)\]"):
        ds.augment_samples_x([(3, -1)])
    with pytest.raises(DataError, match=r"unknown sample ids \[999\]"):
        ds.augment_samples_x([(999, 1)])


def test_augment_features_x_adds_processing_copies(corn):
    ds, X, _ = corn
    ids = ds.augment_features_x(2)
    assert ids == ["raw_copy1", "raw_copy2"] and ds.processings() == ["raw", "raw_copy1", "raw_copy2"]
    (three,) = ds.x(layout="3d")
    np.testing.assert_array_equal(three, np.repeat(X[:, None, :], 3, axis=1))
    ds.update_x(X * 2, None, "raw_copy2")
    np.testing.assert_array_equal(ds.x(processings=["raw_copy2"])[0], X * 2)
    np.testing.assert_array_equal(ds.x(processings=["raw"])[0], X)
    with pytest.raises(DataError, match="copies_per_sample must be ≥ 1; got 0"):
        ds.augment_features_x(0)
    with pytest.raises(DataError, match=r"already has the processings \['raw_copy1'\]"):
        ds.augment_features_x(1, processing="raw")
    with pytest.raises(DataError, match="has no processing 'snv'"):
        ds.augment_features_x(1, processing="snv")


def test_update_indexes_with_an_updates_dict(corn):
    ds, _, _ = corn
    ds.update_indexes({"partition": "test"}, {"group": "late", "branch": 1})
    idx = ds.features.index_df
    assert idx["group"].to_list()[60:] == ["late"] * 20 and idx["branch"].to_list()[60:] == [1] * 20
    assert idx["group"].to_list()[0] == "0"


def test_index_df_assignment_is_checked(corn):
    ds, _, _ = corn
    idx = ds.features.index_df
    with pytest.raises(DataError, match=r"index_df lacks the columns \['branch'\]"):
        ds.features.index_df = idx.drop("branch")
    with pytest.raises(
        DataError, match=r"index_df has the columns \['weight'\] beyond .* belong in the metadata"
    ):
        ds.features.index_df = idx.with_columns(weight=pl.lit(1.0))
    with pytest.raises(DataError, match="must keep the 80 samples in their order"):
        ds.features.index_df = idx.reverse()
    with pytest.raises(DataError, match=r"column 'row' must lie in \[0, 80\); got 0..80"):
        ds.features.index_df = idx.with_columns(row=pl.col("row") + (pl.col("row") == 79).cast(pl.Int64))
    with pytest.raises(DataError, match="index_df columns must cast to"):
        ds.features.index_df = idx.with_columns(branch=pl.lit("left"))
    ds.features.index_df = idx.with_columns(branch=pl.lit(2))
    assert set(ds.index["branch"].to_list()) == {2}


# ---------------------------------------------------------------------- targets and metadata
def test_targets_versions_and_processed(corn):
    ds, _, y = corn
    raw = ds.y(processed=False)
    assert isinstance(raw, pl.DataFrame) and raw["oil"].to_list() == y.tolist()
    scaled = (y - y.mean()) / y.std()
    ds.update_y(scaled, None, "scaled")
    values, index = ds.get_indexed_targets({"partition": "test"})
    np.testing.assert_array_equal(values[:, 0], scaled[60:])
    assert index["sample"].to_list() == list(range(60, 80))
    np.testing.assert_array_equal(ds.y(processed=True, version="regression")[:, 0], y)
    assert sorted(ds.targets.table["processing"].unique().to_list()) == ["regression", "scaled"]
    with pytest.raises(
        DataError, match=r"no target version 'nope'; versions are \['raw', 'regression', 'scaled'\]"
    ):
        ds.y(version="nope")
    with pytest.raises(DataError, match=r"update_y: processing_id must name a processed version; got ''"):
        ds.update_y(scaled)
    with pytest.raises(DataError, match="the dataset has no targets"):
        SpectroDataset.from_arrays(np.ones((2, 2))).y()


def test_add_data_targets_and_meta():
    a, b = _two_sources()
    ds = SpectroDataset()
    ds.add_data([a, b], pl.DataFrame({"y": np.arange(10.0)}), pl.DataFrame({"batch": list("ab") * 5}))
    assert ds.target_names == ["y"] and ds.metadata.columns == ["batch"]
    ds.add_meta(pl.DataFrame({"day": list(range(10))}))
    assert ds.meta({"sample": [2, 3]}).to_dicts() == [{"batch": "a", "day": 2}, {"batch": "b", "day": 3}]
    assert ds.meta(columns=["day"]).columns == ["day"]
    with pytest.raises(DataError, match="metadata has 3 rows; expected 10"):
        ds.add_meta(pl.DataFrame({"x": [1, 2, 3]}))
    with pytest.raises(DataError, match=r"the metadata already has the columns \['day'\]"):
        ds.add_meta(pl.DataFrame({"day": list(range(10))}))
    with pytest.raises(DataError, match="add_meta expects a polars DataFrame; got dict"):
        ds.add_meta({"day": 1})
    with pytest.raises(DataError, match="task must be regression, binary or multiclass; got 'ranking'"):
        ds.add_targets(np.arange(10.0), task="ranking")
    only_meta = SpectroDataset()
    only_meta.add_data([a], metadata=pl.DataFrame({"batch": list("ab") * 5}))
    assert only_meta.metadata.columns == ["batch"] and not only_meta.targets


# ---------------------------------------------------------------------- folds
def test_set_folds_from_a_splitter_and_from_pairs(corn):
    ds, X, y = corn
    got = ds.set_folds(KFold(4))  # a splitter: over the measured training rows
    expected = list(KFold(4).split(X[:60]))
    for (tr, va), (etr, eva) in zip(got, expected):
        np.testing.assert_array_equal(tr, etr)
        np.testing.assert_array_equal(va, eva)
    ds.folds.set_folds([(np.arange(10, 80), np.arange(10))])  # pairs: over every measured row
    fold = next(ds.fold_generator())
    assert fold["val"] == list(range(10)) and fold["train"] == list(range(10, 80))
    _, y_tr, x_va, _ = next(ds.folds.get_data(ds, "3d"))
    np.testing.assert_array_equal(x_va, X[:10, None, :])
    np.testing.assert_array_equal(y_tr[:, 0], y[10:])
    with pytest.raises(DataError, match=r"fold 0 names positions 0..80; the selection has 80 measured rows"):
        ds.folds.set_folds([(np.arange(81), np.arange(1))])
    with pytest.raises(
        DataError,
        match="expects a scikit-learn splitter or an iterable of \\(train, val\\) position pairs; got int",
    ):
        ds.folds.set_folds(3)
    with pytest.raises(DataError, match="get_data: no folds; call set_folds first"):
        next(SpectroDataset.from_arrays(np.ones((3, 2))).folds.get_data(None))


# ---------------------------------------------------------------------- predictions
def test_predictions_filter_and_inverse_transform(corn):
    ds, _, y = corn
    scaler = StandardScaler().fit(y[:60, None])
    z = scaler.transform(y[:, None])
    ds.update_y(z, None, "scaled")
    ds.add_prediction(
        z[60:65],
        {
            "model": "pls",
            "fold": "refit",
            "partition": "test",
            "processing": "scaled",
            "sample": list(range(60, 65)),
            "rmse": 0.5,
        },
    )
    ds.add_prediction(
        z[:3], {"model": "ridge", "fold": 0, "repeat": 1, "partition": "val", "processing": "scaled"}
    )
    (pls,) = ds.prediction({"model": "pls"})
    np.testing.assert_array_equal(pls, z[60:65])
    assert len(ds.prediction(pl.col("repeat") == 1)) == 1 and len(ds.prediction({"fold": [0, "refit"]})) == 2
    with pytest.raises(DataError, match="has no raw-scale values; call inverse_transform_prediction"):
        ds.prediction({"model": "pls"}, processed=False)
    assert ds.inverse_transform_prediction([scaler]) == 2
    (raw,) = ds.prediction({"model": "pls"}, processed=False)
    mean, std = y[:60].mean(), y[:60].std()
    np.testing.assert_allclose(raw[:, 0], z[60:65, 0] * std + mean, rtol=1e-12)
    np.testing.assert_allclose(raw[:, 0], y[60:65], rtol=1e-12)
    assert ds.predictions.table.filter(pl.col("model") == "pls")["rmse"].item() == 0.5
    with pytest.raises(DataError, match=r"add_prediction: meta lacks \['partition'\]"):
        ds.add_prediction([1.0], {"model": "m", "fold": 0})
    with pytest.raises(DataError, match="add_prediction got 2 predictions for 1 samples"):
        ds.add_prediction([1.0, 2.0], {"model": "m", "fold": 0, "partition": "val", "sample": [1]})
    with pytest.raises(DataError, match=r"cannot filter predictions on \['colour'\]"):
        ds.prediction({"colour": "red"})
    with pytest.raises(
        DataError, match="a prediction filter is a dict of columns or a polars expression; got list"
    ):
        ds.prediction([0])


# ---------------------------------------------------------------------- logging
def test_public_methods_log_rows_and_processings(caplog):
    rng = np.random.default_rng(5)
    a, b = rng.random((10, 500)), rng.random((10, 2500))
    ds = SpectroDataset(name="demo")
    with caplog.at_level(logging.INFO, logger="nirs_core.data"):
        ds.add_features([a, b])
        ds.update_x((a, b), None, "snv")
        ds.log("hello")
    messages = [r.getMessage() for r in caplog.records if r.name == "nirs_core.data"]
    assert "demo: add_features: 10 rows, 2 sources, processing 'raw'" in messages
    assert "demo: update_x: 10 rows, 2 sources, processing 'snv'" in messages
    assert "demo: hello" in messages
    with caplog.at_level(logging.DEBUG, logger="nirs_core.data"):
        ds.x({"sample": [1, 2]})
    assert "demo: x: 2 rows, 2 arrays, layout 2d" in [r.getMessage() for r in caplog.records]
    with pytest.raises(
        DataError, match="log level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL; got 'LOUD'"
    ):
        ds.log("x", level="LOUD")


# ---------------------------------------------------------------------- save and load
@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_save_load_round_trip_with_each_compression(corn, tmp_path, compression):
    ds, X, y = corn
    ds.augment_samples_x([(0, 1)])
    ds.update_y(np.arange(81.0), None, "rank")
    ds.set_folds(KFold(3))
    ds.add_prediction(
        [[1.5], [2.5]], {"model": "pls", "fold": 0, "partition": "val", "seed": 7, "sample": [1, 2]}
    )
    out = ds.save(tmp_path / "corn", compression=compression)
    codec = pq.ParquetFile(out / "index.parquet").metadata.row_group(0).column(0).compression
    assert codec == compression.upper()
    assert pq.ParquetFile(out / "predictions.parquet").metadata.row_group(0).column(0).compression == codec
    np.testing.assert_array_equal(np.load(out / "source_0.npy")[:, 0, :], X)  # npy is plain, uncompressed
    back = SpectroDataset.load(out)
    mapped = back.features.sources[0].data
    assert isinstance(mapped, np.memmap)
    (view,) = back.x({"partition": "train"}, include_augmented=False)
    assert np.shares_memory(view, mapped) and not view.flags.writeable
    np.testing.assert_array_equal(view, X[:60])
    np.testing.assert_array_equal(
        back.x({"sample": 80})[0], X[[0]]
    )  # the augmented row still references row 0
    np.testing.assert_array_equal(back.y(version="rank")[:, 0], np.arange(81.0))
    np.testing.assert_array_equal(back.y(version="regression")[:80, 0], y)
    assert back.index.equals(ds.index) and back.meta().equals(ds.meta())
    assert back.predictions.table.equals(ds.predictions.table)
    assert list(back.fold_generator()) == list(ds.fold_generator())
    assert json.loads((out / "dataset.json").read_text())["compression"] == compression


def test_save_refuses_an_unknown_compression(corn, tmp_path):
    ds, _, _ = corn
    with pytest.raises(
        DataError,
        match=r"save: compression must be one of zstd, lz4, snappy, gzip, brotli, uncompressed; got 'zip'",
    ):
        ds.save(tmp_path / "corn", compression="zip")
    assert not list(tmp_path.iterdir())


def test_a_folder_of_format_1_is_still_read(tmp_path):
    """Written here by hand in the layout format 1 had (target version 'numeric', the old
    prediction columns)."""
    X = np.arange(12.0).reshape(4, 3)
    root = tmp_path / "old"
    root.mkdir()
    np.save(root / "source_0.npy", X[:, None, :])
    pl.DataFrame(
        {
            "row": [0, 1, 2, 3],
            "sample": [0, 1, 2, 3],
            "origin": [0, 1, 2, 3],
            "partition": ["train"] * 4,
            "group": [None] * 4,
            "branch": [0] * 4,
            "processing": [["raw"]] * 4,
        },
        schema={
            "row": pl.Int64,
            "sample": pl.Int64,
            "origin": pl.Int64,
            "partition": pl.String,
            "group": pl.String,
            "branch": pl.Int64,
            "processing": pl.List(pl.String),
        },
    ).write_parquet(root / "index.parquet")
    pl.DataFrame({"y": [1.0, 2.0, 3.0, 4.0]}).write_parquet(root / "targets.parquet")
    np.savez(root / "target_versions.npz", numeric=np.array([[1.0], [2.0], [3.0], [4.0]]))
    pl.DataFrame(
        {
            "model": ["PLS"],
            "fold": ["0"],
            "partition": ["val"],
            "sample": [[1, 2]],
            "y_pred": [[[1.5], [2.5]]],
            "y_true": [[[2.0], [3.0]]],
            "scores": ['{"rmse": 0.5}'],
        }
    ).write_parquet(root / "predictions.parquet")
    (root / "folds.json").write_text(
        json.dumps({"folds": [[[0, 1], [2, 3]]], "info": {"splitter": "explicit"}})
    )
    axis = {"values": [1000.0, 1002.0, 1004.0], "unit": "nm", "unit_source": "given"}
    info = {
        "format_version": 1,
        "name": "old",
        "path": None,
        "files": [],
        "load_info": {},
        "version": 3,
        "identity": {"sha256": "0" * 64, "file_size": 0, "quick_hash": "0" * 16, "hash_of": "arrays"},
        "sources": [{"file": "source_0.npy", "name": "nir", "processings": ["raw"], "axis": axis}],
        "targets": {
            "names": ["y"],
            "task": "regression",
            "task_source": "given",
            "classes": [],
            "versions": ["numeric"],
        },
    }
    (root / "dataset.json").write_text(json.dumps(info))
    ds = SpectroDataset.load(root)
    np.testing.assert_array_equal(ds.x()[0], X)
    np.testing.assert_array_equal(ds.y()[:, 0], [1.0, 2.0, 3.0, 4.0])
    row = ds.predictions.table.row(0, named=True)
    assert (
        row["preds"] == [[1.5], [2.5]]
        and row["y_true"] == [[2.0], [3.0]]
        and row["processing"] == "regression"
    )
    assert next(ds.fold_generator()) == {"train": [0, 1], "val": [2, 3]}
    info["format_version"] = 9
    (root / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(DataError, match=r"format_version 9; this version reads \[1, 2\]"):
        SpectroDataset.load(root)


# ---------------------------------------------------------------------- the remaining errors
def test_construction_and_write_errors():
    a, b = _two_sources()
    with pytest.raises(DataError, match="expected at least one source array; got none"):
        SpectroDataset.from_arrays([])
    with pytest.raises(DataError, match=r"expected 2 distinct source names; got \['nir'\]"):
        SpectroDataset.from_arrays([a, b], source_names=["nir"])
    with pytest.raises(DataError, match=r"partition must have one value per row \(10\); got shape \(3,\)"):
        SpectroDataset.from_arrays(a, partition=["train"] * 3)
    with pytest.raises(DataError, match="metadata has 2 rows; expected 10"):
        SpectroDataset.from_arrays(a, metadata=pl.DataFrame({"m": [1, 2]}))
    with pytest.raises(
        DataError, match="2 sources need a list of wavelengths, one per source; got a single axis"
    ):
        SpectroDataset.from_arrays([a, b], wavelengths=np.arange(5.0))
    with pytest.raises(DataError, match=r"expected 2 units \(one per source\); got 3"):
        SpectroDataset.from_arrays([a, b], units=["nm", "nm", "nm"])
    with pytest.raises(DataError, match=r"y must be 1-D or 2-D; got shape \(10, 1, 1\)"):
        SpectroDataset.from_arrays(a, np.zeros((10, 1, 1)))
    with pytest.raises(DataError, match=r"2 target columns but 1 target names \['y'\]"):
        SpectroDataset.from_arrays(a, np.zeros((10, 2)), target_names=["y"])
    with pytest.raises(DataError, match="regression targets must be numeric"):
        SpectroDataset.from_arrays(a, pl.DataFrame({"y": ["a"] * 10}), task="regression")
    with pytest.raises(DataError, match=r"classification takes one target column; got \['p', 'q'\]"):
        SpectroDataset.from_arrays(a, pl.DataFrame({"p": ["a", "b"] * 5, "q": ["c"] * 10}))
    with pytest.raises(DataError, match="target 'p' has missing labels"):
        SpectroDataset.from_arrays(a, pl.DataFrame({"p": ["a", None] * 5}), task="binary")
    ds = SpectroDataset.from_arrays([a, b], np.arange(10.0))
    with pytest.raises(DataError, match="source 5 does not exist; the dataset has 2"):
        ds.x(source=5)
    with pytest.raises(DataError, match=r"source 'source_0' has no processing \['snv'\]; it has \['raw'\]"):
        ds.x(processings=["snv"])
    with pytest.raises(DataError, match=r"update_x\(replace=True\) must cover every row \(10\); got 3"):
        ds.update_x(a[:3], np.arange(3), "crop", source=0, replace=True)
    with pytest.raises(DataError, match="augment_samples expects 2 source arrays; got 1"):
        ds.augment_samples(a[:1], [0])
    with pytest.raises(DataError, match=r"augment_samples: unknown origin sample ids \[42\]"):
        ds.augment_samples([a[:1], b[:1]], [42])
    with pytest.raises(
        DataError, match=r"augment_samples for source 'source_1' expects shape \(1, 1, 3\); got \(1, 1, 5\)"
    ):
        ds.augment_samples([a[:1], a[:1]], [0])
    ds.augment_samples_x([(0, 1)])
    with pytest.raises(
        DataError, match="on one source of several needs every sample to own its physical row"
    ):
        ds.update_x(np.zeros((11, 2)), None, "crop", source=0, replace=True, wavelengths=[1.0, 2.0])
    with pytest.raises(DataError, match=r"no_such_folder: not a saved SpectroDataset \(no dataset.json\)"):
        SpectroDataset.load("no_such_folder")


def test_augment_samples_with_spectra_and_targets():
    a, b = _two_sources()
    ds = SpectroDataset.from_arrays([a, b], np.arange(10.0))
    new = ds.augment_samples([a[[2, 5]] + 1, b[[2, 5]] + 1], [2, 5], y=np.array([20.0, 50.0]))
    assert new.tolist() == [10, 11]
    np.testing.assert_array_equal(ds.x({"sample": [10, 11]})[1], b[[2, 5]] + 1)
    np.testing.assert_array_equal(ds.y({"sample": [10, 11]})[:, 0], [20.0, 50.0])
    assert ds.index["origin"].to_list()[-2:] == [2, 5]


def test_identity_errors_name_the_files(tmp_path):
    gone = tmp_path / "gone.csv"
    with pytest.raises(DataError, match=r"gone\.csv: file not found while hashing dataset 'lost'"):
        SpectroDataset.from_arrays(np.ones((2, 2)), name="lost", files=[gone]).get_metadata()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    files = [tmp_path / "a" / "x.csv", tmp_path / "b" / "y.csv"]
    for f in files:
        f.write_text("1\n")
    with pytest.raises(
        DataError, match="are in several folders and it has no path; expected one file or one folder"
    ):
        SpectroDataset.from_arrays(np.ones((2, 2)), name="split", files=files).get_metadata()


@pytest.mark.parametrize("layout", ["2d", "3d", "3d_transpose"])
def test_memory_mapped_sources_hand_out_views_in_every_layout(tmp_path, layout):
    a, b = _two_sources(12)
    ds = SpectroDataset(name="two")
    ds.add_features([a, b])
    ds.update_x((a * 2, b * 2), None, "double")
    back = SpectroDataset.load(ds.save(tmp_path / "two"))
    xa, xb = back.x({"sample": list(range(4, 9))}, layout)
    for got, src, raw in ((xa, back.features.sources[0], a), (xb, back.features.sources[1], b)):
        assert isinstance(src.data, np.memmap) and np.shares_memory(got, src.data)
        stacked = np.stack([raw[4:9], raw[4:9] * 2], axis=1)  # (rows, processings, features)
        expected = {
            "2d": stacked.reshape(5, -1),
            "3d": stacked,
            "3d_transpose": stacked.transpose(0, 2, 1),
        }[layout]
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="read-only"):
        xa[0, 0] = 1.0
