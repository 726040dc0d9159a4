"""`dg check defs` (dagster-dg-cli, reading the [tool.dg] section of pyproject.toml) loads the
project's definitions: the check a deployment runs before it ships them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_dg_check_defs_passes():
    dg = shutil.which("dg") or str(Path(sys.executable).with_name("dg"))
    done = subprocess.run([dg, "check", "defs"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr
