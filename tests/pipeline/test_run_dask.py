"""The engine's sweeps on a Dask cluster (``nirs_core.run(executor=...)``, ``nirs run --dask``):
a real scheduler and two worker processes on 127.0.0.1 give exactly the in-process scores and
prediction rows of a 2-dataset sweep, also when a worker is killed in the middle; the driver
alone writes the workspace, which stays as clean as after an in-process run."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time

import numpy as np
import pytest
from conftest import shared_path
from dask_cluster import dask_cluster

from nirs_core.app.executors import DaskExecutor, InProcessExecutor, available_cores, resolve_executor
from nirs_core.app.run import partial_files, resume, run
from nirs_core.cli import main
from nirs_core.errors import ConfigError

TEMPLATE = {
    "name": "dask_sweep",
    "pipeline": [
        {"split": {"class": "sklearn.model_selection.KFold", "params": {"n_splits": 3, "shuffle": True, "random_state": 0}}},
        # Detrend's thin matrix products round differently with another BLAS thread count
        {"_or_": ["SNV", "MSC", "Detrend", {"class": "SavitzkyGolay", "params": {"window_length": 11, "polyorder": 2, "deriv": 1}}]},
        {"model": {"class": "PLS", "params": {"scale": False}}, "param": "n_components", "_range_": [1, 8, 1]},
    ],
}  # fmt: skip
N_CONFIGS = 4 * 8


@pytest.fixture(scope="module")
def datasets():
    return [
        {"path": str(shared_path("corn")), "name": "corn"},
        {"path": str(shared_path("fermentation")), "name": "fermentation"},
    ]


@pytest.fixture(scope="module")
def reference(datasets, tmp_path_factory):
    """The same sweep in process."""
    return run(TEMPLATE, datasets, workspace=tmp_path_factory.mktemp("inprocess"), progress=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_cluster(tmp_path_factory.mktemp("dask"), n_workers=2) as c:
        yield c


def _by_key(run_):
    return {(r["dataset"], r["config_id"]): r for r in run_.results}


def _rows(run_, dataset):
    table = run_.predictions(dataset).sort(["config_id", "fold", "partition", "model"])
    return table.drop([c for c in ("run_id",) if c in table.columns])


def assert_same_results(got, expected):
    """Every score of every result, and every prediction row, exactly equal."""
    a, b = _by_key(got), _by_key(expected)
    assert set(a) == set(b) and len(a) == 2 * N_CONFIGS
    for key, want in b.items():
        have = a[key]
        assert have["cv_score"] == want["cv_score"], key
        assert have["test_score"] == want["test_score"], key
        assert have["scores"] == want["scores"], key
    for dataset in ("corn", "fermentation"):
        mine, theirs = _rows(got, dataset), _rows(expected, dataset)
        assert mine.height == theirs.height > 0
        for column in ("config_id", "fold", "partition", "y_true", "y_pred"):
            assert mine[column].to_list() == theirs[column].to_list(), (dataset, column)


def test_a_two_dataset_sweep_on_two_workers_gives_the_in_process_scores(
    cluster, datasets, reference, tmp_path
):
    from distributed import get_task_stream

    with cluster.client() as client, get_task_stream(client) as stream:
        assert len(client.scheduler_info()["workers"]) == 2
        got = run(TEMPLATE, datasets, workspace=tmp_path / "ws", executor=cluster.address, progress=False)
        assert got.status == "completed"
    # one task per group (4 sweeps × 2 datasets), spread over both workers
    groups = [t for t in stream.data if str(t["key"]).startswith("nirs-group-")]
    assert len(groups) == 8
    assert len({t["worker"] for t in groups}) == 2
    assert_same_results(got, reference)
    # an independent check of the numbers: RMSECV recomputed from the pooled out-of-fold rows
    rows = got.predictions("corn").filter(got.predictions("corn")["fold"] == -2)
    for row in rows.iter_rows(named=True):
        rmse = float(np.sqrt(np.mean((np.asarray(row["y_true"]) - np.asarray(row["y_pred"])) ** 2)))
        assert rmse == pytest.approx(_by_key(got)["corn", row["config_id"]]["cv_score"], rel=1e-12)
    assert partial_files(tmp_path / "ws") == []


def test_nirs_run_dask_address_on_the_command_line(cluster, datasets, reference, tmp_path, capsys):
    template = tmp_path / "sweep.json"
    template.write_text(json.dumps(TEMPLATE))
    args = [
        "run",
        str(template),
        "--workspace",
        str(tmp_path / "ws"),
        "--dask",
        cluster.address,
        "--json",
        "--no-progress",
    ]
    for spec in datasets:
        args += ["--data", spec["path"]]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "completed" and len(printed["results"]) == 2 * N_CONFIGS
    want = {(r["dataset"], r["config_id"]): r["cv_score"] for r in reference.results}
    assert {(r["dataset"], r["config_id"]): r["cv_score"] for r in printed["results"]} == want


def _victim_busy(client, victim: str, deadline: float) -> int:
    """Wait until the scheduler has work on ``victim``; the number of its tasks in flight."""
    while time.monotonic() < deadline:
        busy = client.processing(workers=[victim]).get(victim, ())
        if busy:
            return len(busy)
        time.sleep(0.005)
    return 0


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_a_worker_killed_mid_sweep_has_its_groups_rerun_and_the_scores_are_the_same(
    datasets, reference, tmp_path
):
    with dask_cluster(tmp_path / "dask", n_workers=2) as cluster, cluster.client() as client:
        workers = sorted(client.scheduler_info()["workers"])
        victim = workers[0]
        pid = client.run(os.getpid, workers=[victim])[victim]
        out: dict = {}

        def sweep():
            try:
                out["run"] = run(
                    TEMPLATE, datasets, workspace=tmp_path / "ws", executor=client, progress=False
                )
            except BaseException as exc:  # reported by the assertion below
                out["error"] = exc

        thread = threading.Thread(target=sweep)
        thread.start()
        in_flight = _victim_busy(client, victim, time.monotonic() + 60)
        os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
        thread.join(timeout=300)
        assert not thread.is_alive()
        assert in_flight >= 1, "the victim never had a group to work on"
        assert "error" not in out, out.get("error")
        # the nanny started a new worker process in place of the killed one
        client.wait_for_workers(2, timeout=60)
        assert victim not in client.scheduler_info()["workers"]
    assert_same_results(out["run"], reference)
    assert partial_files(tmp_path / "ws") == []


def test_a_run_paused_in_process_resumes_on_the_cluster_with_the_same_scores(
    cluster, datasets, reference, tmp_path, monkeypatch
):
    """Checkpoints do not depend on where a group was computed: a run stopped after its
    first dataset (Ctrl-C) resumes on Dask and ends with the in-process scores."""
    import nirs_core.app.executors as executors

    calls = {"n": 0}
    real = executors.InProcessExecutor.run_groups

    def interrupted(self, dataset, groups, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        yield from real(self, dataset, groups, **kw)

    monkeypatch.setattr(executors.InProcessExecutor, "run_groups", interrupted)
    with pytest.raises(KeyboardInterrupt, match="paused"):
        run(TEMPLATE, datasets, workspace=tmp_path / "ws", progress=False)
    monkeypatch.undo()
    run_id = next((tmp_path / "ws" / "runs").iterdir()).name
    got = resume(run_id, tmp_path / "ws", executor=cluster.address, progress=False)
    assert got.status == "completed"
    assert_same_results(got, reference)


def test_dask_local_starts_a_cluster_sized_to_the_machine(datasets, reference, tmp_path):
    executor = DaskExecutor("local")
    with executor:
        assert len(executor.client.scheduler_info()["workers"]) == available_cores()
        workers = executor.client.scheduler_info()["workers"].values()
        assert all(w["nthreads"] == 1 for w in workers)
        # spawned without Dask's MALLOC_TRIM_THRESHOLD_ (twice the CPU per group: executors._open),
        # BLAS still on one thread
        environ = executor.client.run(
            lambda: {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OPENBLAS_NUM_THREADS")}
        )
        assert all(e["OPENBLAS_NUM_THREADS"] == "1" for e in environ.values())
        if "MALLOC_TRIM_THRESHOLD_" not in os.environ:  # the caller's own environment wins
            assert all(e["MALLOC_TRIM_THRESHOLD_"] is None for e in environ.values())
        got = run(TEMPLATE, datasets[:1], workspace=tmp_path / "ws", executor=executor, progress=False)
        assert executor.client is not None  # a run does not close an executor its caller entered
    want = {k: v for k, v in _by_key(reference).items() if k[0] == "corn"}
    assert {k: r["cv_score"] for k, r in _by_key(got).items()} == {k: r["cv_score"] for k, r in want.items()}
    # the rows the workers turned into Arrow tables are the rows this process makes
    drop = ["created_at"]
    order = ["config_id", "model", "fold", "partition"]
    assert _rows(got, "corn").drop(drop).sort(order).equals(_rows(reference, "corn").drop(drop).sort(order))


# ----------------------------------------------------------------------------- errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_fails_before_anything_is_written(datasets, tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ConfigError, match=r"could not connect to the Dask scheduler at tcp://127\.0\.0\.1"):
        run(
            TEMPLATE,
            datasets,
            workspace=tmp_path / "ws",
            executor=DaskExecutor(address, timeout=1),
            progress=False,
        )
    assert not (tmp_path / "ws" / "runs").exists() or not any((tmp_path / "ws" / "runs").iterdir())


def test_bad_executors_are_refused_with_what_was_expected():
    with pytest.raises(
        ConfigError, match=r"address must be 'local' or a scheduler address .*got 'localhost'"
    ):
        DaskExecutor("localhost")
    with pytest.raises(
        ConfigError, match=r"address must be 'local', a scheduler address or a distributed.Client; got int"
    ):
        DaskExecutor(8786)
    with pytest.raises(ConfigError, match=r"n_workers must be an integer >= 1; got 0"):
        DaskExecutor("local", n_workers=0)
    with pytest.raises(ConfigError, match=r"executor must be None .*got float"):
        resolve_executor(1.5)
    with pytest.raises(ConfigError, match=r"not connected; use it as a context manager"):
        DaskExecutor("tcp://127.0.0.1:1").client  # noqa: B018
    assert isinstance(resolve_executor(None), InProcessExecutor)
    assert isinstance(resolve_executor("tcp://127.0.0.1:8786"), DaskExecutor)


def test_without_distributed_the_error_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    with pytest.raises(ConfigError, match=r"install the 'dask' extra"), DaskExecutor("local"):
        pass


def test_large_enough_for_blas_threads_the_scores_are_still_identical(cluster, corn_arrays, tmp_path):
    """On 1 220 spectra OpenBLAS splits its products over threads, and another thread count
    changes the last bits: in process and on the workers the sweeps use one BLAS thread, so the
    scores stay equal exactly."""
    from nirs_core.data import SpectroDataset

    rng = np.random.default_rng(0)
    X = np.tile(corn_arrays["Xcal"], (20, 1))
    X = np.vstack([X + rng.normal(0.0, 1e-3 * X.std(), X.shape), corn_arrays["Xval"]])
    y = np.concatenate([np.tile(corn_arrays["ycal"], 20), corn_arrays["yval"]])
    part = ["train"] * (len(y) - len(corn_arrays["yval"])) + ["test"] * len(corn_arrays["yval"])
    big = SpectroDataset.from_arrays(
        X, y, name="corn1220", partition=part, wavelengths=corn_arrays["wavelengths"], target_names=["oil"]
    )
    template = {
        **TEMPLATE,
        "pipeline": [TEMPLATE["pipeline"][0], {"_or_": ["SNV", "Detrend"]}, TEMPLATE["pipeline"][2]],
    }
    here = run(template, big, workspace=tmp_path / "here", progress=False)
    there = run(template, big, workspace=tmp_path / "there", executor=cluster.address, progress=False)
    assert len(here.results) == 16
    assert {r["config_id"]: (r["cv_score"], r["test_score"]) for r in there.results} == {
        r["config_id"]: (r["cv_score"], r["test_score"]) for r in here.results
    }
