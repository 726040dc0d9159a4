"""A killed run is retried by Dagster itself (issue 16, "a killed worker or run is retried"):
the real ``dagster-daemon`` (sensors, the queued run coordinator, run monitoring and the
automatic re-execution loop) runs the project's definitions on a temporary ``DAGSTER_HOME``
configured by exactly ``dagster_home/dagster.yaml``; the test SIGKILLs corn's results run worker
while the engine run of its ``fitted_pipeline`` step computes, and waits until Dagster has marked the run failed,
launched a retry (``dagster/parent_run_id``, ``dagster/retry_number``) and the retry succeeded.
The retried predictions and the leaderboard then equal ``nirs_core.run`` on the same inputs, and
the workspace holds no torn or doubly committed file.

A run of ``fitted_pipeline`` is an engine run in the workspace (tagged ``dagster_run_id``). The
retry is a new engine run, not a resume of the killed one: that one stays in the workspace as
it was left, marked failed by the retry (the temporary file of a write it was making, if any, is left
under the dead process's pid, as the engine's atomic writes promise), and every record the
assets hold names the retry's engine run.

Who does what in Dagster 1.13 with the default run launcher: the run worker is a process of the
code server that the daemon starts; the code server checks its run processes twice a second and
reports a dead one's run failed ("terminated by signal 9"). The monitoring daemon would ask the
launcher for the worker's health, but the default launcher does not report it
(``supports_check_run_worker_health`` is False; Docker and Kubernetes launchers do), so here
run monitoring only times out runs stuck in STARTING or CANCELING. The run-retries daemon
(``EVENT_LOG_CONSUMER``) re-executes the failed run from its failure (``fitted_pipeline`` and
``predictions``: nothing of the run had succeeded).

Everything runs as one process group, killed in a ``finally``; nothing listens on the network
(no web server; on Linux the daemon talks to its code server over a Unix socket). Every wait has
a timeout that says what did not happen and shows the end of the daemon's log.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
import dagster as dg
import numpy as np
import polars as pl
import pytest
import yaml

import nirs_core
from nirs_core.store._atomic import is_partial_name
from nirs_core.store.workspace import Workspace
from nirs_dagster.io_managers import read_value

from .conftest import make_inbox

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RESULTS_STEP = "fitted_pipeline"
# Long enough to be killed in (12 configs x 100 folds: the retry's fitted_pipeline took 1.4-1.7 s
# on 2 loaded cores, the kill lands 0.01-0.15 s after the step's start) and short enough to run
# twice (the killed try and the retry).
SWEEP = """\
name: retry_sweep
pipeline:
  - split:
      class: sklearn.model_selection.RepeatedKFold
      params: {n_splits: 5, n_repeats: 20, random_state: 0}
  - _or_: [SNV, MSC]
  - model:
      class: PLS
      params: {scale: false}
    param: n_components
    _range_: [2, 12, 2]
"""
N_CONFIGS = 12
# Seconds per phase (measured about 25-35, 1, 10 and 30 on 2 loaded cores); their sum stays well under
# pytest's 600 s timeout, so a stuck phase fails here, with the daemon's log, and the finally
# that ends the daemon's process group always runs.
START_TIMEOUT = 150  # daemon start-up, the sensors, the spectra run, the results run's first steps
FAIL_TIMEOUT = 30  # the code server sees its run process die within a second
RETRY_TIMEOUT = 150  # the retry queued, launched and finished
SETTLE_TIMEOUT = 150  # the leaderboard, datasheet and bundle runs the automation sensor requests
POLL = 0.1  # seconds between two looks at the instance while waiting for the step to start


class Daemon:
    """``dagster-daemon run`` in its own process group, with its log."""

    def __init__(self, cwd: Path, env: dict[str, str]):
        self.log_path = cwd / "dagster_daemon.log"
        self._log = open(self.log_path, "w")  # closed in stop()
        self.process = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its pid is the group id of the code server and run workers
        )

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_for(self, what: str, deadline: float, probe: Callable[[], Any], every: float = 0.5) -> Any:
        """The first truthy value of ``probe()``; fail at ``deadline`` (``time.monotonic()``), or
        when the daemon exits."""
        while True:
            value = probe()
            if value:
                return value
            if self.process.poll() is not None:
                pytest.fail(
                    f"dagster-daemon exited ({self.process.returncode}) before {what}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"not in time: {what}\n--- dagster-daemon log ---\n{self.tail()}")
            time.sleep(every)

    def stop(self) -> None:
        """End the whole group: daemon, code server, run workers."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):  # whatever of the group is left
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()


def _events(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> list:
    return [e for e in instance.all_logs(run_id, of_type=kind) if e.dagster_event is not None]


def _run(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    run = instance.get_run_by_id(run_id)
    assert run is not None, run_id
    return run


def _results_run(instance: dg.DagsterInstance) -> str | None:
    """The first results run of corn that the results sensor requested (not a retry)."""
    records = instance.get_run_records(dg.RunsFilter(tags={"nirs/dataset": "corn"}), ascending=True)
    first = [r for r in records if "dagster/parent_run_id" not in r.dagster_run.tags]
    return first[0].dagster_run.run_id if first else None


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid once ``fitted_pipeline`` has started in it, else None.

    The code server reports "Started process for run (pid: N)" with the pid as metadata; with
    the in-process executor the step runs in that very process (its STEP_START carries the pid)."""
    starts = [
        e for e in _events(instance, run_id, dg.DagsterEventType.STEP_START) if e.step_key == RESULTS_STEP
    ]
    if not starts:
        return None
    engine = [
        e
        for e in _events(instance, run_id, dg.DagsterEventType.ENGINE_EVENT)
        if e.dagster_event.message.startswith("Started process for run")
    ]
    assert len(engine) == 1, [e.message for e in engine]
    pid = int(engine[0].dagster_event.engine_event_data.metadata["pid"].value)
    assert starts[0].dagster_event.pid == pid, "fitted_pipeline is not computing in the run worker's process"
    return pid


def _engine_run_of(root: Path, dagster_run_id: str, status: str) -> bool:
    """Whether the workspace holds the engine run of that Dagster run, in ``status``: once it is
    ``running``, the step is past its set-up and the engine is computing or committing results
    (``run.yaml`` is written atomically, so it is read whole)."""
    return any(
        r.tags.get("dagster_run_id") == dagster_run_id and r.status.value == status
        for r in Workspace(root).runs()
    )


def _kill(pid: int, group: int) -> None:
    """SIGKILL ``pid``, after checking that it belongs to the daemon's process group (a pid is
    never taken on trust: a reused one could name another process)."""
    assert os.getpgid(pid) == group, f"pid {pid} is not in the dagster-daemon's process group {group}"
    os.kill(pid, signal.SIGKILL)


def _in_progress(instance: dg.DagsterInstance) -> list[str]:
    statuses = [
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    ]
    return [r.dagster_run.run_id for r in instance.get_run_records(dg.RunsFilter(statuses=statuses))]


def _leaderboard_after(instance: dg.DagsterInstance, when: float) -> bool:
    """Whether corn's leaderboard was materialised after the time ``when``."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("leaderboard"), asset_partitions=["corn"]), limit=1
    ).records
    return bool(records) and records[0].timestamp > when


def _check_zip(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()  # reads every member and checks its CRC
    if bad is not None:
        raise ValueError(f"member {bad} is corrupt")


def _check_stored_files(root: Path, dead_pid: int) -> int:
    """Every file under ``root`` is complete: every file of a known format parses, and the only
    temporary files of interrupted atomic writes (``.<name>.tmp-<pid>-<hex>``) are the killed
    process's; the number of files checked."""
    loaders = {
        ".pkl": lambda p: cloudpickle.loads(p.read_bytes()),
        ".parquet": pl.read_parquet,
        ".npy": lambda p: np.load(p, allow_pickle=False),
        ".npz": lambda p: dict(np.load(p, allow_pickle=False)),
        ".json": lambda p: json.loads(p.read_text()),
        ".yaml": lambda p: yaml.safe_load(p.read_text()),
        ".zip": _check_zip,
    }
    partial = [p for p in root.rglob("*") if is_partial_name(p.name)]
    others = [p for p in partial if int(p.name.rsplit(".tmp-", 1)[1].split("-")[0]) != dead_pid]
    assert others == [], f"temporary files of writes that did not end, by live processes: {others}"
    checked = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        load = loaders.get(path.suffix)
        if load is None:
            continue
        try:
            load(path)
        except Exception as exc:  # the report names the file; the test fails either way
            pytest.fail(f"{path}: not a complete {path.suffix} file ({type(exc).__name__}: {exc})")
        checked += 1
    return checked


def _rows(table: pl.DataFrame, *, by_config: bool = False) -> dict[tuple, dict]:
    """Prediction rows by (model, fold, partition), with the config id first if ``by_config``;
    fails if one is there twice."""
    head = ("config_id",) if by_config else ()
    keys = [tuple(r[c] for c in (*head, "model", "fold", "partition")) for r in table.iter_rows(named=True)]
    assert len(keys) == len(set(keys)), f"a prediction row is stored twice: {sorted(keys)}"
    return dict(zip(keys, table.iter_rows(named=True), strict=True))


@pytest.mark.slow
def test_a_killed_run_worker_is_retried_by_dagster_with_the_engines_results(tmp_path):
    inbox = make_inbox(tmp_path / "inbox")  # skips when ../shared/data/corn is absent
    (inbox.templates / "small.yaml").unlink()
    (inbox.templates / "sweep.yaml").write_text(SWEEP)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIRS_", "DAGSTER_"))}
    env.update(
        DAGSTER_HOME=str(home),
        NIRS_DATA_DIR=str(inbox.data),
        NIRS_TEMPLATES_DIR=str(inbox.templates),
        NIRS_WORKSPACE=str(inbox.workspace),
    )

    with dg.DagsterInstance.from_config(str(home)) as instance:
        # the shipped configuration is what is tested: retries of crashed runs, and monitoring
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.run_monitoring_enabled
        daemon = Daemon(tmp_path, env)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            killed = daemon.wait_for(
                "corn's results run is requested", deadline, lambda: _results_run(instance)
            )
            pid = daemon.wait_for(
                f"{RESULTS_STEP} starts in corn's results run {killed}",
                deadline,
                lambda: _worker_pid(instance, killed),
                every=POLL,
            )
            daemon.wait_for(
                f"the engine run of {killed} is running",
                deadline,
                lambda: _engine_run_of(inbox.workspace, killed, "running"),
                every=POLL,
            )
            _kill(pid, daemon.process.pid)

            daemon.wait_for(
                f"the killed run {killed} is marked failed",
                time.monotonic() + FAIL_TIMEOUT,
                lambda: _run(instance, killed).status == dg.DagsterRunStatus.FAILURE,
            )
            finished = [e.step_key for e in _events(instance, killed, dg.DagsterEventType.STEP_SUCCESS)]
            assert RESULTS_STEP not in finished, (
                f"{RESULTS_STEP} had finished before the kill landed (steps done: {finished}); "
                "the sweep is too short to be killed in"
            )
            crash = [
                e.dagster_event.message for e in _events(instance, killed, dg.DagsterEventType.ENGINE_EVENT)
            ]
            assert any(f"{killed} was terminated by signal 9 (SIGKILL)" in m for m in crash), crash
            assert _run(instance, killed).tags.get("dagster/will_retry") == "true"

            def retry() -> dg.DagsterRun | None:
                runs = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": killed}))
                return runs[0] if runs else None

            deadline = time.monotonic() + RETRY_TIMEOUT
            retried = daemon.wait_for(f"a retry of {killed} is launched", deadline, retry)
            assert retried.tags["dagster/retry_number"] == "1"
            assert retried.tags["dagster/root_run_id"] == killed
            assert retried.tags["nirs/dataset"] == "corn"
            done = daemon.wait_for(
                f"the retry {retried.run_id} ends",
                deadline,
                lambda: (r := _run(instance, retried.run_id)).is_finished and r,
            )
            assert done.status == dg.DagsterRunStatus.SUCCESS, (
                f"the retry {retried.run_id} ended {done.status.value}\n{daemon.tail()}"
            )
            # retried from the failure: the step that had succeeded is not computed again
            again = {e.step_key for e in _events(instance, retried.run_id, dg.DagsterEventType.STEP_SUCCESS)}
            assert RESULTS_STEP in again
            retried_pid = _worker_pid(instance, retried.run_id)
            assert retried_pid is not None and retried_pid != pid

            # the automation sensor then requests the leaderboard (and datasheet, bundle): let
            # them end, so that the daemon is stopped with no run writing
            (record,) = instance.get_run_records(dg.RunsFilter(run_ids=[retried.run_id]))
            deadline = time.monotonic() + SETTLE_TIMEOUT
            daemon.wait_for(
                "corn's leaderboard is materialised after the retry",
                deadline,
                lambda: _leaderboard_after(instance, record.end_time),
            )
            daemon.wait_for("every run ends", deadline, lambda: not _in_progress(instance))
            statuses = instance.get_daemon_statuses()
            for name in ("MONITORING", "EVENT_LOG_CONSUMER", "QUEUED_RUN_COORDINATOR", "SENSOR"):
                assert statuses[name].healthy, f"the {name} daemon is not healthy: {statuses[name]}"
        finally:
            daemon.stop()

        predictions = dg.AssetKey("predictions")
        produced = {
            r.event_log_entry.run_id
            for r in instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=predictions), limit=1000
            ).records
        }
        assert produced == {retried.run_id}, "the predictions were not all written by the retry"
        board = inbox.defs().load_asset_value("leaderboard", partition_key="corn", instance=instance)

    run = nirs_core.run(
        templates=[inbox.templates / "sweep.yaml"],
        datasets=[inbox.data / "corn"],
        workspace=tmp_path / "engine",
        progress=False,
    )
    expected = {
        (r["config_id"], score): r[score] for r in run.results for score in ("cv_score", "test_score")
    }
    got = {
        (row["config_id"], score): row[score]
        for row in board.iter_rows(named=True)
        for score in ("cv_score", "test_score")
    }
    assert len(got) == 2 * N_CONFIGS
    assert got == pytest.approx(expected, rel=1e-9)

    # the workspace: the killed engine run left as it was, the retry's completed, nothing twice
    workspace = Workspace(inbox.workspace)
    by_dagster_run = {r.tags["dagster_run_id"]: r for r in workspace.runs() if "dagster_run_id" in r.tags}
    assert set(by_dagster_run) == {killed, retried.run_id}
    # the killed engine run can never finish: the retry marked it failed, naming itself
    left = by_dagster_run[killed]
    assert left.status.value == "failed" and retried.run_id in (left.error or ""), (left.status, left.error)
    done_engine = by_dagster_run[retried.run_id]
    assert done_engine.status.value == "completed" and len(done_engine.checkpoints) == N_CONFIGS
    every_row = workspace.read_predictions("corn")
    for engine_run_id in set(every_row["run_id"]):
        _rows(every_row.filter(pl.col("run_id") == engine_run_id), by_config=True)

    # the retry's predictions, as the assets' records name them, equal the engine's own run
    reference = run.predictions("corn")
    for config_id in {c for c, _ in expected}:
        record = read_value(
            inbox.workspace / "dagster" / "predictions" / "corn" / config_id, root=inbox.workspace
        )
        assert record.result.run_id == done_engine.run_id, config_id
        stored = _rows(record.table())
        ref_rows = _rows(reference.filter(pl.col("config_id") == config_id))
        assert stored.keys() == ref_rows.keys(), config_id
        for key, row in stored.items():
            ref = ref_rows[key]
            assert row["sample"] == ref["sample"], (config_id, key)
            np.testing.assert_allclose(row["y_true"], ref["y_true"], rtol=1e-9, err_msg=f"{config_id} {key}")
            np.testing.assert_allclose(row["y_pred"], ref["y_pred"], rtol=1e-9, err_msg=f"{config_id} {key}")

    assert _check_stored_files(inbox.workspace, dead_pid=pid) > 0
