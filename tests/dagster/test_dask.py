"""The project's resource, IO manager and engine on a Dask cluster (dagster-dask): a small job
runs on a local cluster.

The job is unpartitioned on purpose: with Dagster 1.13, dagster-dask cannot submit a step of a
partitioned run (Dask walks the step's arguments as task tuples, and the run's partition subset,
a Dagster ``@record``, refuses iteration: "Iteration is not allowed on `@record`
KeyRangesPartitionsSubset"), so the partitioned assets run on Dask only once that is fixed upstream.
"""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from nirs_dagster.io_managers import NirsIOManager
from nirs_dagster.partitions import ConfigCatalogue, discover_datasets
from nirs_dagster.resources import NirsResource

dagster_dask = pytest.importorskip("dagster_dask", reason="dagster-dask is in the 'dask' extra")


@dg.asset
def corn_scores(nirs: NirsResource) -> pl.DataFrame:
    """The small template on corn, scored by the engine (one execute_batch call)."""
    from nirs_core.data import load
    from nirs_core.pipeline.executor import execute_batch

    ds = load(discover_datasets(nirs.data_path())["corn"])
    catalogue = ConfigCatalogue(nirs.dagster_path())
    configs = [catalogue.get(c) for c in catalogue.register(nirs.templates_path() / "small.yaml").config_ids]
    results = execute_batch(configs, ds)
    return pl.DataFrame(
        {"config_id": [r.config_id for r in results], "cv_score": [r.cv_score for r in results]}
    )


def dask_job() -> dg.JobDefinition:
    nirs = NirsResource()  # roots from the environment, read on the worker
    defs = dg.Definitions(
        assets=[corn_scores],
        jobs=[dg.define_asset_job("corn_scores_job", selection=[corn_scores])],
        resources={"nirs": nirs, "io_manager": NirsIOManager(nirs=nirs)},
        executor=dagster_dask.dask_executor,
    )
    return defs.resolve_job_def("corn_scores_job")


def test_a_job_runs_on_a_local_dask_cluster(inbox, monkeypatch):
    monkeypatch.setenv("NIRS_DATA_DIR", str(inbox.data))
    monkeypatch.setenv("NIRS_TEMPLATES_DIR", str(inbox.templates))
    monkeypatch.setenv("NIRS_WORKSPACE", str(inbox.workspace))
    cluster = {"local": {"n_workers": 1, "threads_per_worker": 1, "processes": False}}
    with dg.instance_for_test() as instance:
        result = dg.execute_job(
            dg.reconstructable(dask_job),
            instance=instance,
            run_config={"execution": {"config": {"cluster": cluster}}},
        )
        assert result.success
    assert dask_job().executor_def.name == "dask"
    table = pl.read_parquet(inbox.workspace / "dagster" / "corn_scores" / "__all__.parquet")
    assert table.height == 4 and table["cv_score"].min() > 0
