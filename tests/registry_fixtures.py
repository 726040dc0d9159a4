"""A model registry on ../shared/data/corn shared by the registry, CLI and service tests: model
``corn`` with version 1 (Savitzky–Golay + PLS, 10 components: the better model) promoted to
``champion``, and version 2 (SNV + PLS, 2 components: a worse challenger), registered, not
promoted. Import the fixture into a test module to use it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import shared_path

KEY = "registry-tests-key-0123456789abcdef"


def _template(name: str, transform, n_components: int) -> dict:
    return {
        "name": name,
        "pipeline": [
            {
                "split": {
                    "class": "sklearn.model_selection.KFold",
                    "params": {"n_splits": 3, "shuffle": True, "random_state": 0},
                }
            },
            transform,
            {"model": {"class": "PLS", "params": {"n_components": n_components, "scale": False}}},
        ],
    }


GOOD = _template(
    "corn_sg_pls10",
    {"class": "SavitzkyGolay", "params": {"window_length": 15, "polyorder": 2, "deriv": 1}},
    10,
)
WORSE = _template("corn_snv_pls2", "SNV", 2)


def write_templates(folder: Path) -> dict[str, Path]:
    paths = {"good": folder / "good.yaml", "worse": folder / "worse.yaml"}
    paths["good"].write_text(yaml.safe_dump(GOOD))
    paths["worse"].write_text(yaml.safe_dump(WORSE))
    return paths


@pytest.fixture(scope="session")
def corn_registry(tmp_path_factory) -> dict:
    """``{"workspace", "templates", "corn", "good", "worse"}`` (the last two: train_and_register's
    output for each version)."""
    from nirs_core.app.models import promote, train_and_register

    corn = shared_path("corn")
    root = tmp_path_factory.mktemp("registry")
    templates = write_templates(root)
    workspace = root / "ws"
    good = train_and_register(templates["good"], corn, "corn", workspace=workspace, key=KEY)
    promote(workspace, "corn", good["version"].version)
    worse = train_and_register(templates["worse"], corn, "corn", workspace=workspace, key=KEY)
    return {"workspace": workspace, "templates": templates, "corn": corn, "good": good, "worse": worse}
