"""The definitions against a real PostgreSQL server with ``dagster-postgres`` storage, configured
by exactly ``dagster_home/dagster.postgres.yaml``: the chain of a dataset materialises in runs
of at most N configs, the leaderboard equals ``nirs_core.run``, and what Dagster stored is read
back from the server with plain SQL (psycopg2, not Dagster)."""

from __future__ import annotations

import shutil
import uuid

import dagster as dg
import pytest
from conftest import REPO
from postgres_server import postgres_server

from nirs_dagster.sensors import MAX_CONFIGS_ENV

from . import chain
from .conftest import register

psycopg2 = pytest.importorskip("psycopg2", reason="dagster-postgres (the 'postgres' extra) brings psycopg2")
pytest.importorskip("dagster_postgres", reason="dagster-postgres is in the 'postgres' extra")


@pytest.fixture(scope="module")
def server():
    with postgres_server() as pg:
        yield pg


@pytest.fixture
def database(server):
    """A fresh database on the server for one test; its name."""
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(host=server.host, port=server.port, user=server.user, dbname=server.db)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        yield name
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        conn.close()


@pytest.fixture
def instance(server, database, tmp_path, monkeypatch):
    """A DagsterInstance whose dagster.yaml is the project's Postgres configuration."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.postgres.yaml", home / "dagster.yaml")
    for name, value in {
        "DAGSTER_PG_USERNAME": server.user,
        "DAGSTER_PG_PASSWORD": "unused",  # the test server trusts local connections
        "DAGSTER_PG_HOST": server.host,
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_PORT": str(server.port),
    }.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


def _sql(server, database, query: str) -> list[tuple]:
    conn = psycopg2.connect(host=server.host, port=server.port, user=server.user, dbname=database)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        conn.close()


def test_the_postgres_configuration_gives_postgres_storage_run_retries_and_monitoring(instance):
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert instance.run_monitoring_enabled


def test_the_chain_of_a_dataset_materialises_on_postgres_in_runs_of_at_most_n_configs(
    instance, server, database, inbox, monkeypatch, tmp_path
):
    monkeypatch.setenv(MAX_CONFIGS_ENV, "3")  # 4 configs in two sweeps of 2: two results runs
    register(inbox, instance, ["corn"])
    got = chain.materialise_chain(instance, inbox.resources, expect_runs=2)
    assert got == chain.engine_scores(tmp_path / "engine")
    # read back from the server, without Dagster
    statuses = dict(_sql(server, database, "SELECT status, count(*) FROM runs GROUP BY status"))
    assert statuses == {"SUCCESS": 4}  # spectra, two results runs, leaderboard
    (row,) = _sql(
        server,
        database,
        "SELECT count(DISTINCT partition) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
        "AND asset_key = '[\"predictions\"]'",
    )
    assert row[0] == 4  # one predictions partition per config
    partitions = _sql(
        server, database, "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'config'"
    )
    assert {p for (p,) in partitions} == set(got)
