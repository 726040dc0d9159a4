"""A real Dask cluster for the tests: ``dask scheduler`` and ``dask worker`` processes on
127.0.0.1 (free ports, no dashboard), each worker one single-threaded process under a nanny, as
on a real cluster. Always shut down, also when the test fails."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the Dask backend needs the 'dask' extra")


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def client(self):
        return distributed.Client(self.address, timeout=30)


def _dask_cli() -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    return [str(exe)] if exe.is_file() else [shutil.which("dask") or "dask"]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def dask_cluster(folder: Path, n_workers: int = 2) -> Iterator[Cluster]:
    """A scheduler and ``n_workers`` workers, their files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    info = folder / "scheduler.json"
    env = dict(os.environ)
    logs = contextlib.ExitStack()
    argv = [*_dask_cli(), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    argv += ["--scheduler-file", str(info)]
    scheduler = subprocess.Popen(
        argv,
        stdout=logs.enter_context((folder / "scheduler.log").open("wb")),
        stderr=subprocess.STDOUT,
        env=env,
    )
    cluster = None
    try:
        deadline, address = time.monotonic() + 60, None
        while address is None and time.monotonic() < deadline and scheduler.poll() is None:
            with contextlib.suppress(OSError, ValueError, KeyError):  # not yet (fully) written
                address = json.loads(info.read_text())["address"]
            time.sleep(0.05)
        if address is None:
            pytest.fail(f"dask scheduler did not start; see {folder / 'scheduler.log'}")
        cluster = Cluster(address, scheduler)
        for i in range(n_workers):
            log = logs.enter_context((folder / f"worker{i}.log").open("wb"))
            argv = [*_dask_cli(), "worker", address, "--nthreads", "1", "--nworkers", "1"]
            argv += ["--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}"]
            argv += ["--local-directory", str(folder / f"w{i}")]
            cluster.workers.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env))
        with cluster.client() as client:
            client.wait_for_workers(n_workers, timeout=90)
        yield cluster
    finally:
        for proc in cluster.workers if cluster else []:
            _stop(proc)
        _stop(scheduler)
        logs.close()
