"""Workspace locks: exclusive between processes, re-entrant within a thread, released when the
holder dies, and a timeout that names the lock file and its holder; two processes appending to
one predictions file lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from nirs_core.errors import ConfigError
from nirs_core.store.lock import LockTimeoutError, file_lock, lock_holder, workspace_lock
from nirs_core.store.predictions import read_predictions, read_summary

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from nirs_core.store.lock import workspace_lock
    with workspace_lock(sys.argv[1], "datasets"):
        sys.stdout.write("held\\n"); sys.stdout.flush()
        time.sleep(60)
    """
)


@pytest.fixture
def held_by_child(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE)
    assert child.stdout.readline().strip() == b"held"
    yield child
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    child.wait()


def test_timeout_names_lock_file_and_holder(tmp_path, held_by_child):
    lock_file = tmp_path.resolve() / ".locks" / "datasets.lock"
    pattern = rf"workspace lock 'datasets' {lock_file}: expected to acquire it within 0.2 s; .*held by pid {held_by_child.pid}"
    with pytest.raises(LockTimeoutError, match=pattern):
        with workspace_lock(tmp_path, "datasets", timeout=0.2):
            pass
    assert isinstance(LockTimeoutError("x"), TimeoutError)


def test_lock_freed_when_holder_is_killed(tmp_path, held_by_child):
    held_by_child.send_signal(signal.SIGKILL)
    held_by_child.wait()
    with workspace_lock(tmp_path, "datasets", timeout=2) as path:
        assert lock_holder(path)["pid"] == os.getpid()  # the dead holder's record was replaced
    assert lock_holder(path) is None


def test_timeout_with_unknown_holder(tmp_path):
    entered, release = threading.Event(), threading.Event()

    def hold():
        with workspace_lock(tmp_path, "w"):
            (tmp_path / ".locks" / "w.lock.holder").unlink()
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    entered.wait(5)
    try:
        with (
            pytest.raises(LockTimeoutError, match="holder unknown"),
            workspace_lock(tmp_path, "w", timeout=0.05),
        ):
            pass
    finally:
        release.set()
        thread.join()


def test_reentrant_within_a_thread(tmp_path):
    with workspace_lock(tmp_path, "datasets") as outer:
        with workspace_lock(tmp_path, "datasets", timeout=0.1):
            assert lock_holder(outer) is not None
        assert lock_holder(outer) is not None  # the inner exit did not release the record
    assert lock_holder(outer) is None


def test_bad_lock_name(tmp_path):
    with pytest.raises(ConfigError, match=r"lock name must match .*; got '\.\./x'"):
        workspace_lock(tmp_path, "../x")


def test_file_lock_lives_beside_the_file(tmp_path):
    with file_lock(tmp_path / "corn.parquet") as path:
        assert path == tmp_path.resolve() / ".corn.parquet.lock"


_APPENDER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from nirs_core.store.predictions import append_predictions
    path, run = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(abs(hash(run)) % 1000)
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()  # start together
    for i in range(50):
        y = rng.random(8)
        rows = [
            dict(run_id=run, dataset="corn", config_id=f"{run}-{i:02d}", config_name=f"c{i}", model="PLS",
                 fold=fold, partition=part, sample=np.arange(8), y_true=y, y_pred=y + 0.1 * rng.random(8),
                 metric="rmse", rmse=float(rng.random()))
            for fold, part in ((-2, "val"), (-1, "test"))
        ]
        append_predictions(path, rows)
    """
)


def test_two_processes_append_fifty_batches_each(tmp_path):
    path = tmp_path / "predictions" / "corn.parquet"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(path), run], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for run in ("runA", "runB")
    ]
    for child in children:
        assert child.stdout.readline().strip() == b"ready"
    for child in children:
        child.stdin.write(b"go\n")
        child.stdin.flush()
    for child in children:
        assert child.wait(timeout=60) == 0
    summary = read_summary(path)
    assert summary["n_rows"] == 200
    assert summary["counts"]["run"] == {"runA": 100, "runB": 100}
    assert summary["counts"]["partition"] == {"val": 100, "test": 100}
    assert len(summary["counts"]["config"]) == 100
    rows = read_predictions(path, columns=["run_id", "config_id"])
    assert rows.height == 200 and rows["config_id"].n_unique() == 100
    assert sorted(p.name for p in path.parent.iterdir()) == [".corn.parquet.lock", "corn.parquet"]
