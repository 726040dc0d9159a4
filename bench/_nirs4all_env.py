"""nirs4all in a virtual environment of its own, for the benchmarks that compare with it
(``sweep.py``, ``predict.py``): never installed into the project's environment."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["INSTALL_TIMEOUT", "NIRS4ALL_VERSION", "install_nirs4all", "tail"]

NIRS4ALL_VERSION = "1.4.10"
INSTALL_TIMEOUT = 420  # seconds


def tail(text: str, lines: int = 6) -> str:
    return "\n".join("      " + line for line in text.strip().splitlines()[-lines:])


def install_nirs4all(venv: Path) -> tuple[Path | None, str]:
    """The python of the virtual environment ``venv`` holding nirs4all (reused when it has
    the version already, else created and installed with pip), or None and why not."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import importlib.metadata as m; print(m.version('nirs4all'))"]
    if python.is_file():
        found = subprocess.run(check, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == NIRS4ALL_VERSION:
            return python, f"nirs4all {NIRS4ALL_VERSION} reused from {venv}"
    start = time.perf_counter()
    try:
        if not python.is_file():
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, text=True
            )
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
             f"nirs4all=={NIRS4ALL_VERSION}"],
            capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, f"pip install nirs4all=={NIRS4ALL_VERSION} did not finish in {INSTALL_TIMEOUT} s"
    except (subprocess.CalledProcessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return None, f"could not create a virtual environment in {venv}:\n{tail(detail)}"
    if pip.returncode != 0:
        return None, (
            f"pip install nirs4all=={NIRS4ALL_VERSION} failed (exit {pip.returncode}; no network, "
            f"or a dependency unavailable for Python {platform.python_version()}):\n"
            f"{tail(pip.stderr or pip.stdout)}"
        )
    return python, f"nirs4all {NIRS4ALL_VERSION} installed into {venv} in {time.perf_counter() - start:.0f} s"
