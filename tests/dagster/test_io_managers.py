"""NirsIOManager: every value type round-trips (records by reference), batch outputs write one
file per partition, identical arrays are stored once, writes are atomic and a format change
leaves no stale copy; the catalogue keeps every registered template version."""

from __future__ import annotations

import json
import os

import dagster as dg
import numpy as np
import polars as pl
import pytest

from nirs_core.data import SpectroDataset
from nirs_core.errors import ConfigError, DataError
from nirs_dagster.io_managers import NirsIOManager, read_value, write_value
from nirs_dagster.partitions import ConfigCatalogue, dataset_partitions, result_partitions
from nirs_dagster.records import (
    BundleRecord,
    DatasheetRecord,
    PredictionsRecord,
    ResultRecord,
    prediction_tables,
)
from nirs_dagster.resources import NirsResource


@pytest.fixture
def manager(tmp_path) -> NirsIOManager:
    return NirsIOManager(nirs=NirsResource(workspace=str(tmp_path / "ws"), data_dir=str(tmp_path)))


def _dataset() -> SpectroDataset:
    rng = np.random.default_rng(0)
    return SpectroDataset.from_arrays(
        rng.normal(size=(12, 5)),
        rng.normal(size=12),
        name="toy",
        wavelengths=np.arange(1000.0, 1005.0),
        units="nm",
    )


@pytest.mark.parametrize(
    "value",
    [
        pl.DataFrame({"config_id": ["a", "b"], "cv_score": [0.1, 0.2], "y": [[1.0], [2.0, 3.0]]}),
        np.arange(12.0).reshape(3, 4),
        {"fitted": [1, 2, 3], "lambda": (lambda x: x + 1)},  # cloudpickle, not pickle
    ],
    ids=["polars", "numpy", "cloudpickle"],
)
def test_values_round_trip(tmp_path, value):
    path = write_value(value, tmp_path / "asset" / "part", blobs=tmp_path / "_blobs")
    back = read_value(tmp_path / "asset" / "part")
    if isinstance(value, pl.DataFrame):
        assert path.suffix == ".parquet" and back.equals(value)
    elif isinstance(value, np.ndarray):
        assert path.suffix == ".npy" and np.array_equal(back, value) and back.dtype == value.dtype
    else:
        assert path.suffix == ".pkl" and back["fitted"] == [1, 2, 3] and back["lambda"](1) == 2
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]


def test_spectro_dataset_round_trips_as_a_folder(tmp_path):
    ds = _dataset()
    path = write_value(ds, tmp_path / "spectra" / "toy", blobs=tmp_path / "_blobs")
    back = read_value(tmp_path / "spectra" / "toy")
    assert path.is_dir() and (path / "dataset.json").is_file()
    np.testing.assert_array_equal(back.x(src_concat=True)[0], ds.x(src_concat=True)[0])
    np.testing.assert_array_equal(back.wavelengths(), ds.wavelengths())
    assert back.content_hash() == ds.content_hash()


def test_identical_arrays_are_stored_once_and_format_changes_replace(tmp_path):
    blobs = tmp_path / "_blobs"
    a = write_value(np.ones((4, 3)), tmp_path / "x" / "one", blobs=blobs)
    b = write_value(np.ones((4, 3)), tmp_path / "x" / "two", blobs=blobs)
    assert os.stat(a).st_ino == os.stat(b).st_ino and len(list(blobs.iterdir())) == 1
    write_value(pl.DataFrame({"v": [1]}), tmp_path / "x" / "one", blobs=blobs)
    assert not a.exists() and isinstance(read_value(tmp_path / "x" / "one"), pl.DataFrame)
    with pytest.raises(FileNotFoundError, match="nothing stored"):
        read_value(tmp_path / "x" / "three")


def test_batch_output_writes_one_file_per_partition_and_loads_back(manager, tmp_path):
    keys = [dg.MultiPartitionKey({"dataset": "corn", "config": c}) for c in ("aaaaaaaa", "bbbbbbbb")]
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("dataset", ["corn"])
    instance.add_dynamic_partitions("config", ["aaaaaaaa", "bbbbbbbb"])
    out = dg.build_output_context(
        asset_key=dg.AssetKey("predictions"),
        partition_key=None,
        asset_partitions_def=result_partitions,
        asset_partition_key_range=dg.PartitionKeyRange(str(keys[0]), str(keys[1])),
        instance=instance,
    )
    tables = {str(k): pl.DataFrame({"config": [k.keys_by_dimension["config"]]}) for k in keys}
    manager.handle_output(out, tables)
    root = tmp_path / "ws" / "dagster" / "predictions" / "corn"
    assert sorted(p.name for p in root.iterdir()) == ["aaaaaaaa.parquet", "bbbbbbbb.parquet"]

    inp = dg.build_input_context(
        asset_key=dg.AssetKey("predictions"),
        asset_partitions_def=result_partitions,
        asset_partition_key_range=dg.PartitionKeyRange(str(keys[0]), str(keys[1])),
        instance=instance,
    )
    loaded = manager.load_input(inp)
    assert set(loaded) == set(tables) and all(loaded[k].equals(tables[k]) for k in tables)

    with pytest.raises(ValueError, match="one value per partition"):
        manager.handle_output(out, {str(keys[0]): tables[str(keys[0])]})


def test_single_partition_and_missing_partitions(manager, tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("dataset", ["corn", "wheat"])
    out = dg.build_output_context(
        asset_key=dg.AssetKey("leaderboard"),
        partition_key="corn",
        asset_partitions_def=dataset_partitions,
        instance=instance,
    )
    manager.handle_output(out, pl.DataFrame({"cv_score": [0.5]}))
    assert (tmp_path / "ws" / "dagster" / "leaderboard" / "corn.parquet").is_file()
    both = dg.PartitionKeyRange("corn", "wheat")
    strict = dg.build_input_context(
        asset_key=dg.AssetKey("leaderboard"),
        asset_partitions_def=dataset_partitions,
        asset_partition_key_range=both,
        instance=instance,
    )
    with pytest.raises(FileNotFoundError, match="wheat"):
        manager.load_input(strict)
    lenient = dg.build_input_context(
        asset_key=dg.AssetKey("leaderboard"),
        asset_partitions_def=dataset_partitions,
        asset_partition_key_range=both,
        instance=instance,
        definition_metadata={"allow_missing_partitions": True},
    )
    assert list(manager.load_input(lenient)) == ["corn"]


def test_a_value_marked_unusable_is_not_read_until_rewritten(manager, tmp_path):
    """What a failed blocking check marks is refused (left out where partitions may be missing);
    a new value clears the mark."""
    from nirs_dagster.io_managers import mark_unusable, unusable_reason

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("dataset", ["corn", "wheat"])
    key = dg.AssetKey("model_bundle")

    def out(partition):
        return dg.build_output_context(
            asset_key=key, partition_key=partition, asset_partitions_def=dataset_partitions, instance=instance
        )

    def one(partition):
        return dg.build_input_context(
            asset_key=key, partition_key=partition, asset_partitions_def=dataset_partitions, instance=instance
        )

    for partition in ("corn", "wheat"):
        manager.handle_output(out(partition), pl.DataFrame({"p": [partition]}))
    mark_unusable(manager.nirs, key, "wheat", "model_bundle_replays", "replay differs (max |Δ| = 0.1)")
    assert unusable_reason(manager.nirs, key, "corn") is None
    with pytest.raises(dg.Failure) as refused:
        manager.load_input(one("wheat"))
    assert refused.value.description == (
        "model_bundle [wheat]: not read, its blocking check model_bundle_replays failed: replay differs "
        "(max |Δ| = 0.1). Fix the cause and materialise it again."
    )
    lenient = dg.build_input_context(
        asset_key=key,
        asset_partitions_def=dataset_partitions,
        asset_partition_key_range=dg.PartitionKeyRange("corn", "wheat"),
        instance=instance,
        definition_metadata={"allow_missing_partitions": True},
    )
    assert list(manager.load_input(lenient)) == ["corn"]
    manager.handle_output(out("wheat"), pl.DataFrame({"p": ["new"]}))
    assert manager.load_input(one("wheat"))["p"].to_list() == ["new"]


def test_records_are_stored_by_reference_and_bound_to_the_workspace_they_are_read_from(tmp_path):
    result = ResultRecord(tmp_path / "ws", "20261203-101010-abcdef", "corn", "0123abcd")
    values = [
        result,
        PredictionsRecord(result, 18),
        DatasheetRecord(tmp_path / "ws", "datasheets/corn", result, ("mean_spectrum.png",)),
        BundleRecord(tmp_path / "ws", "bundles/corn.n4b.zip", result),
    ]
    for i, value in enumerate(values):
        path = write_value(value, tmp_path / "asset" / str(i), blobs=tmp_path / "_blobs")
        assert path.name == f"{i}.ref.json"
        assert str(tmp_path) not in path.read_text()  # ids and paths relative to the workspace
        assert read_value(tmp_path / "asset" / str(i), root=tmp_path / "ws") == value
        moved = read_value(tmp_path / "asset" / str(i), root=tmp_path / "elsewhere")
        assert moved != value and type(moved) is type(value)
    with pytest.raises(DataError, match=r"0\.ref\.json: a record names files of an engine workspace"):
        read_value(tmp_path / "asset" / "0")


def test_malformed_records_are_refused(tmp_path):
    (tmp_path / "bad.ref.json").write_text(json.dumps({"kind": "result", "run_id": "r"}))
    with pytest.raises(DataError, match=r"bad\.ref\.json: malformed result record \(KeyError: 'dataset'\)"):
        read_value(tmp_path / "bad", root=tmp_path)
    (tmp_path / "odd.ref.json").write_text(json.dumps({"kind": "teapot"}))
    with pytest.raises(DataError, match=r"odd\.ref\.json: unknown record kind 'teapot'"):
        read_value(tmp_path / "odd", root=tmp_path)


def test_records_check_the_rows_they_name(tmp_path):
    from nirs_core.store.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    row = {"run_id": "r1", "dataset": "corn", "config_id": "c1", "config_name": "c1", "model": "PLS",
           "fold": -2, "partition": "val", "metric": "rmse", "sample": [0, 1], "y_true": [1.0, 2.0],
           "y_pred": [1.5, 2.5], "rmse": 0.5}  # fmt: skip
    ws.append_predictions("corn", [row])
    result = ResultRecord(ws.root, "r1", "corn", "c1")
    assert PredictionsRecord(result, 1).table().height == 1
    with pytest.raises(DataError, match=r"corn\.parquet: 1 rows of run r1 config c1; expected 3"):
        PredictionsRecord(result, 3).table()
    assert prediction_tables({"k": PredictionsRecord(result, 1)})["k"].equals(
        PredictionsRecord(result, 1).table()
    )
    with pytest.raises(DataError, match=r"corn\.parquet: 1 rows of run r1 config c1; expected 2"):
        prediction_tables({"k": PredictionsRecord(result, 2)})
    with pytest.raises(DataError, match=r"corn/c1 of run r1: expected one refit row on train .*; got 0"):
        BundleRecord(ws.root, "bundles/corn.n4b.zip", result).train_rows  # noqa: B018


def test_the_catalogue_knows_the_versions_it_registered(tmp_path):
    template = tmp_path / "t.yaml"
    template.write_text("name: t\npipeline:\n  - SNV\n  - model: {class: PLS, params: {n_components: 2}}\n")
    catalogue = ConfigCatalogue(tmp_path / "dagster")
    first = catalogue.register(template)
    template.write_text(template.read_text().replace("n_components: 2", "n_components: 3"))
    second = catalogue.register(template)
    assert catalogue.registered(first.sha256) == first.config_ids != second.config_ids
    assert "n_components: 2" in catalogue.template_of(first.config_ids[0]).text
    assert catalogue.template_of(first.config_ids[0]).path == template
    with pytest.raises(ConfigError, match=r"config catalogue: no template version 000000000000… registered"):
        catalogue.registered("0" * 64)
