"""Shared fixtures. Real spectra live in ../shared/data beside the clone (CI always has it);
tests that need them skip with a clear reason where it is absent (a user's clone)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NIRS_SHARED_DATA", REPO.parent / "shared" / "data"))

# the trained model registry (`corn_registry`) of the registry, CLI and service tests
pytest_plugins = ["registry_fixtures"]


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip the calling test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real-data corpus not found at {path} (set NIRS_SHARED_DATA or clone beside ../shared)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_path()


def _read_semicolon(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=";", skiprows=1, ndmin=2)


@pytest.fixture(scope="session")
def corn_arrays() -> dict[str, np.ndarray]:
    """../shared/data/corn read with numpy alone (independent of the project's loaders):
    Xcal (60×700), ycal (60,), Xval (20×700), yval (20,), wavelengths (700,) in nm."""
    root = shared_path("corn")
    header = (root / "Xcal.csv").read_text().splitlines()[0]
    return {
        "Xcal": _read_semicolon(root / "Xcal.csv"),
        "ycal": _read_semicolon(root / "Ycal.csv")[:, 0],
        "Xval": _read_semicolon(root / "Xval.csv"),
        "yval": _read_semicolon(root / "Yval.csv")[:, 0],
        "wavelengths": np.array([float(v) for v in header.split(";")]),
    }


@pytest.fixture
def no_ambient_key(monkeypatch, tmp_path):
    """No bundle key from the developer's environment or home folder leaks into a test."""
    from nirs_core.store.bundle import KEY_ENV, KEY_FILE_ENV

    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
