"""The predictions parquet: rows round-trip, the footer summary is read without touching any
row, is maintained incrementally (equal to a rebuild), and ranks by each metric's direction."""

from __future__ import annotations

import io
import json
import math
import os

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nirs_core.errors import DataError
from nirs_core.store.predictions import (
    POOLED_FOLD,
    REFIT_FOLD,
    SCHEMA,
    SUMMARY_KEY,
    append_predictions,
    merge_summaries,
    prediction_arrays,
    read_predictions,
    read_summary,
    rebuild_summary,
    summarize,
)


def _row(config="c1", fold=POOLED_FOLD, partition="val", n=6, run="r1", metric="rmse", seed=0, **extra):
    rng = np.random.default_rng(seed)
    y = rng.random(n)
    row = dict(
        run_id=run,
        dataset="corn",
        config_id=config,
        config_name=f"name-{config}",
        model="PLSRegression",
        fold=fold,
        partition=partition,
        sample=np.arange(n),
        y_true=y,
        y_pred=y + 0.01 * rng.standard_normal(n),
        metric=metric,
    )
    row.update(extra)
    return row


def _batch(rng, run, configs):
    rows = []
    for config in configs:
        for fold in (0, 1, 2):
            for part in ("train", "val"):
                rows.append(
                    _row(config, fold, part, run=run, seed=int(rng.integers(1e9)), rmse=float(rng.random()))
                )
        rmse = float(rng.random())
        rows.append(
            _row(config, POOLED_FOLD, "val", run=run, rmse=rmse, r2=1 - rmse, bias=float(rng.normal()))
        )
        test = float(rng.random()) if rng.random() > 0.1 else math.nan  # a diverged model now and then
        rows.append(_row(config, REFIT_FOLD, "test", run=run, rmse=test, sep=float(rng.random())))
    return rows


def _assert_summaries_equal(a, b):
    """Equal, floats in score sums/means to 1e-12 relative (summed in another order)."""
    assert a.keys() == b.keys()
    for key in a:
        if key != "scores":
            assert a[key] == b[key], key
    assert a["scores"].keys() == b["scores"].keys()
    for metric in a["scores"]:
        assert a["scores"][metric].keys() == b["scores"][metric].keys()
        for part, sa in a["scores"][metric].items():
            sb = b["scores"][metric][part]
            for stat in ("count", "n_nonfinite", "min", "max"):
                assert sa[stat] == sb[stat], (metric, part, stat)
            assert sa["sum"] == pytest.approx(sb["sum"], rel=1e-12)
            assert sa["mean"] == pytest.approx(sb["mean"], rel=1e-12)


# ----------------------------------------------------------------------------- round trip


def test_rows_round_trip_with_arrays(tmp_path):
    path = tmp_path / "corn.parquet"
    y2 = np.arange(12, dtype=float).reshape(6, 2)
    proba = np.full((6, 3), 1 / 3)
    append_predictions(
        path,
        [
            _row("c1", 0, "val", rmse=0.5),
            _row("c2", REFIT_FOLD, "test", y_true=y2, y_pred=y2 + 1, score=1.0),
            _row("c3", REFIT_FOLD, "test", metric="accuracy", y_proba=proba, accuracy=0.5),
        ],
    )
    frame = read_predictions(path)
    assert frame.height == 3 and frame.columns == SCHEMA.names
    rows = list(frame.iter_rows(named=True))
    assert rows[0]["score"] == 0.5 and rows[0]["n_samples"] == 6 and rows[0]["n_targets"] == 1
    assert rows[1]["rmse"] == 1.0  # the score fills the metric's column
    arrays = prediction_arrays(rows[1])
    np.testing.assert_array_equal(arrays["y_true"], y2)
    np.testing.assert_array_equal(arrays["y_pred"], y2 + 1)
    np.testing.assert_array_equal(arrays["sample"], np.arange(6))
    arrays = prediction_arrays(rows[2])
    assert arrays["y_proba"].shape == (6, 3) and rows[2]["n_classes"] == 3
    assert "y_proba" not in prediction_arrays(rows[0])
    assert prediction_arrays(rows[0])["y_true"].shape == (6,)


def test_read_filters_and_columns(tmp_path):
    path = tmp_path / "corn.parquet"
    append_predictions(path, _batch(np.random.default_rng(0), "r1", ["a", "b", "c"]))
    append_predictions(path, _batch(np.random.default_rng(1), "r2", ["a"]))
    assert read_predictions(path).height == 32
    assert read_predictions(path, run_id="r2").height == 8
    assert read_predictions(path, config_id=["a", "b"], partition="test").height == 3
    assert read_predictions(path, fold=[REFIT_FOLD, POOLED_FOLD], run_id="r1").height == 6
    frame = read_predictions(path, fold=0, columns=["config_id", "rmse"])
    assert frame.columns == ["config_id", "rmse"] and frame.height == 8


def test_append_accepts_polars_and_arrow(tmp_path):
    path = tmp_path / "corn.parquet"
    frame = pl.DataFrame(
        {
            "run_id": ["r"],
            "dataset": ["corn"],
            "config_id": ["c"],
            "config_name": ["n"],
            "model": ["PLS"],
            "fold": [REFIT_FOLD],
            "partition": ["test"],
            "sample": [[1, 2]],
            "y_true": [[1.0, 2.0]],
            "y_pred": [[1.5, 2.5]],
            "metric": ["rmse"],
            "rmse": [0.5],
        }
    )
    append_predictions(path, frame)
    append_predictions(path, frame.to_arrow())
    out = read_predictions(path)
    assert out["n_samples"].to_list() == [2, 2] and out["score"].to_list() == [0.5, 0.5]
    assert read_summary(path)["top_k"]["rankings"]["rmse"]["test"][0]["score"] == 0.5


# ----------------------------------------------------------------------------- footer only


class _CountingReader(io.RawIOBase):
    """A file object that records every (offset, length) read through it."""

    def __init__(self, path):
        self._f = open(path, "rb")
        self.reads: list[tuple[int, int]] = []

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        return self._f.seek(offset, whence)

    def tell(self):
        return self._f.tell()

    def readinto(self, buffer):
        at = self._f.tell()
        n = self._f.readinto(buffer)
        self.reads.append((at, n))
        return n

    def read(self, size=-1):
        at = self._f.tell()
        data = self._f.read(size)
        self.reads.append((at, len(data)))
        return data

    def close(self):
        self._f.close()
        super().close()


def _big_table(n: int, per_row: int = 8) -> pa.Table:
    rng = np.random.default_rng(0)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * per_row)
    values = rng.random(n * per_row)
    configs = np.array([f"cfg{i:04d}" for i in range(1000)])
    config = configs[np.arange(n) % 1000]
    fold = np.where(np.arange(n) % 10 == 0, POOLED_FOLD, np.arange(n) % 5).astype(np.int32)
    return pa.table(
        {
            "run_id": pa.array(["run"] * n),
            "dataset": pa.array(["big"] * n),
            "config_id": pa.array(config),
            "config_name": pa.array(config),
            "model": pa.array(["PLS"] * n),
            "fold": pa.array(fold),
            "partition": pa.array(np.where(np.arange(n) % 2 == 0, "val", "train")),
            "sample": pa.ListArray.from_arrays(offsets, pa.array(np.arange(n * per_row) % 997)),
            "y_true": pa.ListArray.from_arrays(offsets, pa.array(values)),
            "y_pred": pa.ListArray.from_arrays(offsets, pa.array(values + 0.1)),
            "metric": pa.array(["rmse"] * n),
            "rmse": pa.array(rng.random(n)),
        }
    )


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.parquet"
    append_predictions(path, _big_table(100_000))
    return path


def test_summary_of_100k_rows_reads_only_the_footer(big_file):
    size = os.path.getsize(big_file)
    with open(big_file, "rb") as f:
        f.seek(size - 8)
        footer_len = int.from_bytes(f.read(4), "little")
        assert f.read(4) == b"PAR1"
    reader = _CountingReader(big_file)
    summary = read_summary(reader)
    reader.close()
    assert summary["n_rows"] == 100_000
    assert summary["counts"]["partition"] == {"train": 50_000, "val": 50_000}
    assert len(summary["top_k"]["rankings"]["rmse"]["val"]) == 10
    # Every byte read lies in the file's tail: the footer plus, at most, the one 64 KiB block
    # that pyarrow reads speculatively to get it in one go. No column chunk is read.
    tail_start = size - max(footer_len + 8, 64 * 1024)
    assert size > 20 * (size - tail_start), "the file is too small for the test to mean anything"
    assert reader.reads and all(offset >= tail_start for offset, _ in reader.reads)
    assert sum(n for _, n in reader.reads) <= size - tail_start


def test_summary_by_path_never_reads_a_row_group(big_file, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("read_summary read rows")

    monkeypatch.setattr(pq, "read_table", forbidden)
    monkeypatch.setattr(pq.ParquetFile, "read", forbidden)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", forbidden)
    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", forbidden)
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", forbidden)
    assert read_summary(big_file)["n_rows"] == 100_000
    assert read_summary(str(big_file))["facets"]["datasets"] == ["big"]


def test_summary_is_stored_once_in_the_footer(big_file):
    metadata = pq.read_metadata(big_file).metadata
    assert list(metadata) == [SUMMARY_KEY]  # no ARROW:schema copy of it
    assert json.loads(metadata[SUMMARY_KEY]) == read_summary(big_file)


# ----------------------------------------------------------------------------- incremental


def test_incremental_summary_equals_rebuild(tmp_path):
    path = tmp_path / "corn.parquet"
    rng = np.random.default_rng(42)
    configs = [f"cfg{i:02d}" for i in range(30)]
    for i in range(12):
        picked = list(rng.choice(configs, size=3, replace=False))
        append_predictions(path, _batch(rng, f"run{i % 4}", picked), top_k=5)
    incremental = read_summary(path)
    assert incremental["top_k"]["k"] == 5
    assert incremental["n_rows"] == 12 * 3 * 8
    rows = pq.read_table(path)
    _assert_summaries_equal(incremental, summarize(rows, top_k=5))
    rebuilt = rebuild_summary(path)
    _assert_summaries_equal(incremental, rebuilt)
    assert read_summary(path) == rebuilt  # the rebuild was written to the footer
    assert read_predictions(path).height == 12 * 3 * 8  # and the rows kept


def test_summary_content(tmp_path):
    path = tmp_path / "corn.parquet"
    append_predictions(path, [_row("a", 0, "val", rmse=2.0), _row("a", 1, "val", rmse=4.0)])
    summary = append_predictions(
        path, [_row("b", POOLED_FOLD, "val", rmse=1.0), _row("b", REFIT_FOLD, "test", rmse=math.inf)]
    )
    assert summary["counts"]["fold"] == {"-2": 1, "-1": 1, "0": 1, "1": 1}
    assert summary["facets"]["folds"] == [-2, -1, 0, 1]
    assert summary["facets"]["configs"] == ["a", "b"] and summary["configs"] == {"a": "name-a", "b": "name-b"}
    assert summary["scores"]["rmse"]["val"] == {
        "count": 3,
        "n_nonfinite": 0,
        "min": 1.0,
        "max": 4.0,
        "sum": 7.0,
        "mean": 7 / 3,
    }
    assert summary["scores"]["rmse"]["test"] == {
        "count": 0,
        "n_nonfinite": 1,
        "min": None,
        "max": None,
        "sum": 0.0,
        "mean": None,
    }
    # only aggregate folds are ranked; a non-finite score is not ranked
    assert [e["config_id"] for e in summary["top_k"]["rankings"]["rmse"]["val"]] == ["b"]
    assert "test" not in summary["top_k"]["rankings"]["rmse"]


def test_merge_of_summaries_is_exact_for_ranks():
    rng = np.random.default_rng(3)
    rows_a = _batch(rng, "r1", [f"c{i}" for i in range(8)])
    rows_b = _batch(rng, "r2", [f"c{i}" for i in range(4, 14)])
    from nirs_core.store.predictions import _as_table, _fill_and_check_scores

    ta = _fill_and_check_scores(_as_table(rows_a, "a"), "a")
    tb = _fill_and_check_scores(_as_table(rows_b, "b"), "b")
    merged = merge_summaries(summarize(ta, top_k=3), summarize(tb, top_k=3))
    _assert_summaries_equal(merged, summarize(pa.concat_tables([ta, tb]), top_k=3))


# ----------------------------------------------------------------------------- direction


def test_top_k_respects_metric_direction(tmp_path):
    path = tmp_path / "corn.parquet"
    scores = {"lo": 0.1, "mid": 0.5, "hi": 0.9}
    rows = []
    for config, value in scores.items():
        rows.append(_row(config, REFIT_FOLD, "test", rmse=value, r2=value, bias=value - 0.6))
        rows.append(_row(config, REFIT_FOLD, "test", run="r2", metric="accuracy", accuracy=value))
    summary = append_predictions(path, rows, top_k=2)
    rankings = summary["top_k"]["rankings"]
    order = {m: [e["config_id"] for e in rankings[m]["test"]] for m in rankings}
    assert order["rmse"] == ["lo", "mid"]  # lower is better
    assert order["r2"] == ["hi", "mid"]  # higher is better
    assert order["accuracy"] == ["hi", "mid"]  # higher is better
    # bias: closest to zero whatever the sign: mid (−0.1), then hi (+0.3) before lo (−0.5)
    assert order["bias"] == ["mid", "hi"]
    # a better score arriving later displaces the old best; one entry per config
    summary = append_predictions(path, [_row("mid", REFIT_FOLD, "test", run="r3", rmse=0.01)])
    best = summary["top_k"]["rankings"]["rmse"]["test"]
    assert [(e["config_id"], e["run_id"], e["score"]) for e in best] == [
        ("mid", "r3", 0.01),
        ("lo", "r1", 0.1),
    ]


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (_row(color="red"), r"row 0: unknown column\(s\) \['color'\]"),
        (_row(model=None), r"row 0: missing required column\(s\) \['model'\]"),
        (
            _row(partition="cal"),
            r"row 0: column 'partition' must be one of \['train', 'val', 'test'\]; got 'cal'",
        ),
        (_row(metric="rmsecv"), r"column 'metric' must be one of \[.*\]; got 'rmsecv'"),
        (_row(fold=-3), r"column 'fold' must be a fold index >= 0, -1 \(refit\) or -2 .*; got -3"),
        (_row(n_samples=5), r"column 'sample' has 6 values; expected n_samples = 5"),
        (_row(n_targets=0), r"row 0: column 'n_targets' must be >= 1; got 0"),
        (_row(n_samples=-1), r"row 0: column 'n_samples' must be >= 0; got -1"),
        (_row(y_pred=np.zeros(5)), r"column 'y_pred' has 5 values; expected n_samples × n_targets = 6"),
        (_row(y_proba=np.zeros(6), n_classes=2), r"column 'y_proba' has 6 values; expected .* = 6 × 2"),
        (_row(score=1.0, rmse=2.0), r"column 'score' \(1.0\) must equal column 'rmse' \(2.0\)"),
        (
            _row(y_true=np.zeros((6, 1, 1))),
            r"column 'y_true' must be a 1-D or 2-D array; got shape \(6, 1, 1\)",
        ),
    ],
)
def test_bad_rows_raise(tmp_path, row, match):
    with pytest.raises(DataError, match=match):
        append_predictions(tmp_path / "corn.parquet", [row])
    assert not (tmp_path / "corn.parquet").exists()


def test_values_of_the_wrong_type_raise(tmp_path):
    path = tmp_path / "corn.parquet"
    with pytest.raises(DataError, match=r"corn\.parquet: column 'fold': expected values of type int32"):
        append_predictions(path, [_row(fold="refit")])
    table = pl.DataFrame([{k: v for k, v in _row().items() if k not in ("sample", "y_true", "y_pred")}])
    table = table.with_columns(sample=pl.lit(["a"]), y_true=pl.lit([1.0]), y_pred=pl.lit([1.0]))
    with pytest.raises(DataError, match=r"column 'sample': expected values of type list<item: int64>"):
        append_predictions(path, table)


def test_empty_append(tmp_path):
    path = tmp_path / "corn.parquet"
    assert append_predictions(path, [])["n_rows"] == 0
    append_predictions(path, [_row(rmse=1.0)])
    mtime = path.stat().st_mtime_ns
    assert append_predictions(path, [])["n_rows"] == 1 and path.stat().st_mtime_ns == mtime


def test_bad_tables_raise(tmp_path):
    path = tmp_path / "corn.parquet"
    table = pa.table({"run_id": ["r"], "colour": ["red"]})
    with pytest.raises(DataError, match=r"unknown column\(s\) \['colour'\]"):
        append_predictions(path, table)
    with pytest.raises(DataError, match=r"missing required column\(s\) \['dataset'"):
        append_predictions(path, pa.table({"run_id": ["r"]}))
    good = pl.DataFrame(
        [{k: v for k, v in _row().items() if k not in ("sample", "y_true", "y_pred")}]
    ).with_columns(sample=pl.lit([1]), y_true=pl.lit([1.0]), y_pred=pl.lit([1.0]))
    with pytest.raises(DataError, match=r"row 0: column 'model' is null; expected a value in every row"):
        append_predictions(path, good.with_columns(model=pl.lit(None, pl.String)))


def test_read_errors(tmp_path):
    missing = tmp_path / "none.parquet"
    with pytest.raises(
        FileNotFoundError, match=r"read_summary: expected a predictions parquet file at .*none\.parquet"
    ):
        read_summary(missing)
    with pytest.raises(FileNotFoundError, match=r"read_predictions: expected a predictions parquet file at"):
        read_predictions(missing)
    with pytest.raises(FileNotFoundError, match=r"rebuild_summary: expected a predictions parquet file at"):
        rebuild_summary(missing)
    text = tmp_path / "text.parquet"
    text.write_text("not parquet at all")
    with pytest.raises(DataError, match=r"text\.parquet: expected a parquet file"):
        read_summary(text)
    path = tmp_path / "corn.parquet"
    append_predictions(path, [_row(rmse=1.0)])
    with pytest.raises(DataError, match=r"unknown column\(s\) \['colour'\]"):
        read_predictions(path, columns=["colour"])


def _parquet_with_footer(path, table, value: bytes | None):
    with pq.ParquetWriter(path, table.schema, store_schema=False) as writer:
        writer.write_table(table)
        if value is not None:
            writer.add_key_value_metadata({SUMMARY_KEY: value})


def test_foreign_footers_raise(tmp_path):
    table = pa.table({"x": [1]})
    cases = {
        b"{not json": r"the footer summary is not valid JSON",
        b'{"format": "other/9"}': r"expected a footer summary of format 'nirs.predictions.summary/1'; got 'other/9'",
        b"[1]": r"expected a footer summary of format .*; got 'list'",
    }
    for i, (value, match) in enumerate(cases.items()):
        path = tmp_path / f"f{i}.parquet"
        _parquet_with_footer(path, table, value)
        with pytest.raises(DataError, match=match):
            read_summary(path)
    path = tmp_path / "plain.parquet"
    _parquet_with_footer(path, table, None)
    with pytest.raises(
        DataError, match=r"expected the key 'nirs.predictions.summary' in the parquet footer; found keys \[\]"
    ):
        read_summary(path)


def test_append_to_a_file_of_other_columns_raises(tmp_path):
    path = tmp_path / "corn.parquet"
    summary = json.dumps(
        summarize(pa.table({n: pa.array([], f.type) for n, f in zip(SCHEMA.names, SCHEMA)}))
    ).encode()
    _parquet_with_footer(path, pa.table({"x": [1]}), summary)
    with pytest.raises(
        DataError, match=r"corn\.parquet: expected the predictions columns \['run_id'.*; got \['x'\]"
    ):
        append_predictions(path, [_row(rmse=1.0)])


def test_rebuild_restores_a_lost_summary(tmp_path):
    path = tmp_path / "corn.parquet"
    append_predictions(path, [_row(rmse=1.0), _row("c2", rmse=0.5)], top_k=4)
    expected = read_summary(path)
    table = pq.read_table(path)
    _parquet_with_footer(path, table, None)  # e.g. rewritten by another tool
    rebuilt = rebuild_summary(path)
    assert rebuilt["top_k"]["k"] == 10  # the file's own k was lost with the footer
    assert rebuild_summary(path, top_k=4) == expected
