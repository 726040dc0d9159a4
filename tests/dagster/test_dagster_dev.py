"""End to end through ``dagster dev`` (issue 6, the first "done when"): with temporary
``DAGSTER_HOME``, ``NIRS_DATA_DIR`` (holding corn) and ``NIRS_TEMPLATES_DIR`` (holding the small
template), corn's ``leaderboard`` partition materialises with no other action, and
``Definitions.load_asset_value("leaderboard", ...)`` gives the scores of ``nirs run`` on the
same inputs.

The web server, the daemon and the code server run as one process group on a free loopback
port; the test polls the web server's GraphQL API and always ends the group."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from nirs_core.store.workspace import Workspace

from .conftest import make_inbox

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TIMEOUT = 300  # seconds; the chain takes about 20 s after start-up on 2 cores
LEADERBOARD = """{
  assetOrError(assetKey: {path: ["leaderboard"]}) {
    ... on Asset { assetMaterializations(partitions: ["corn"], limit: 1) { partition runId } }
  }
}"""


RUNNING = """{
  runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) {
    ... on Runs { results { runId } }
  }
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def _leaderboard_runs(port: int) -> list[dict]:
    """The materialisations of corn's leaderboard the web server reports (empty until one)."""
    return _graphql(port, LEADERBOARD)["assetOrError"].get("assetMaterializations") or []


def _runs_going(port: int) -> int:
    try:
        return len(_graphql(port, RUNNING)["runsOrError"]["results"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _stop(dev: subprocess.Popen) -> None:
    """End the whole process group (web server, daemon, code server, run workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(dev.pid, signal.SIGINT)
    try:
        dev.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):  # whatever of the group is left
        os.killpg(dev.pid, signal.SIGKILL)
    dev.wait()


def test_dagster_dev_materialises_the_leaderboard_with_no_other_action(tmp_path, monkeypatch):
    inbox = make_inbox(tmp_path)  # skips when ../shared/data/corn is absent
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "NIRS_DATA_DIR": str(inbox.data),
        "NIRS_TEMPLATES_DIR": str(inbox.templates),
        "NIRS_WORKSPACE": str(inbox.workspace),
    }
    port = _free_port()
    log_path = tmp_path / "dagster_dev.log"
    with open(log_path, "w") as log:
        dev = subprocess.Popen(
            [
                str(BIN / "dagster"),
                "dev",
                "-w",
                str(REPO / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            materialised: list[dict] = []
            while not materialised:
                if dev.poll() is not None:
                    pytest.fail(f"dagster dev exited with {dev.returncode}:\n{log_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"corn's leaderboard not materialised within {TIMEOUT} s:\n{log_path.read_text()[-3000:]}"
                    )
                time.sleep(1)
                try:
                    materialised = _leaderboard_runs(port)
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # the web server is not up yet
            # let the run of the datasheet and the bundle end before stopping dagster dev
            while _runs_going(port) and time.monotonic() < deadline:
                time.sleep(1)
        finally:
            _stop(dev)
    assert materialised[0]["partition"] == "corn"

    # one record: the results run was an engine run in the workspace, tagged with its Dagster run
    engine_runs = [r for r in Workspace(inbox.workspace).runs() if "dagster_run_id" in r.tags]
    assert [r.status for r in engine_runs] == ["completed"] and len(engine_runs[0].checkpoints) == 4

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        board = inbox.defs().load_asset_value("leaderboard", partition_key="corn", instance=instance)

    out = subprocess.run(
        [
            str(BIN / "nirs"),
            "run",
            "--json",
            "--no-progress",
            "--data",
            str(inbox.data / "corn"),
            "--workspace",
            str(tmp_path / "nirs_run"),
            str(inbox.templates / "small.yaml"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    expected = {
        (r["config_id"], score): r[score]
        for r in json.loads(out.stdout)["results"]
        for score in ("cv_score", "test_score")
    }
    got = {
        (row["config_id"], score): row[score]
        for row in board.iter_rows(named=True)
        for score in ("cv_score", "test_score")
    }
    assert len(got) == 2 * 4
    assert got == pytest.approx(expected, rel=1e-9)
