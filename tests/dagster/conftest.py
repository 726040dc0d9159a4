"""Fixtures of the Dagster tests: a data folder holding ../shared/data/corn, a template folder
holding a 2 × 2 PLS sweep (3-fold CV, so the whole graph materialises in seconds), and an
ephemeral instance with their partitions registered."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from conftest import shared_path

from nirs_dagster.definitions import build_defs
from nirs_dagster.io_managers import NirsIOManager
from nirs_dagster.partitions import ConfigCatalogue
from nirs_dagster.resources import NirsResource

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

SMALL_TEMPLATE = """\
name: small_pls
pipeline:
  - split:
      class: sklearn.model_selection.KFold
      params: {n_splits: 3, shuffle: true, random_state: 0}
  - _or_: [SNV, MSC]
  - model:
      class: PLS
      params: {scale: false}
    param: n_components
    _range_: [2, 6, 4]
"""


@dataclass
class Inbox:
    root: Path
    data: Path
    templates: Path
    workspace: Path

    @property
    def nirs(self) -> NirsResource:
        return NirsResource(
            data_dir=str(self.data), templates_dir=str(self.templates), workspace=str(self.workspace)
        )

    @property
    def resources(self) -> dict:
        return {"nirs": self.nirs, "io_manager": NirsIOManager(nirs=self.nirs)}

    def defs(self, **kwargs) -> dg.Definitions:
        return build_defs(self.nirs, **kwargs)


def make_inbox(root: Path) -> Inbox:
    data, templates = root / "data", root / "templates"
    data.mkdir(parents=True)
    templates.mkdir()
    shutil.copytree(shared_path("corn"), data / "corn")
    (templates / "small.yaml").write_text(SMALL_TEMPLATE)
    return Inbox(root, data, templates, root / "workspace")


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    return make_inbox(tmp_path)


def register(inbox: Inbox, instance: dg.DagsterInstance, datasets: list[str]) -> list[str]:
    """Register the inbox's template and ``datasets`` as partitions; return the config ids."""
    ids = list(ConfigCatalogue(inbox.nirs.dagster_path()).register(inbox.templates / "small.yaml").config_ids)
    instance.add_dynamic_partitions("config", ids)
    instance.add_dynamic_partitions("dataset", datasets)
    return ids


def range_tags(dataset: str, config_ids: list[str]) -> dict[str, str]:
    """Run tags of a single run over every config of ``dataset`` (what a single-run backfill sets)."""
    first = dg.MultiPartitionKey({"dataset": dataset, "config": config_ids[0]})
    last = dg.MultiPartitionKey({"dataset": dataset, "config": config_ids[-1]})
    return {"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)}
