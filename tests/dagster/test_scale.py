"""Dagster at scale, on one machine: a dataset's sweep cut into runs of at most N configs
(``NIRS_MAX_CONFIGS_PER_RUN``) and a failed engine step retried (``RetryPolicy``), as the engine's
sweeps inside a run on a Dask cluster (tests/dagster/test_dask.py); every time the
leaderboard equals ``nirs_core.run`` on the same inputs, score for score."""

from __future__ import annotations

import itertools

import dagster as dg
import pytest

from nirs_core.errors import ConfigError
from nirs_dagster.resources import NirsResource
from nirs_dagster.sensors import MAX_CONFIGS_ENV, chunks, max_configs_per_run

from . import chain
from .conftest import register


@pytest.fixture(scope="module")
def engine_scores(tmp_path_factory):
    return chain.engine_scores(tmp_path_factory.mktemp("engine"))


def test_chunks_are_consecutive_even_and_at_most_the_limit():
    items = [f"c{i}" for i in range(10)]
    for size in range(1, 12):
        pieces = chunks(items, size)
        assert [x for p in pieces for x in p] == items
        assert max(map(len, pieces)) <= size
        assert max(map(len, pieces)) - min(map(len, pieces)) <= 1
        assert len(pieces) == -(-10 // size)  # ceil: no more runs than the limit needs
    assert chunks(items, None) == [items]
    assert chunks([], 3) == []


def test_chunks_never_cut_a_sweep_that_fits_in_one_run():
    items = [f"c{i}" for i in range(12)]
    labels = dict(zip(items, [0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 3, 3]))  # sweeps of 3, 2, 5, 2
    runs_of = {label: list(labels.values()).count(label) for label in set(labels.values())}
    for size in range(1, 13):
        pieces = chunks(items, size, labels)
        assert [x for p in pieces for x in p] == items
        assert max(map(len, pieces)) <= size
        piece_of = {x: i for i, p in enumerate(pieces) for x in p}
        for a, b in itertools.pairwise(items):
            if labels[a] == labels[b] and runs_of[labels[a]] <= size:
                assert piece_of[a] == piece_of[b], (size, a, b, pieces)
    # the sweep of 5 exceeds 4: cut evenly (3 + 2), and its tail shares a run with the next sweep
    assert chunks(items, 4, labels) == [items[:3], items[3:5], items[5:8], items[8:]]
    assert chunks(items, 5, labels) == [items[:5], items[5:10], items[10:]]


@pytest.mark.parametrize(("limit", "n_runs"), [(1, 4), (3, 2)])
def test_the_sweep_of_a_dataset_in_runs_of_at_most_n_configs(
    inbox, monkeypatch, engine_scores, limit, n_runs
):
    """4 configs, two component sweeps of 2 (SNV, MSC): a limit of 1 cuts the sweeps, a limit
    of 3 gives one run per sweep (2 + 2 > 3)."""
    monkeypatch.setenv(MAX_CONFIGS_ENV, str(limit))
    instance = dg.DagsterInstance.ephemeral()
    register(inbox, instance, ["corn"])
    got = chain.materialise_chain(instance, inbox.resources, expect_runs=n_runs)
    assert got == engine_scores
    runs = instance.get_run_records(dg.RunsFilter(tags={"nirs/dataset": "corn"}))
    assert len(runs) == n_runs and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)


def test_the_limit_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(MAX_CONFIGS_ENV, raising=False)
    assert max_configs_per_run() is None
    monkeypatch.setenv(MAX_CONFIGS_ENV, "0")
    assert max_configs_per_run() is None
    monkeypatch.setenv(MAX_CONFIGS_ENV, "25")
    assert max_configs_per_run() == 25
    for bad in ("-3", "ten"):
        monkeypatch.setenv(MAX_CONFIGS_ENV, bad)
        with pytest.raises(ConfigError, match=rf"{MAX_CONFIGS_ENV}: expected a whole number .* got '{bad}'"):
            max_configs_per_run()


def test_a_failed_engine_step_is_retried_and_gives_the_same_scores(inbox, monkeypatch, engine_scores):
    """The first engine call dies (as a killed process or a lost worker would); the step's
    RetryPolicy runs it again in the same run, which succeeds with the engine's scores."""
    calls = {"n": 0}
    real = NirsResource.run_engine

    def dies_once(self, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("worker lost (simulated)")
        return real(self, **kwargs)

    monkeypatch.setattr(NirsResource, "run_engine", dies_once)
    instance = dg.DagsterInstance.ephemeral()
    register(inbox, instance, ["corn"])
    got = chain.materialise_chain(instance, inbox.resources, expect_runs=1)
    assert calls["n"] == 2
    assert got == engine_scores
    retried = [
        e
        for e in instance.all_logs(chain.results_run_id(instance))
        if e.dagster_event is not None and e.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"
    ]
    assert [e.step_key for e in retried] == ["fitted_pipeline"]
