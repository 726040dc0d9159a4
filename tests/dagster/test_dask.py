"""The Dagster definitions with the engine's own Dask backend: a run stays in its process and
its engine call spreads the sweep's groups over the workers of a real cluster
(``NirsResource.dask_address``, or ``$NIRS_DASK_ADDRESS``).

This replaces dagster-dask's executor, which cannot send a step of a partitioned run to Dask
(with Dagster 1.13 and dagster-dask 0.29, Dask walks the step's arguments as task tuples and the
run's partition subset, a ``KeyRangesPartitionsSubset`` record, refuses iteration), so the
README's Dask path could only ever run an unpartitioned job.
"""

from __future__ import annotations

import dagster as dg
import pytest

from nirs_dagster.io_managers import NirsIOManager
from nirs_dagster.resources import NirsResource

from . import chain
from .conftest import register

distributed = pytest.importorskip("distributed", reason="the Dask backend is in the 'dask' extra")


@pytest.fixture(scope="module")
def engine_scores(tmp_path_factory):
    return chain.engine_scores(tmp_path_factory.mktemp("engine"))


def test_the_engine_on_dask_inside_a_dagster_run(inbox, tmp_path, engine_scores):
    """The replacement of dagster-dask's executor (which cannot send a partitioned run's steps):
    the run stays in process and its engine call spreads the sweep's groups over the workers."""
    from dask_cluster import dask_cluster
    from distributed import get_task_stream

    with dask_cluster(tmp_path / "dask", n_workers=2) as cluster:
        nirs = NirsResource(
            data_dir=str(inbox.data),
            templates_dir=str(inbox.templates),
            workspace=str(inbox.workspace),
            dask_address=cluster.address,
        )
        instance = dg.DagsterInstance.ephemeral()
        register(inbox, instance, ["corn"])
        resources = {"nirs": nirs, "io_manager": NirsIOManager(nirs=nirs)}
        with cluster.client() as client, get_task_stream(client) as stream:
            got = chain.materialise_chain(instance, resources)
    assert got == engine_scores
    groups = [t for t in stream.data if str(t["key"]).startswith("nirs-group-")]
    assert len(groups) == 2  # SNV and MSC sweeps, one task each


def test_the_dask_address_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv("NIRS_DASK_ADDRESS", "tcp://127.0.0.1:8786")
    assert NirsResource().dask() == "tcp://127.0.0.1:8786"
    assert NirsResource(dask_address="local").dask() == "local"
    monkeypatch.delenv("NIRS_DASK_ADDRESS")
    assert NirsResource().dask() is None
