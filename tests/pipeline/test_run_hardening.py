"""Runs against unlucky timing: two folders with the same name registered at once, a process
killed between ``run.yaml`` and ``configs.yaml``."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import shared_path

from nirs_core.app.run import resume
from nirs_core.errors import ConfigError
from nirs_core.store.workspace import RunStatus, Workspace

REGISTER = (
    "import sys\n"
    "from nirs_core.store.workspace import Workspace\n"
    "ws = Workspace(sys.argv[1])\n"
    "print(ws.datasets.register(sys.argv[2], 'corn', unique=True).name)\n"
)


def test_two_folders_of_one_name_registered_at_once_get_two_names(tmp_path):
    folders = []
    for k, part in enumerate(("Xcal.csv", "Xval.csv")):
        folder = tmp_path / f"site{k}" / "corn"
        folder.mkdir(parents=True)
        shutil.copy(shared_path("corn", part), folder / "X.csv")
        folders.append(folder)
    ws = tmp_path / "ws"
    Workspace(ws)
    procs = [
        subprocess.Popen([sys.executable, "-c", REGISTER, str(ws), str(f)], stdout=subprocess.PIPE, text=True)
        for f in folders
    ]
    names = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert names[0] == "corn" and names[1].startswith("corn-") and len(names[1]) == len("corn-") + 8
    entries = {e.name: e.path for e in Workspace(ws).datasets.entries()}
    assert sorted(entries) == names and sorted(entries.values()) == sorted(str(f) for f in folders)
    # the same content again keeps its name
    again = Workspace(ws).datasets.register(folders[1], "corn", unique=True)
    assert again.name in names and again.path == str(folders[1])


def test_a_run_killed_before_its_configs_were_written_is_closed_on_resume(tmp_path):
    ws = Workspace(tmp_path / "ws")
    record = ws.create_run("half", info={"datasets": [{"path": str(shared_path("corn"))}]})
    with pytest.raises(
        ConfigError, match=r"was never fully created .*now marked cancelled\. Start a new run"
    ):
        resume(record.run_id, ws)
    closed = ws.load_run(record.run_id)
    assert closed.status is RunStatus.CANCELLED and "never fully created" in closed.error
    with pytest.raises(ConfigError, match=r"was cancelled \(never fully created"):
        resume(record.run_id, ws)
